/*
 * spawn — how zeroproxy starts a child of a service (the backend, its
 * ready_command): the environment it gets, the user it runs as, fork() with
 * every signal blocked (into the instance's cgroup with clone3() where the
 * kernel can), and what the child does between fork() and exec. A child that
 * fails before its program runs reports what failed and errno on a
 * close-on-exec pipe: EOF on the pipe means the exec succeeded.
 *
 * Used by instance.c (the backend) and probe.c (ready_command); no event
 * loop here.
 */
#ifndef ZP_SPAWN_H
#define ZP_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "config.h"

/* Everything spawn needs besides the service config. */
struct spawn_env {
	const int *listen_fds;      /* passed as fds 3... (ready = socket, relay = no) */
	size_t n_listen_fds;        /* 0: none */
	const char *listen_fdnames; /* LISTEN_FDNAMES=; NULL: the service's name */
	const char *notify_path;    /* ready=notify: NOTIFY_SOCKET value, else NULL */
	const char *cgroup_path;    /* the instance's own (new, empty) cgroup, or NULL */
	rlim_t nofile;              /* RLIMIT_NOFILE soft limit to give it, or 0 */
};

/* Who a child of the instance (the backend, its ready_command) runs as;
 * resolved in the parent at spawn. */
struct spawn_creds {
	uid_t uid;        /* (uid_t)-1: keep ours */
	gid_t gid;        /* (gid_t)-1: keep ours */
	const char *user; /* for initgroups(), or NULL */
	pid_t parent;     /* zeroproxy, whose death the child must notice */
};

/* What a child runs and how; see spawn_child_exec(). */
struct spawn_child {
	char *const *argv;
	char **envp;                     /* a LISTEN_PID= in it gets the child's pid */
	const char *working_directory;   /* or NULL */
	const struct spawn_creds *creds; /* see above */
	rlim_t nofile;                   /* RLIMIT_NOFILE soft limit, or 0 */
	const int *listen_fds;           /* passed as fds 3... (blocking) */
	size_t n_listen_fds;             /* 0: none */
	const char *cgroup_path;         /* a cgroup to move into first, or NULL */
	bool quiet;                      /* stdout and stderr to /dev/null as well */
};

/* What a child that could not exec wrote on its report pipe. */
struct spawn_report {
	int err;       /* errno */
	char what[32]; /* the step that failed: "exec", "chdir", "setuid"... */
};

/* The uid and gid of cfg's user and group, looked up in the parent so that a
 * bad name is reported as such. 0, or -errno (-EPERM: not root, -ENOENT: no
 * such user or group) with the reason in why. */
int spawn_creds_resolve(const struct service_config *cfg, struct spawn_creds *cr, char *why,
			size_t why_len);

/* The environment of a backend: ours without what systemd gave zeroproxy
 * itself (NOTIFY_SOCKET, LISTEN_*, WATCHDOG_*), then the service's own
 * variables, then the activation variables env asks for. Free with
 * strv_free(). */
char **spawn_build_env(const struct service_config *cfg, const struct spawn_env *env);

/* fork() with every signal blocked until the child has reset zeroproxy's
 * handlers, into the cgroup at cgroup_path (when not NULL) with clone3()
 * where the kernel can; *in_cgroup says whether it did (if not, the child
 * moves itself: give it cgroup_path in struct spawn_child). The child's pid
 * in the parent, 0 in the child, or -errno. */
pid_t spawn_fork(const char *cgroup_path, bool *in_cgroup);

/* In the child after spawn_fork(): never returns. A report fd out of the way
 * of fds 0-3, signals reset (spawn_child_reset_signals()), a process group of
 * its own, the cgroup, stdio, fd 3, nothing else of ours left open, the fd
 * limit, working directory and user of c, death with zeroproxy, then exec.
 * A step that fails writes a struct spawn_report to report_fd (close-on-exec)
 * and exits 127. */
_Noreturn void spawn_child_exec(const struct spawn_child *c, int report_fd);

/* In a child between fork() and exec, where every signal is blocked: every
 * handler back to SIG_DFL, then every signal unblocked, in that order, so
 * that a signal sent meanwhile takes its default action instead of running
 * one of zeroproxy's handlers. */
void spawn_child_reset_signals(void);

/* Read a child's report from the read end of its pipe (non-blocking). 1: a
 * report (the child failed before exec), 0: EOF (the exec succeeded, or
 * nothing came), -EAGAIN: nothing yet, the write end is still open. */
int spawn_report_read(int fd, struct spawn_report *rep);

/* A report for logs and status: "exec ARGV0: ERROR", "working_directory
 * DIR: ERROR", "WHAT: ERROR". err is the errno to name. */
void spawn_report_format(const struct spawn_report *rep, int err, const char *argv0,
			 const char *working_directory, char *buf, size_t len);

#endif
