/*
 * spawn — the child side of starting a backend or its ready_command; see
 * spawn.h.
 *
 * zeroproxy is single-threaded, so the child may use ordinary libc between
 * fork() and exec(); everything that can fail for a reason the operator must
 * see (user lookup) is still done in the parent first.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/sched.h>
#include <unistd.h>

#include "cgroup.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

char **spawn_build_env(const struct service_config *cfg, const struct spawn_env *env)
{
	static const char *const drop[] = {"NOTIFY_SOCKET=",  "LISTEN_FDS=",    "LISTEN_PID=",
					   "LISTEN_FDNAMES=", "WATCHDOG_USEC=", "WATCHDOG_PID="};
	char **v = NULL;
	/* strv_push() fails only where xmalloc() would have aborted. */
	for (char **e = environ; e && *e; e++) {
		bool skip = false;
		for (size_t i = 0; i < ZP_ARRAY_SIZE(drop); i++)
			skip |= strncmp(*e, drop[i], strlen(drop[i])) == 0;
		for (char **c = cfg->environment; !skip && c && *c; c++) {
			size_t klen = strcspn(*c, "=") + 1;
			skip = strncmp(*e, *c, klen) == 0; /* the config overrides */
		}
		if (!skip)
			(void)strv_push(&v, *e);
	}
	for (char **c = cfg->environment; c && *c; c++)
		(void)strv_push(&v, *c);
	if (env->notify_path) {
		char *s = xasprintf("NOTIFY_SOCKET=%s", env->notify_path);
		(void)strv_push(&v, s);
		free(s);
	}
	if (env->n_listen_fds) {
		char *n = xasprintf("LISTEN_FDS=%zu", env->n_listen_fds);
		char *s = xasprintf("LISTEN_FDNAMES=%s",
				    env->listen_fdnames ? env->listen_fdnames : cfg->name);
		(void)strv_push(&v, n);
		(void)strv_push(&v, s);
		/* The child fills in its own pid. */
		(void)strv_push(&v, "LISTEN_PID=0000000000000000");
		free(n);
		free(s);
	}
	return v;
}

int spawn_creds_resolve(const struct service_config *cfg, struct spawn_creds *cr, char *why,
			size_t why_len)
{
	cr->uid = (uid_t)-1;
	cr->gid = (gid_t)-1;
	cr->user = cfg->user;
	cr->parent = getpid();
	if ((cfg->user || cfg->group) && geteuid() != 0) {
		snprintf(why, why_len, "user/group need zeroproxy to run as root");
		return -EPERM;
	}
	if (cfg->user) {
		errno = 0;
		struct passwd *pw = getpwnam(cfg->user);
		if (!pw) {
			int r = errno ? -errno : -ENOENT;
			snprintf(why, why_len, "user %s: %s", cfg->user,
				 errno ? strerror(errno) : "no such user");
			return r;
		}
		cr->uid = pw->pw_uid;
		cr->gid = pw->pw_gid;
	}
	if (cfg->group) {
		errno = 0;
		struct group *gr = getgrnam(cfg->group);
		if (!gr) {
			int r = errno ? -errno : -ENOENT;
			snprintf(why, why_len, "group %s: %s", cfg->group,
				 errno ? strerror(errno) : "no such group");
			return r;
		}
		cr->gid = gr->gr_gid;
	}
	return 0;
}

/* Block every signal around fork(): until the child has reset zeroproxy's
 * handlers, a signal sent to it (a stop at once after the spawn) must wait
 * instead of running one of our handlers in the child. */
static void signals_block(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, old);
}

static void signals_restore(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
}

/* fork(), but into the cgroup at cgroup_path when given: clone3() with
 * CLONE_INTO_CGROUP (Linux 5.7) creates the child there directly. Moving a
 * running process by writing cgroup.procs instead takes the kernel's cgroup
 * write lock, which costs 10-20 ms after a quiet period, more than a whole
 * cold start of a small backend. *in_cgroup says whether the child is in it;
 * if not (older kernel), the child moves itself. fork()'s result and errno. */
