/*
 * instance — fork/exec, readiness and stopping of one backend instance;
 * see instance.h.
 *
 * The child is set up by spawn.c. It reports a failure of chdir/setuid/exec
 * through a close-on-exec pipe: EOF on the pipe means exec succeeded, a record
 * on it names what failed and errno. Readiness for ready = connect and
 * ready = command is probe.c's, which the instance owns; the daemon reaps
 * every child and hands the instance's back through instance_child_exited().
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "instance.h"
#include "log.h"
#include "probe.h"
#include "spawn.h"
#include "util.h"

/* Looks at what is left of an instance after its main process: from 1 ms,
 * doubling to 50 ms (SIGKILLed processes are usually gone by the first). */
#define GONE_POLL_FIRST 0.001
#define GONE_POLL_MAX   0.050

void format_wait_status(int status, bool brief, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, brief ? "exited %d" : "exited with status %d",
			 WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, brief ? "killed by %s%s" : "killed by signal %s%s",
			 signal_name(WTERMSIG(status)), WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, len, "wait status 0x%x", status);
}

/* Ready: probe_fd is a connected socket to the backend for the owner, or -1. */
static void instance_set_ready(struct instance *in, int probe_fd)
{
	if (in->ready || in->stopping) {
		if (probe_fd >= 0)
			close(probe_fd);
		return;
	}
	in->ready = true;
	in->ready_usec = now_usec();
	ev_timer_stop(in->loop, &in->start_timer);
	in->ops->ready(in, probe_fd);
}

static void instance_fail(struct instance *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void instance_fail(struct instance *in, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	ev_timer_stop(in->loop, &in->start_timer);
	probe_cancel(&in->probe);
	in->ops->failed(in, reason);
	instance_stop(in);
}

/* Read the child's report: EOF means exec succeeded. */
static void exec_pipe_drain(struct instance *in)
{
	if (in->exec_done)
		return;
	struct spawn_report rep;
	int r = spawn_report_read(in->exec_pipe, &rep);
	if (r == -EAGAIN)
		return;
	in->exec_done = true;
	ev_io_stop(in->loop, &in->exec_io);
	close(in->exec_pipe);
	in->exec_pipe = -1;
	if (r > 0) {
		char reason[512];
		in->exec_err = rep.err ? rep.err : EIO;
		snprintf(in->exec_what, sizeof(in->exec_what), "%s", rep.what);
		spawn_report_format(&rep, in->exec_err, in->cfg->argv[0],
				    in->cfg->working_directory, reason, sizeof(reason));
		instance_fail(in, "%s", reason);
		return;
	}
	/* exec succeeded. A socket-activated backend is ready now: connections
	 * wait in the kernel's queue until it accepts. */
	if (in->cfg->ready == ZP_READY_SOCKET || !in->cfg->relay)
		instance_set_ready(in, -1);
}

static void on_exec_pipe(struct ev_loop *loop, ev_io *w, int revents)
{
	exec_pipe_drain(w->data);
}

static void on_start_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct instance *in = w->data;
	char d[32];
	format_duration(in->cfg->start_timeout_ms, d, sizeof(d));
	if (in->cfg->ready == ZP_READY_HTTP && in->probe.http_last[0]) {
		instance_fail(in, "not ready after %s (GET %s last %s)", d,
			      in->cfg->ready_path ? in->cfg->ready_path : "/", in->probe.http_last);
		return;
	}
	if (in->probe.status < 0) {
		instance_fail(in, "not ready after %s", d);
		return;
	}
	char how[64];
	format_wait_status(in->probe.status, false, how, sizeof(how));
	instance_fail(in, "not ready after %s (ready_command %s last %s)", d,
		      in->cfg->ready_argv[0], how);
}

static void on_probe_ready(struct probe *p, int fd)
{
	instance_set_ready(p->data, fd);
}

static void on_probe_failed(struct probe *p, const char *reason)
{
	instance_fail(p->data, "%s", reason);
}

static const struct probe_ops probe_ops = {
    .ready = on_probe_ready,
    .failed = on_probe_failed,
};

static void on_stop_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct instance *in = w->data;
	char d[32];
	format_duration(in->cfg->stop_timeout_ms, d, sizeof(d));
	log_warning("%s: backend pid %d still running %s after %s, sending SIGKILL to all its "
		    "processes",
		    in->cfg->name, (int)in->pid, d, signal_name(in->cfg->stop_signal));
	instance_kill(in);
}

