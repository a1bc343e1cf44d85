/*
 * test-supervisor — the child side of a spawn. zeroproxy forks with every
 * signal blocked; a signal sent to the child before it has reset zeroproxy's
 * handlers (a stop at once after the spawn) must then take its default
 * action when the child unblocks it, never run one of zeroproxy's handlers in
 * the child (which would swallow a SIGTERM and wake the parent's loop).
 */
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "instance.h"
#include "tap.h"

static volatile sig_atomic_t handled;

static void on_signal(int sig)
{
	(void)sig;
	handled = 1;
}

/* Fork with every signal blocked, as instance_spawn() does, and run child in
 * the child; returns its wait status. */
static int fork_blocked(void (*child)(void))
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0) {
		child();
		_exit(0);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	int status = -1;
	while (pid > 0 && waitpid(pid, &status, 0) < 0)
		;
	return status;
}

/* A SIGTERM that arrived before the reset (pending, blocked). */
static void child_signalled_early(void)
{
	raise(SIGTERM);
	instance_child_reset_signals();
	_exit(handled ? 3 : 4); /* the default action ends us before this */
}

/* After the reset: no handler left, nothing blocked. */
static void child_after_reset(void)
{
	instance_child_reset_signals();
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
	return done_testing();
}