static pid_t fork_into(const char *cgroup_path, bool *in_cgroup)
{
	*in_cgroup = false;
#if defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
	if (cgroup_path) {
		int dfd = open(cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			struct clone_args args;
			memset(&args, 0, sizeof(args));
			args.flags = CLONE_INTO_CGROUP;
			args.exit_signal = SIGCHLD;
			args.cgroup = (uint64_t)dfd;
			long pid = syscall(SYS_clone3, &args, sizeof(args));
			int err = errno;
			if (pid != 0)
				close(dfd);
			if (pid >= 0) {
				*in_cgroup = true;
				return (pid_t)pid;
			}
			log_debug("clone3 into %s: %s; falling back to fork", cgroup_path,
				  strerror(err));
		}
	}
#endif
	return fork();
}

pid_t spawn_fork(const char *cgroup_path, bool *in_cgroup)
{
	sigset_t old;
	signals_block(&old);
	pid_t pid = fork_into(cgroup_path, in_cgroup);
	if (pid == 0)
		return 0; /* the child resets the mask itself */
	int err = errno;
	signals_restore(&old);
	return pid < 0 ? -err : pid;
}

void spawn_child_reset_signals(void)
{
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* close_range(first, ~0, CLOSE_RANGE_CLOEXEC): Linux 5.11. 0 or -1. */
static int syscall_close_range_cloexec(int first)
{
#ifdef SYS_close_range
	return (int)syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC);
#else
	errno = ENOSYS;
	return -1;
#endif
}

static _Noreturn void child_fail(int fd, const char *what, int err)
{
	struct spawn_report rep = {.err = err};
	snprintf(rep.what, sizeof(rep.what), "%s", what);
	ssize_t n = write(fd, &rep, sizeof(rep));
	(void)n; /* nobody to tell if it fails */
	_exit(127);
}

/* In the child: a report fd out of the way of fds 0-3, every signal back to
 * its default and unblocked, a process group of its own. */
static int child_begin(int report_fd)
{
	int rfd = fcntl(report_fd, F_DUPFD_CLOEXEC, 4);
	if (rfd < 0)
		_exit(127);
	spawn_child_reset_signals();
	if (setpgid(0, 0) < 0)
		child_fail(rfd, "setpgid", errno);
	return rfd;
}

/* In the child: stdin (and with quiet, stdout and stderr) from /dev/null. */
static void child_stdio(int rfd, bool quiet)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0)
		child_fail(rfd, "stdin", errno);
	if (quiet && (dup2(devnull, STDOUT_FILENO) < 0 || dup2(devnull, STDERR_FILENO) < 0))
		child_fail(rfd, "stdout", errno);
}

/* In the child: the listening sockets as fds 3... with LISTEN_PID= ours.
 * Each is first copied above the range (close-on-exec), so that moving one
 * into place never overwrites another still to be moved. */
static void child_listen_fds(int rfd, const int *fds, size_t n, char **envp)
{
	int *high = malloc(n * sizeof(*high)); /* single-threaded: malloc is fine here */
	if (!high)
		child_fail(rfd, "socket", ENOMEM);
	for (size_t i = 0; i < n; i++) {
		high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + (int)n);
		if (high[i] < 0)
			child_fail(rfd, "socket", errno);
	}
	for (size_t i = 0; i < n; i++) {
		if (dup2(high[i], 3 + (int)i) < 0)
			child_fail(rfd, "socket", errno);
		/* The listening socket is shared with zeroproxy: blocking for
		 * the backend, as systemd hands it over (zeroproxy sets it
		 * non-blocking again before it accepts on it itself). */
		(void)fd_set_nonblock(3 + (int)i, false);
	}
	for (char **e = envp; *e; e++)
		if (strncmp(*e, "LISTEN_PID=", 11) == 0)
			snprintf(*e + 11, 17, "%d", (int)getpid());
}

