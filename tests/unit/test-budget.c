/*
 * test-budget — the fd budget on its own: how many client connections a
 * limit allows, and when the listeners pause and resume. Real listeners on a
 * real libev loop; whether one accepts is whether its watcher is active.
 */
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "budget.h"
#include "log.h"
#include "tap.h"

#define N_LISTENERS 3

static struct listener *listeners[N_LISTENERS];
static int iterations; /* each_listener calls */

static void each_listener(void *data, void (*fn)(struct listener *l))
{
	(void)data;
	iterations++;
	for (size_t i = 0; i < N_LISTENERS; i++)
		fn(listeners[i]);
}

static bool on_accept(struct listener *l, int fd, const char *peer)
{
	(void)l, (void)peer;
	close(fd);
	return true;
}

static int n_accepting(void)
{
	int n = 0;
	for (size_t i = 0; i < N_LISTENERS; i++)
		n += ev_is_active(&listeners[i]->io);
	return n;
}

int main(void)
{
	log_set_level(LOG_ERR); /* the budget's notices are not TAP */
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	char dir[] = "/tmp/zp-test-budget.XXXXXX";
	if (!loop || !mkdtemp(dir))
		return 99;
	for (size_t i = 0; i < N_LISTENERS; i++) {
		char text[128];
		const char *why = NULL;
		struct addr a;
		snprintf(text, sizeof(text), "unix:%s/l%zu.sock", dir, i);
		if (addr_parse(text, false, false, &a, &why) < 0 ||
		    listener_new(loop, &a, -1, &listeners[i]) < 0)
			return 99;
		listener_start(listeners[i], on_accept, NULL);
	}

	/* The limit the daemon would run with: 64, of which an eighth is kept
	 * in reserve and the fds open now are the daemon's own. */
	struct rlimit old, rl;
	getrlimit(RLIMIT_NOFILE, &old);
	rl = old;
	rl.rlim_cur = 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 99;
	struct conn_budget b;
	budget_init(&b, each_listener, NULL);
	is_int(b.max, 0, "an initialised budget allows nothing before it is sized");
	budget_update(&b, 0);
	unsigned own = 0;
	for (int fd = 0; fd < 64; fd++)
		own += fcntl(fd, F_GETFD) >= 0;
	is_int(b.max, (64 - own - 8) / 2, "limit 64, %u fds open: (64 - %u - 8) / 2 connections",
	       own, own);
	/* Connections open at a reload are not the daemon's own fds. */
	uint32_t max = b.max;
	b.open = 2;
	int extra[4];
	for (size_t i = 0; i < 4; i++)
		extra[i] = dup(0);
	budget_update(&b, 0);
	is_int(b.max, max, "two open connections' four fds do not shrink the budget");
	for (size_t i = 0; i < 4; i++)
		close(extra[i]);
	setrlimit(RLIMIT_NOFILE, &old);

	/* Room for two. */
	b.max = 2;
	b.open = 0;
	budget_conn_opened(&b);
	ok(budget_accept_more(&b), "one of two open: accept more");
	budget_conn_opened(&b);
	ok(!budget_accept_more(&b), "two of two open: the listener is to pause");
	ok(b.throttled, "the budget knows a listener paused");
	is_int(iterations, 0, "an accept past the budget pauses only its own listener");
	listener_throttle(listeners[0]); /* as the listener does when told false */
	is_int(n_accepting(), N_LISTENERS - 1, "the others accept until they are told so");
	budget_conn_opened(&b); /* one of them did, past the budget */
	ok(!budget_accept_more(&b), "three of two open: pause");
	listener_throttle(listeners[1]);
	budget_conn_closed(&b);
	is_int(iterations, 0, "two of two still open: nothing resumes");
	ok(b.throttled, "still throttled");
	budget_conn_closed(&b);
	is_int(iterations, 1, "one of two open: every listener resumes");
	is_int(n_accepting(), N_LISTENERS, "all accept again");
	ok(!b.throttled, "not throttled any more");
	budget_conn_closed(&b);
	is_int(iterations, 1, "a close with room to spare touches no listener");
	is_int(b.open, 0, "every connection counted out");

	/* After a configuration: every listener accepts again; apply pauses
	 * them all while the budget is used up, and resumes them when not. */
	b.open = 2;
	budget_apply(&b);
	is_int(n_accepting(), 0, "applied at two of two: every listener paused");
	ok(b.throttled, "throttled");
	b.max = 3;
	budget_apply(&b);
	is_int(n_accepting(), N_LISTENERS, "applied with a larger budget: all accept again");
	ok(!b.throttled, "not throttled");
	int before = iterations;
	budget_apply(&b);
	is_int(iterations, before, "applied with room, not throttled: no listener touched");

	/* Splice pipes: two fds each, counted like a connection, granted only
	 * while one more connection still fits. */
	b.max = 4;
	b.open = 1;
	ok(budget_pipe_take(&b), "one of four used: a pipe is granted");
	ok(budget_pipe_take(&b), "two of four used: a second pipe too");
	ok(!budget_pipe_take(&b), "three of four used: no pipe for the last slot");
	is_int(b.pipes, 2, "the granted pipes counted");
	ok(budget_accept_more(&b), "one connection and two pipes of four: accept more");
	budget_conn_opened(&b);
	ok(!budget_accept_more(&b), "two connections and two pipes of four: pause");
	listener_throttle(listeners[0]);
	before = iterations;
	budget_pipe_released(&b);
	is_int(iterations, before + 1, "a pipe released with the budget full: listeners resume");
	ok(!b.throttled, "not throttled after the pipe went");
	budget_pipe_released(&b);
	is_int(b.pipes, 0, "every pipe counted out");
	b.open = 0;
	budget_update(&b, 0);
	int max_no_pipes = (int)b.max;
	int p[2];
	ok(pipe(p) == 0 && budget_pipe_take(&b), "a pipe taken and counted");
	budget_update(&b, 0);
	is_int(b.max, max_no_pipes, "a counted pipe's two fds do not shrink the budget");
	budget_pipe_released(&b);
	close(p[0]);
	close(p[1]);

	for (size_t i = 0; i < N_LISTENERS; i++)
		listener_free(listeners[i]);
	rmdir(dir);
	ev_loop_destroy(loop);
	return done_testing();
}