int instance_spawn(struct ev_loop *loop, const struct service_config *cfg,
		   const struct spawn_env *env, const struct instance_ops *ops, void *data,
		   struct instance **out, char *why, size_t why_len)
{
	struct spawn_creds cr;
	int r = spawn_creds_resolve(cfg, &cr, why, why_len);
	if (r < 0)
		return r;

	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(why, why_len, "pipe: %s", strerror(-r));
		return r;
	}
	char **envp = spawn_build_env(cfg, env);
	uint64_t t0 = now_usec();
	bool in_cgroup = false;
	pid_t pid = spawn_fork(env->cgroup_path, &in_cgroup);
	if (pid < 0) {
		snprintf(why, why_len, "fork: %s", strerror((int)-pid));
		close(p[0]);
		close(p[1]);
		strv_free(envp);
		return (int)pid;
	}
	if (pid == 0) {
		const struct spawn_child c = {
		    .argv = cfg->argv,
		    .envp = envp,
		    .working_directory = cfg->working_directory,
		    .creds = &cr,
		    .nofile = env->nofile,
		    .listen_fds = env->listen_fds,
		    .n_listen_fds = env->n_listen_fds,
		    .cgroup_path = in_cgroup ? NULL : env->cgroup_path,
		};
		spawn_child_exec(&c, p[1]);
	}
	close(p[1]);
	strv_free(envp);
	/* The same in the parent, so that no kill(-pid) can miss the group. */
	(void)setpgid(pid, pid);

	struct instance *in = xcalloc(1, sizeof(*in));
	in->cfg = cfg;
	in->loop = loop;
	in->pid = pid;
	in->spawn_usec = t0;
	in->spawn_wall_usec = wall_usec();
	in->ops = ops;
	in->data = data;
	in->exec_pipe = p[0];
	probe_init(&in->probe, loop, cfg, &cr, env->nofile, &probe_ops, in);
	in->cgroup = env->cgroup_path ? xstrdup(env->cgroup_path) : NULL;
	(void)fd_set_nonblock(p[0], true); /* cannot fail on a pipe of ours */
	ev_io_init(&in->exec_io, on_exec_pipe, p[0], EV_READ);
	in->exec_io.data = in;
	ev_io_start(loop, &in->exec_io);
	ev_timer_init(&in->start_timer, on_start_timeout, (double)cfg->start_timeout_ms / 1000.0,
		      0);
	in->start_timer.data = in;
	if (cfg->start_timeout_ms != ZP_INFINITY)
		ev_timer_start(loop, &in->start_timer);
	in->gone_fd = -1;
	ev_init(&in->gone_timer, NULL);
	in->gone_timer.data = in;
	ev_init(&in->stop_timer, on_stop_timeout);
	in->stop_timer.data = in;

	/* The first probe goes out on the next loop iteration, not now: a fast
	 * backend may already listen, and the owner must not hear "ready"
	 * before instance_spawn() has even returned. Without a timer there is
	 * no probing: the start times out. */
	if (cfg->relay && (cfg->ready == ZP_READY_CONNECT || cfg->ready == ZP_READY_COMMAND ||
			   cfg->ready == ZP_READY_HTTP))
		(void)probe_start(&in->probe);
	*out = in;
	return 0;
}

/* stop_signal as kill_mode says: mixed, to the main process only (a
 * master/worker server stops its workers itself, in order); control-group,
 * to every process of the instance: its cgroup where there is one, else (or
 * while a child that moves itself has not got there yet) its process group. */
static void stop_signal_send(struct instance *in)
{
	int sig = in->cfg->stop_signal;
	if (in->cfg->kill_mode == ZP_KILL_MIXED)
		(void)kill(in->pid, sig);
	else if (!in->cgroup || cgroup_kill(in->cgroup, sig) <= 0)
		(void)kill(-in->pid, sig);
}

void instance_stop(struct instance *in)
{
	if (in->stopping)
		return;
	in->stopping = true;
	ev_timer_stop(in->loop, &in->start_timer);
	probe_cancel(&in->probe);
	/* A child whose exec failed exits by itself (status 127) right after its
	 * report: a signal now would only race that exit and make last_exit say
	 * "killed by SIGTERM". stop_timeout still ends one that does not. */
	if (!in->exec_err)
		stop_signal_send(in);
	if (in->cfg->stop_timeout_ms != ZP_INFINITY) {
		ev_timer_set(&in->stop_timer, (double)in->cfg->stop_timeout_ms / 1000.0, 0);
		ev_timer_start(in->loop, &in->stop_timer);
	}
}

void instance_kill(struct instance *in)
{
	ev_timer_stop(in->loop, &in->stop_timer);
	in->stopping = in->killed = true;
	probe_cancel(&in->probe);
	(void)kill(-in->pid, SIGKILL);
	if (in->cgroup)
		(void)cgroup_kill(in->cgroup, SIGKILL); /* the group above is the fallback */
}

void instance_notify_ready(struct instance *in)
{
	if (in->cfg->ready == ZP_READY_NOTIFY)
		instance_set_ready(in, -1);
}

/* The backend exited: no more probing, nothing of it left behind. */
static void instance_reaped(struct instance *in, int status, const struct rusage *ru)
{
	in->wait_status = status;
	in->rusage = *ru;
	in->reaped = true;
	in->exit_usec = now_usec();
	/* An exec failure is in the pipe already; read it before judging the
	 * exit. A process that is gone can no longer become ready. */
	in->stopping = true;
	exec_pipe_drain(in);
	ev_timer_stop(in->loop, &in->stop_timer);
	ev_timer_stop(in->loop, &in->start_timer);
	probe_cancel(&in->probe);
	/* The leader is gone; take the rest of its group (and of its cgroup,
	 * which also holds what left the group) with it. */
	(void)kill(-in->pid, SIGKILL);
	if (in->cgroup && cgroup_populated(in->cgroup) > 0)
		(void)cgroup_kill(in->cgroup, SIGKILL);
	char how[64];
	format_wait_status(status, false, how, sizeof(how));
	in->ops->exited(in, how);
}

