/*
 * test-spawn — the child side of a spawn. zeroproxy forks with every
 * signal blocked; a signal sent to the child before it has reset zeroproxy's
 * handlers (a stop at once after the spawn) must then take its default
 * action when the child unblocks it, never run one of zeroproxy's handlers in
 * the child (which would swallow a SIGTERM and wake the parent's loop).
 * Then what spawn_child_exec() gives a backend (fd 3, its environment,
 * nothing else of ours), what a child that cannot exec reports, and the
 * credential look-up's errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"
#include "tap.h"
#include "util.h"

static volatile sig_atomic_t handled;

static void on_signal(int sig)
{
	(void)sig;
	handled = 1;
}

/* Fork with spawn_fork() (every signal blocked in the child) and run child
 * in the child; returns its wait status. */
static int fork_blocked(void (*child)(void))
{
	bool in_cgroup;
	pid_t pid = spawn_fork(NULL, &in_cgroup);
	if (pid == 0) {
		child();
		_exit(0);
	}
	int status = -1;
	while (pid > 0 && waitpid(pid, &status, 0) < 0)
		;
	return status;
}

/* A SIGTERM that arrived before the reset (pending, blocked). */
static void child_signalled_early(void)
{
	raise(SIGTERM);
	spawn_child_reset_signals();
	_exit(handled ? 3 : 4); /* the default action ends us before this */
}

/* After the reset: no handler left, nothing blocked. */
static void child_after_reset(void)
{
	spawn_child_reset_signals();
	struct sigaction sa;
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	for (int s = 1; s < NSIG; s++) {
		if (sigismember(&cur, s) == 1)
			_exit(10);
		if (sigaction(s, NULL, &sa) == 0 && s != SIGKILL && s != SIGSTOP &&
		    sa.sa_handler != SIG_DFL)
			_exit(11);
	}
	_exit(0);
}

/* Run c in a child as instance.c does: the child's report (spawn_report_read's
 * result) and its wait status. */
static int run_child(const struct spawn_child *c, struct spawn_report *rep, int *status)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	bool in_cgroup;
	pid_t pid = spawn_fork(NULL, &in_cgroup);
	if (pid == 0) {
		close(p[0]);
		spawn_child_exec(c, p[1]);
	}
	close(p[1]);
	*status = -1;
	while (pid > 0 && waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	int r = spawn_report_read(p[0], rep);
	close(p[0]);
	return r;
}

static void test_exec_failures(const struct spawn_creds *cr)
{
	char prog[] = "/nonexistent/zp-prog", bin_sh[] = "/bin/sh", dash_c[] = "-c",
	     exit0[] = "exit 0";
	char *argv[] = {prog, NULL};
	char *envp[] = {NULL};
	struct spawn_child c = {.argv = argv, .envp = envp, .creds = cr};
	struct spawn_report rep;
	char buf[256];
	int st;

	is_int(run_child(&c, &rep, &st), 1, "a program that does not exist: a report");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 127, "  and exit 127 (status 0x%x)", st);
	spawn_report_format(&rep, rep.err, argv[0], NULL, buf, sizeof(buf));
	is_str(buf, "exec /nonexistent/zp-prog: No such file or directory", "  which says so");

	char *sh[] = {bin_sh, dash_c, exit0, NULL};
	c.argv = sh;
	c.working_directory = "/nonexistent-zp-dir";
	is_int(run_child(&c, &rep, &st), 1, "a working directory that does not exist: a report");
	spawn_report_format(&rep, rep.err, sh[0], c.working_directory, buf, sizeof(buf));
	is_str(buf, "working_directory /nonexistent-zp-dir: No such file or directory",
	       "  which says so");
}

