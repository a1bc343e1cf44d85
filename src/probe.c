/*
 * probe — readiness probing of a starting backend; see probe.h.
 *
 * ready = command runs ready_command as the backend would (spawn.c: same
 * child set-up, its own process group, the backend's user), one at a time
 * with the connect probe's back-off between runs. The daemon reaps it with
 * every other child and hands it back through probe_child_exited(); nothing
 * here waits.
 *
 * ready = http asks over a new connection each try, as a client would:
 * connect, send the whole request, read only as far as the status code
 * ("HTTP/1.x NNN" is all it needs, so there is no parsing beyond it), then
 * close. A status below 500 is ready (a 404 for "/" still means the server
 * serves); 5xx, a refused connect, a close or anything else that is not a
 * status line tries again after the back-off. The connection of a try is
 * never handed to a client: it asked for Connection: close.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"
#include "util.h"

/* The first connect probe comes at once; retries back off from 0.2 ms by half
 * again each time up to 10 ms, so a fast backend is seen within a fraction of
 * a millisecond and a slow one costs at most 10 ms of extra latency. */
#define PROBE_FIRST 0.0002
#define PROBE_MAX   0.010

/* Fire the probe after delay seconds (0: on the next loop iteration). */
static void probe_timer_arm(struct probe *p, double delay)
{
	struct itimerspec its = {0};
	long ns = (long)(delay * 1e9);
	if (ns < 1)
		ns = 1; /* 0 would disarm */
	its.it_value.tv_sec = ns / 1000000000L;
	its.it_value.tv_nsec = ns % 1000000000L;
	if (timerfd_settime(p->tfd, 0, &its, NULL) < 0) {
		log_error("%s: timerfd_settime: %s", p->cfg->name, strerror(errno));
		return;
	}
	ev_io_start(p->loop, &p->tick);
}

static void probe_timer_stop(struct probe *p)
{
	if (p->tfd < 0)
		return;
	struct itimerspec off = {0};
	(void)timerfd_settime(p->tfd, 0, &off, NULL); /* cannot fail on our own timerfd */
	ev_io_stop(p->loop, &p->tick);
}

/* The next try after the back-off. */
static void probe_schedule(struct probe *p)
{
	if (!p->active)
		return;
	probe_timer_arm(p, p->delay);
	p->delay *= 1.5;
	if (p->delay > PROBE_MAX)
		p->delay = PROBE_MAX;
}

static void probe_ready(struct probe *p, int fd)
{
	p->active = false;
	p->ops->ready(p, fd);
}

