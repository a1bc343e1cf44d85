/*
 * instance — one backend process ("instance") of a service: fork/exec (the
 * child's set-up is spawn.c's) with a close-on-exec pipe that reports exec
 * failures, readiness (sd_notify READY=1, an inherited listening socket, or
 * probe.c's connect probing and ready_command), stop escalation (stop_signal
 * to the main process or to all, as kill_mode says, then SIGKILL to every
 * process left after stop_timeout), the final accounting when it is reaped,
 * and the wait for processes it left behind.
 *
 * The instance reports to its owner through the callbacks below; it never
 * decides service policy itself.
 */
#ifndef ZP_INSTANCE_H
#define ZP_INSTANCE_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "config.h"
#include "probe.h"
#include "spawn.h"

struct instance;

struct instance_ops {
	/* Ready to take connections. probe_fd is a connected socket to the
	 * backend (ready=connect) the owner may use, or -1. */
	void (*ready)(struct instance *in, int probe_fd);
	/* The start failed (exec error, start_timeout); reason is for logs and
	 * status. The instance is being stopped; exited() follows. */
	void (*failed)(struct instance *in, const char *reason);
	/* The process was reaped. how is "exited with status N" or "killed by
	 * signal SIGX". The owner frees the instance, unless it calls
	 * instance_wait_gone() and that returns 1: then gone() follows. */
	void (*exited)(struct instance *in, const char *how);
	/* After instance_wait_gone() returned 1: the last process of the
	 * instance is gone (or the wait gave up). The owner frees the
	 * instance. */
	void (*gone)(struct instance *in);
};

struct instance {
	const struct service_config *cfg; /* the config it was started with */
	struct ev_loop *loop;
	pid_t pid;                /* also its process group id */
	uint64_t spawn_usec;      /* monotonic, at fork */
	uint64_t spawn_wall_usec; /* wall clock, at fork */
	uint64_t ready_usec;      /* monotonic, when ready; 0 before */
	bool ready;               /* ready() was called */
	bool stopping;            /* stop signal sent */
	bool killed;              /* SIGKILL sent */
	bool exec_done;           /* the exec pipe closed (exec succeeded or failed) */
	int exec_err;             /* errno from the child, 0 if exec worked */
	char exec_what[32];       /* what failed in the child ("exec", "chdir"...) */
	int exec_pipe;            /* read end; -1 once done */
	ev_io exec_io;
	ev_timer start_timer; /* start_timeout */
	struct probe probe;   /* ready = connect / command: probing, until ready */

	ev_timer stop_timer;  /* stop_timeout, then SIGKILL */
	struct rusage rusage; /* from wait4, once exited */
	int wait_status;      /* from wait4 */
	bool reaped;          /* the main process was reaped */
	uint64_t exit_usec;   /* monotonic, when it was reaped */
	int gone_fd;          /* inotify on cgroup.events while waiting for the rest, or -1 */
	ev_io gone_io;        /* gone_fd readable */
	ev_timer gone_timer;  /* the next look at the process group, or the end of the wait */
	double gone_delay;    /* the next interval between looks, seconds */
	uint64_t gone_since;  /* monotonic: the wait began */
	char *cgroup;         /* the instance's cgroup, or NULL (process group only) */
	bool frozen;          /* instance_freeze()d, not thawed since */
	bool freeze_sigstop;  /* frozen by SIGSTOP to the process group, not cgroup.freeze */
	uint64_t freeze_usec; /* monotonic: the latest instance_freeze() */
	int freeze_fd;        /* inotify on cgroup.events until the freeze completes, or -1 */
	ev_io freeze_io;      /* freeze_fd readable */
	const struct instance_ops *ops;
	void *data; /* the owning service */
};

/* Fork and exec a backend for cfg; no callback runs before this returns.
 * 0 with the instance (starting) in *out, or -errno with a reason in why
 * (why_len bytes) when nothing could be spawned (fork failure, unknown user;
 * *out is left alone). The failure is not logged: the owner does, with its
 * context. */
int instance_spawn(struct ev_loop *loop, const struct service_config *cfg,
		   const struct spawn_env *env, const struct instance_ops *ops, void *data,
		   struct instance **out, char *why, size_t why_len);

/* Send stop_signal now (to the main process with kill_mode = mixed, to every
 * process of the instance with control-group) and SIGKILL to every process
 * left after stop_timeout; a frozen instance is thawed first, so that it can
 * handle the signal. Idempotent. */
void instance_stop(struct instance *in);

/* SIGKILL the process group (and cgroup) now. */
void instance_kill(struct instance *in);

/* A child was reaped (the daemon reaps every child with wait4()): the
 * backend (exited() follows; the owner frees the instance) or its
 * ready_command. false when pid is neither. */
bool instance_child_exited(struct instance *in, pid_t pid, int status, const struct rusage *ru);

/* Whether pid is the backend's main process or its running ready_command. */
bool instance_has_child(const struct instance *in, pid_t pid);

/* In exited(): whether processes of the instance are left behind its main
 * process (its cgroup is still populated; without a cgroup, its process
 * group still exists). 0: none. 1: some are (they have had SIGKILL); gone()
 * follows once the cgroup is empty (inotify on cgroup.events, and looks on a
 * short back-off timer that runs only during the wait) or the process group
 * is gone (the same timer), or after INSTANCE_GONE_MAX seconds at most. */
#define INSTANCE_GONE_MAX 10.0
int instance_wait_gone(struct instance *in);

/* Freeze every process of the instance: cgroup.freeze of its cgroup where it
 * has one, else (or where the kernel has no v2 freezer) SIGSTOP to its
 * process group. Logs which, and when the cgroup's freeze has completed
 * ("frozen 1" in cgroup.events, watched with inotify). Idempotent. */
void instance_freeze(struct instance *in);

/* Thaw a frozen instance (cgroup.freeze 0, or SIGCONT to its process group);
 * nothing when it is not frozen. instance_stop() thaws first by itself. */
void instance_thaw(struct instance *in);

/* A READY=1 from the backend (ready=notify). */
void instance_notify_ready(struct instance *in);

/* Stop every watcher, close fds, free. The process must have been reaped. */
void instance_free(struct instance *in);

/* "exited with status 3", "killed by signal SIGKILL" for logs; brief:
 * "exited 3", "killed by SIGKILL" (status's last_exit). */
void format_wait_status(int status, bool brief, char *buf, size_t len);

#endif