/* In the child: nothing else of ours (or of whoever started us) from fd
 * first_closed on survives the exec. */
static void child_close_fds(int rfd, int first_closed)
{
	if (syscall_close_range_cloexec(first_closed) < 0) {
		struct rlimit rl;
		int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
				  rl.rlim_cur < (1 << 20)
			      ? (int)rl.rlim_cur
			      : (1 << 20);
		for (int fd = first_closed; fd < max; fd++)
			if (fd != rfd)
				(void)fd_set_cloexec(fd, true); /* EBADF for most */
	}
}

/* In the child, the last steps before exec: the usual fd limit, the
 * working directory, the service's user and group, death with zeroproxy. */
static void child_become(int rfd, const struct spawn_child *c)
{
	const struct spawn_creds *cr = c->creds;
	/* zeroproxy raised its own soft fd limit; children get the usual one
	 * back (select()-based programs break above 1024). */
	if (c->nofile) {
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && c->nofile < rl.rlim_cur) {
			rl.rlim_cur = c->nofile;
			(void)setrlimit(RLIMIT_NOFILE, &rl); /* lowering cannot fail */
		}
	}
	if (c->working_directory && chdir(c->working_directory) < 0)
		child_fail(rfd, "chdir", errno);
	if (cr->user || cr->gid != (gid_t)-1) {
		if (cr->user ? initgroups(cr->user, cr->gid) < 0 : setgroups(0, NULL) < 0)
			child_fail(rfd, "setgroups", errno);
		if (setresgid(cr->gid, cr->gid, cr->gid) < 0)
			child_fail(rfd, "setgid", errno);
	}
	if (cr->uid != (uid_t)-1 && setresuid(cr->uid, cr->uid, cr->uid) < 0)
		child_fail(rfd, "setuid", errno);
	/* Die with zeroproxy: a killed zeroproxy must not leave its backends.
	 * After the uid/gid change, which resets the parent-death signal. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(rfd, "prctl", errno);
	if (getppid() != cr->parent)
		_exit(127); /* zeroproxy died before we could ask */
}

_Noreturn void spawn_child_exec(const struct spawn_child *c, int report_fd)
{
	int rfd = child_begin(report_fd);
	/* Into the instance's cgroup before privileges are dropped, unless
	 * clone3() put us there already. A cgroup.procs that cannot be opened
	 * leaves the child where it is: it runs, just without a cgroup's
	 * figures. */
	if (c->cgroup_path) {
		int procs = cgroup_procs_open(c->cgroup_path);
		int r = procs >= 0 ? cgroup_enter(procs) : 0;
		if (r < 0)
			child_fail(rfd, "cgroup", -r);
	}
	child_stdio(rfd, c->quiet);
	if (c->n_listen_fds)
		child_listen_fds(rfd, c->listen_fds, c->n_listen_fds, c->envp);
	child_close_fds(rfd, 3 + (int)c->n_listen_fds);
	child_become(rfd, c);
	execvpe(c->argv[0], c->argv, c->envp);
	child_fail(rfd, "exec", errno);
}

int spawn_report_read(int fd, struct spawn_report *rep)
{
	ssize_t n;
	do
		n = read(fd, rep, sizeof(*rep));
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (n != (ssize_t)sizeof(*rep))
		return 0;
	rep->what[sizeof(rep->what) - 1] = '\0';
	return 1;
}

void spawn_report_format(const struct spawn_report *rep, int err, const char *argv0,
			 const char *working_directory, char *buf, size_t len)
{
	if (strcmp(rep->what, "exec") == 0)
		snprintf(buf, len, "exec %s: %s", argv0, strerror(err));
	else if (strcmp(rep->what, "chdir") == 0)
		snprintf(buf, len, "working_directory %s: %s", working_directory, strerror(err));
	else
		snprintf(buf, len, "%s: %s", rep->what, strerror(err));
}