int probe_http_status(const char *buf, size_t len)
{
	static const char prefix[] = "HTTP/1.";
	const size_t need = sizeof(prefix) - 1 + 6; /* "HTTP/1." "1 503 " */
	for (size_t i = 0; i < len && i < need; i++) {
		char c = buf[i];
		bool ok = i < 7    ? c == prefix[i]
			  : i == 7 ? c == '0' || c == '1'
			  : i == 8 ? c == ' '
			  : i == 9 ? c >= '1' && c <= '9'
			  : i < 12 ? c >= '0' && c <= '9'
				   : c == ' ' || c == '\r';
		if (!ok)
			return -1;
	}
	if (len < need)
		return 0;
	return (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
}

int probe_http_request(const struct service_config *cfg, char *out, size_t len)
{
	const char *host = cfg->address.kind == ZP_ADDR_UNIX ? "localhost" : cfg->address.text;
	int n = snprintf(out, len,
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: zeroproxy-ready\r\n"
			 "Accept: */*\r\nConnection: close\r\n\r\n",
			 cfg->ready_path ? cfg->ready_path : "/", host);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* The ready = http try on p->fd ended: ready if status is below 500, else
 * the next try after the back-off. why: the outcome when there is no status. */
static void probe_http_end(struct probe *p, int status, const char *why)
{
	ev_io_stop(p->loop, &p->io);
	probe_timer_stop(p);
	close(p->fd);
	p->fd = -1;
	if (status > 0)
		snprintf(p->http_last, sizeof(p->http_last), "answered %d", status);
	else
		snprintf(p->http_last, sizeof(p->http_last), "%s", why);
	if (status > 0 && status < 500)
		probe_ready(p, -1);
	else
		probe_schedule(p);
}

/* One ready = http try: connect, then on_probe_io sends and reads. */
static void probe_http_try(struct probe *p)
{
	bool in_progress = false;
	int fd = addr_connect(&p->cfg->address, &in_progress);
	if (fd < 0) {
		snprintf(p->http_last, sizeof(p->http_last), "connect: %s", strerror(-fd));
		probe_schedule(p);
		return;
	}
	p->fd = fd;
	p->http_sent = p->http_resp_len = 0;
	p->http_sending = true;
	probe_timer_arm(p, PROBE_HTTP_TRY); /* bounds this try; on_probe_tick ends it */
	ev_io_set(&p->io, fd, EV_WRITE);
	ev_io_start(p->loop, &p->io);
}

static void probe_http_io(struct probe *p)
{
	char why[64];
	if (p->http_sending) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (p->http_sent == 0 &&
		    (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)) {
			snprintf(why, sizeof(why), "connect: %s", strerror(err ? err : errno));
			probe_http_end(p, 0, why);
			return;
		}
		ssize_t n = send(p->fd, p->http_req + p->http_sent, p->http_req_len - p->http_sent,
				 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			probe_http_end(p, 0, why);
			return;
		}
		p->http_sent += (size_t)n;
		if (p->http_sent < p->http_req_len)
			return;
		p->http_sending = false;
		ev_io_stop(p->loop, &p->io);
		ev_io_set(&p->io, p->fd, EV_READ);
		ev_io_start(p->loop, &p->io);
		return;
	}
	ssize_t n = recv(p->fd, p->http_resp + p->http_resp_len,
			 sizeof(p->http_resp) - p->http_resp_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			snprintf(why, sizeof(why), "recv: %s", strerror(errno));
		else
			snprintf(why, sizeof(why), "closed %s",
				 p->http_resp_len ? "in the status line" : "without an answer");
		probe_http_end(p, 0, why);
		return;
	}
	p->http_resp_len += (size_t)n;
	int status = probe_http_status(p->http_resp, p->http_resp_len);
	if (status == 0 && p->http_resp_len < sizeof(p->http_resp))
		return;
	probe_http_end(p, status > 0 ? status : 0, "answered no HTTP status line");
}

/* Run ready_command once; its exit comes to probe_child_exited(). */
static void probe_command_run(struct probe *p)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_warning("%s: ready_command: pipe: %s", p->cfg->name, strerror(errno));
		probe_schedule(p);
		return;
	}
	bool in_cgroup;
	pid_t pid = spawn_fork(NULL, &in_cgroup);
	if (pid == 0) {
		/* It runs as the backend would (user, group, working directory,
		 * environment without the activation variables), silently: it may
		 * run a hundred times a second. */
		const struct spawn_child c = {
		    .argv = p->cfg->ready_argv,
		    .envp = p->envp,
		    .working_directory = p->cfg->working_directory,
		    .creds = &p->creds,
		    .nofile = p->nofile,
		    .quiet = true,
		};
		close(fds[0]);
		spawn_child_exec(&c, fds[1]);
	}
	close(fds[1]);
	if (pid < 0) {
		log_warning("%s: ready_command: fork: %s", p->cfg->name, strerror((int)-pid));
		close(fds[0]);
		probe_schedule(p);
		return;
	}
	(void)setpgid(pid, pid); /* as for the backend: kill(-pid) cannot miss */
	(void)fd_set_nonblock(fds[0], true);
	p->pid = pid;
	p->pipe = fds[0];
}

/* The ready_command exited: 0 is ready, anything else tries again after the
 * back-off; one that could not be run at all (no such program, a bad user)
 * ends probing with failed(). */
static void probe_command_done(struct probe *p, int status)
{
	struct spawn_report rep;
	int r = spawn_report_read(p->pipe, &rep);
	close(p->pipe);
	p->pipe = -1;
	p->pid = 0;
	if (!p->active)
		return; /* killed by probe_cancel() */
	if (r > 0) {
		char what[512], reason[600];
		spawn_report_format(&rep, rep.err, p->cfg->ready_argv[0], p->cfg->working_directory,
				    what, sizeof(what));
		snprintf(reason, sizeof(reason), "ready_command: %s", what);
		p->active = false;
		p->ops->failed(p, reason);
		return;
	}
	p->status = status;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		probe_ready(p, -1);
	else
		probe_schedule(p);
}