bool instance_child_exited(struct instance *in, pid_t pid, int status, const struct rusage *ru)
{
	if (pid == in->pid) {
		instance_reaped(in, status, ru);
		return true;
	}
	return probe_child_exited(&in->probe, pid, status);
}

bool instance_has_child(const struct instance *in, pid_t pid)
{
	return pid == in->pid || (in->probe.pid > 0 && pid == in->probe.pid);
}

/* Whether processes of the instance are left: in its cgroup where it has one
 * (that also holds what left the process group), else in its process group. */
static bool instance_remains(const struct instance *in)
{
	if (in->cgroup) {
		int r = cgroup_populated(in->cgroup);
		if (r >= 0)
			return r > 0;
	}
	return kill(-in->pid, 0) == 0 || errno == EPERM;
}

static void gone_stop(struct instance *in)
{
	ev_timer_stop(in->loop, &in->gone_timer);
	if (in->gone_fd >= 0) {
		ev_io_stop(in->loop, &in->gone_io);
		close(in->gone_fd);
		in->gone_fd = -1;
	}
}

/* Done waiting: gone() may free in. */
static void gone_finish(struct instance *in)
{
	gone_stop(in);
	in->ops->gone(in);
}

static void gone_check(struct instance *in)
{
	if (!instance_remains(in)) {
		gone_finish(in);
		return;
	}
	double waited = (double)(now_usec() - in->gone_since) / 1e6;
	if (waited >= INSTANCE_GONE_MAX) {
		log_warning("%s: processes of the instance of pid %d are still there %.0f s after "
			    "it exited and had SIGKILL (stuck in the kernel?); no longer waiting",
			    in->cfg->name, (int)in->pid, waited);
		gone_finish(in);
		return;
	}
	/* The next look, on a back-off, also with inotify: the kernel sends
	 * cgroup.events notifications at most every 10 ms. */
	double next = INSTANCE_GONE_MAX - waited;
	if (in->gone_delay < next)
		next = in->gone_delay;
	in->gone_delay *= 2;
	if (in->gone_delay > GONE_POLL_MAX)
		in->gone_delay = GONE_POLL_MAX;
	ev_timer_stop(in->loop, &in->gone_timer);
	ev_timer_set(&in->gone_timer, next, 0);
	ev_timer_start(in->loop, &in->gone_timer);
}

static void on_gone_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	gone_check(w->data);
}

static void on_gone_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct instance *in = w->data;
	char buf[4096];
	while (read(in->gone_fd, buf, sizeof(buf)) > 0)
		; /* the events themselves say nothing more than "changed" */
	gone_check(in);
}

int instance_wait_gone(struct instance *in)
{
	assert(in->reaped);
	if (!instance_remains(in))
		return 0;
	in->gone_since = now_usec();
	in->gone_delay = GONE_POLL_FIRST;
	ev_set_cb(&in->gone_timer, on_gone_timer);
	if (in->cgroup) {
		int fd = cgroup_events_watch(in->cgroup);
		if (fd >= 0) {
			in->gone_fd = fd;
			ev_io_init(&in->gone_io, on_gone_io, fd, EV_READ);
			in->gone_io.data = in;
			ev_io_start(in->loop, &in->gone_io);
		} else {
			log_warning("%s: cannot watch %s/cgroup.events (%s); looking at it on a "
				    "timer",
				    in->cfg->name, in->cgroup, strerror(-fd));
		}
		log_info("%s: processes of the instance are left after its main process %d "
			 "exited; the next start waits until cgroup %s is empty",
			 in->cfg->name, (int)in->pid, in->cgroup);
	} else {
		log_info("%s: processes of the instance are left after its main process %d "
			 "exited; the next start waits until process group %d is gone (no cgroup)",
			 in->cfg->name, (int)in->pid, (int)in->pid);
	}
	/* Looked at once more now: the last one may have gone before the
	 * watch was in place. gone() must not run inside exited(), so the
	 * first look is a timer. */
	ev_timer_set(&in->gone_timer, 0, 0);
	ev_timer_start(in->loop, &in->gone_timer);
	return 1;
}

void instance_free(struct instance *in)
{
	if (!in)
		return;
	gone_stop(in);
	ev_io_stop(in->loop, &in->exec_io);
	ev_timer_stop(in->loop, &in->start_timer);
	probe_close(&in->probe);
	ev_timer_stop(in->loop, &in->stop_timer);
	if (in->exec_pipe >= 0)
		close(in->exec_pipe);
	if (in->cgroup) {
		/* -EBUSY while killed processes are still going: the next
		 * cgroup_create() for this service clears the empty leftover. */
		(void)cgroup_remove(in->cgroup);
		free(in->cgroup);
	}
	free(in);
}