/* A backend with a socket as fd 3 and ready = socket's variables. */
static void test_backend_child(const struct spawn_creds *cr)
{
	char var[] = "ZP_TEST_VAR=from-config", name[] = "web", bin_sh[] = "/bin/sh",
	     dash_c[] = "-c";
	char *environment[] = {var, NULL};
	struct service_config cfg = {.name = name, .environment = environment};
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* An fd of ours that is not close-on-exec must not reach the child. */
	int stray = dup(STDIN_FILENO);
	setenv("NOTIFY_SOCKET", "@zp-test-not-for-the-backend", 1);
	setenv("ZP_TEST_VAR", "from-zeroproxy", 1);
	struct spawn_env env = {.listen_fds = &sock, .n_listen_fds = 1};
	char **envp = spawn_build_env(&cfg, &env);
	unsetenv("NOTIFY_SOCKET");
	char script[512];
	snprintf(script, sizeof(script),
		 "[ \"$LISTEN_PID\" = $$ ] || exit 10; [ \"$LISTEN_FDS\" = 1 ] || exit 11; "
		 "[ \"$LISTEN_FDNAMES\" = web ] || exit 12; [ -S /proc/$$/fd/3 ] || exit 13; "
		 "[ \"$ZP_TEST_VAR\" = from-config ] || exit 14; [ -z \"$NOTIFY_SOCKET\" ] || "
		 "exit 15; [ -e /proc/$$/fd/%d ] && exit 16; "
		 "[ \"$(readlink /proc/$$/fd/1)\" = /dev/null ] || exit 17; exit 0",
		 stray);
	char *argv[] = {bin_sh, dash_c, script, NULL};
	struct spawn_child c = {.argv = argv,
				.envp = envp,
				.creds = cr,
				.listen_fds = &sock,
				.n_listen_fds = 1,
				.quiet = true};
	struct spawn_report rep;
	int st;
	is_int(run_child(&c, &rep, &st), 0, "a backend that runs: no report (EOF)");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "  with fd 3, LISTEN_PID=, its environment, quiet stdio and no stray fd (exit %d)",
	   WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	strv_free(envp);
	close(stray);
	close(sock);
}

static void test_creds(void)
{
	char name[] = "web", user[] = "zp-no-such-user", group[] = "zp-no-such-group";
	struct service_config cfg = {.name = name};
	struct spawn_creds cr;
	char why[256] = "";

	is_int(spawn_creds_resolve(&cfg, &cr, why, sizeof(why)), 0, "no user: 0");
	ok(cr.uid == (uid_t)-1 && cr.gid == (gid_t)-1 && cr.parent == getpid(),
	   "  keep our uid and gid");
	cfg.user = user;
	if (geteuid() != 0) {
		is_int(spawn_creds_resolve(&cfg, &cr, why, sizeof(why)), -EPERM,
		       "a user without root: -EPERM");
		is_str(why, "user/group need zeroproxy to run as root", "  which says so");
		return;
	}
	is_int(spawn_creds_resolve(&cfg, &cr, why, sizeof(why)), -ENOENT,
	       "a user that does not exist: -ENOENT");
	is_str(why, "user zp-no-such-user: no such user", "  which says so");
	cfg.user = NULL;
	cfg.group = group;
	is_int(spawn_creds_resolve(&cfg, &cr, why, sizeof(why)), -ENOENT,
	       "a group that does not exist: -ENOENT");
	is_str(why, "group zp-no-such-group: no such group", "  which says so");
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int st = fork_blocked(child_signalled_early);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
	   "a SIGTERM pending at the reset kills the child (status 0x%x: %s)", st,
	   WIFEXITED(st) && WEXITSTATUS(st) == 3 ? "our handler ran in the child" : "");

	st = fork_blocked(child_after_reset);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "after the reset no signal is blocked and every handler is SIG_DFL (status 0x%x)", st);

	struct spawn_creds cr = {.uid = (uid_t)-1, .gid = (gid_t)-1, .parent = getpid()};
	test_exec_failures(&cr);
	test_backend_child(&cr);
	test_creds();
	return done_testing();
}