/* One connect attempt at the backend address, or one ready_command run. */
static void probe_try(struct probe *p)
{
	if (p->cfg->ready == ZP_READY_COMMAND) {
		probe_command_run(p);
		return;
	}
	if (p->cfg->ready == ZP_READY_HTTP) {
		probe_http_try(p);
		return;
	}
	bool in_progress = false;
	int fd = addr_connect(&p->cfg->address, &in_progress);
	if (fd < 0) {
		probe_schedule(p);
		return;
	}
	if (!in_progress) {
		probe_ready(p, fd);
		return;
	}
	p->fd = fd;
	ev_io_set(&p->io, fd, EV_WRITE);
	ev_io_start(p->loop, &p->io);
}

static void on_probe_tick(struct ev_loop *loop, ev_io *w, int revents)
{
	struct probe *p = w->data;
	uint64_t expirations;
	if (read(p->tfd, &expirations, sizeof(expirations)) < 0)
		return; /* EAGAIN: disarmed meanwhile */
	ev_io_stop(loop, w);
	if (p->cfg->ready == ZP_READY_HTTP && p->fd >= 0) {
		/* The try's deadline: give it up, ask again on a new connection. */
		char why[64];
		snprintf(why, sizeof(why), "no answer in %gs", PROBE_HTTP_TRY);
		probe_http_end(p, 0, why);
		return;
	}
	probe_try(p);
}

static void on_probe_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct probe *p = w->data;
	if (p->cfg->ready == ZP_READY_HTTP) {
		probe_http_io(p);
		return;
	}
	int err = 0;
	socklen_t len = sizeof(err);
	ev_io_stop(loop, w);
	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	int fd = p->fd;
	p->fd = -1;
	if (err) {
		close(fd);
		probe_schedule(p);
		return;
	}
	probe_ready(p, fd);
}

void probe_init(struct probe *p, struct ev_loop *loop, const struct service_config *cfg,
		const struct spawn_creds *creds, rlim_t nofile, const struct probe_ops *ops,
		void *data)
{
	*p = (struct probe){
	    .loop = loop,
	    .cfg = cfg,
	    .creds = *creds,
	    .nofile = nofile,
	    .tfd = -1,
	    .fd = -1,
	    .delay = PROBE_FIRST,
	    .pipe = -1,
	    .status = -1,
	    .ops = ops,
	    .data = data,
	};
	ev_init(&p->io, on_probe_io);
	p->io.data = p;
}

int probe_start(struct probe *p)
{
	if (p->cfg->ready == ZP_READY_COMMAND && !p->envp) {
		/* The backend's environment without what only the backend may
		 * use (a NOTIFY_SOCKET, a passed socket). */
		struct spawn_env env = {0};
		p->envp = spawn_build_env(p->cfg, &env);
	}
	if (p->cfg->ready == ZP_READY_HTTP) {
		int n = probe_http_request(p->cfg, p->http_req, sizeof(p->http_req));
		if (n < 0) { /* cannot happen: ready_path and the address are bounded */
			log_error("%s: ready = http: request too long", p->cfg->name);
			return n;
		}
		p->http_req_len = (size_t)n;
	}
	p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (p->tfd < 0) {
		int r = -errno;
		log_error("%s: timerfd_create: %s", p->cfg->name, strerror(-r));
		return r;
	}
	ev_io_init(&p->tick, on_probe_tick, p->tfd, EV_READ);
	p->tick.data = p;
	p->active = true;
	probe_timer_arm(p, 0);
	return 0;
}

void probe_cancel(struct probe *p)
{
	p->active = false;
	probe_timer_stop(p);
	ev_io_stop(p->loop, &p->io);
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	if (p->pid > 0)
		(void)kill(-p->pid, SIGKILL); /* ESRCH: gone already, reaped soon */
}

bool probe_child_exited(struct probe *p, pid_t pid, int status)
{
	if (p->pid <= 0 || pid != p->pid)
		return false;
	probe_command_done(p, status);
	return true;
}

void probe_close(struct probe *p)
{
	probe_cancel(p);
	if (p->tfd >= 0) {
		close(p->tfd);
		p->tfd = -1;
	}
	if (p->pipe >= 0) {
		close(p->pipe);
		p->pipe = -1;
	}
	strv_free(p->envp);
	p->envp = NULL;
}
