/*
 * probe — readiness probing of a starting backend; see probe.h.
 *
 * ready = command runs ready_command as the backend would (spawn.c: same
 * child set-up, its own process group, the backend's user), one at a time
 * with the connect probe's back-off between runs. The daemon reaps it with
 * every other child and hands it back through probe_child_exited(); nothing
 * here waits.
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
	probe_try(p);
}

static void on_probe_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct probe *p = w->data;
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
