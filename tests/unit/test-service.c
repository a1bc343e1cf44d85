/*
 * test-service — the service state machine edge by edge, on a real libev
 * loop. The service's listener is a real unix socket that the test's clients
 * connect to, and the backend address a real listening socket of the test,
 * so accept -> pending -> hand-over -> relay run for real. Only the instance
 * is a fake: an instance_driver that records what the service asks of it
 * (spawn, stop, kill, freeze, thaw, free) and lets the test fire ready,
 * failed, exited and gone the way instance.c would.
 *
 * Every scenario checks the states the service went through (its changed()
 * calls) and the invariants that tie timers and connections to states; at
 * the end every legal edge of the table must have been taken, no illegal
 * one, and every impossible (state, event) cell must abort the daemon rather
 * than do something.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "address.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "service-internal.h"
#include "instance.h"
#include "tap.h"
#include "util.h"

#define NO_PID     4194305 /* above any pid_max: /proc knows nothing of it */
#define EXITED(n)  ((n) << 8)
#define KILLED(s)  (s)
#define WAIT_SECS  5.0
#define IDLE_SHORT "300ms"

static struct {
	struct ev_loop *loop;
	char dir[64];
	char front[96]; /* the service's listener */
	char back[96];  /* the fake backend's */
	int back_fd;    /* the fake backend's listening socket */
	struct conn_budget budget;
	struct service_env env;
	struct service *svc;

	/* the fake instance driver */
	struct instance *inst;          /* the live fake instance, or NULL */
	const struct instance_ops *ops; /* what the service gave spawn */
	int spawns, stops, kills, frees, freezes, thaws;
	bool spawn_fails; /* the next spawns fail */
	int leftovers;    /* what wait_gone() answers */

	/* what the service did */
	char trace[512];                   /* states entered, space-separated */
	enum service_state prev;           /* the state before the last move */
	bool took[SVC__COUNT][SVC__COUNT]; /* every move seen, all scenarios */
	bool cells[SVC__COUNT][SE__COUNT]; /* every (state, event) the test fired */
	int drained;                       /* drained() calls */
	int violations;                    /* invariant breaches in this scenario */

	/* the group "gpu" (capacity 1) and another member of it */
	struct group *gpu;
	struct group_member *other;
	bool other_busy;
	int other_evicted, other_admitted;
} T;

/* --- the other member of the group --------------------------------------- */

static bool other_idle(void *owner)
{
	return !T.other_busy;
}

static int other_rank(void *owner)
{
	return 1;
}

static void other_evict(void *owner, const char *group, const char *for_whom)
{
	T.other_evicted++;
}

static void other_admit(void *owner)
{
	T.other_admitted++;
}

static const struct group_member_ops other_ops = {
    .idle = other_idle, .evict_rank = other_rank, .evict = other_evict, .admit = other_admit};

/* The other member takes the whole group (capacity 1), busy. */
static void other_holds(void)
{
	T.other_busy = true;
	if (!group_request(T.other))
		note("the other member did not get the group");
}

/* --- the fake instance driver ------------------------------------------ */

static int fake_spawn(struct ev_loop *loop, const struct service_config *cfg,
		      const struct spawn_env *env, const struct instance_ops *ops, void *data,
		      struct instance **out, char *why, size_t why_len)
{
	T.spawns++;
	T.ops = ops;
	if (T.spawn_fails) {
		snprintf(why, why_len, "fake: no fork today");
		*out = NULL;
		return -EAGAIN;
	}
	struct instance *in = xcalloc(1, sizeof(*in));
	in->cfg = cfg;
	in->loop = loop;
	in->pid = NO_PID;
	in->spawn_usec = now_usec();
	in->spawn_wall_usec = wall_usec();
	in->exec_pipe = in->probe.fd = in->probe.tfd = in->probe.pipe = in->gone_fd = -1;
	in->probe.status = -1;
	in->ops = ops;
	in->data = data;
	T.inst = in;
	*out = in;
	return 0;
}

static void fake_stop(struct instance *in)
{
	if (in->frozen)
		T.violations++, note("stop of a frozen instance: it could not handle the signal");
	T.stops++;
	in->stopping = true;
}

static void fake_kill(struct instance *in)
{
	T.kills++;
	in->stopping = in->killed = true;
}

static bool fake_child_exited(struct instance *in, pid_t pid, int status, const struct rusage *ru)
{
	return false;
}

static int fake_wait_gone(struct instance *in)
{
	return T.leftovers;
}

static void fake_notify_ready(struct instance *in)
{
}

static void fake_freeze(struct instance *in)
{
	if (in->frozen || in->reaped)
		T.violations++, note("freeze of a frozen or reaped instance");
	T.freezes++;
	in->frozen = true;
}

static void fake_thaw(struct instance *in)
{
	if (!in->frozen)
		T.violations++, note("thaw of an instance that is not frozen");
	T.thaws++;
	in->frozen = false;
}

static void fake_free(struct instance *in)
{
	if (in != T.inst)
		T.violations++, note("free of an instance that is not the live one");
	T.frees++;
	free(in);
	T.inst = NULL;
}

static const struct instance_driver fake_driver = {
    .spawn = fake_spawn,
    .stop = fake_stop,
    .kill = fake_kill,
    .child_exited = fake_child_exited,
    .wait_gone = fake_wait_gone,
    .notify_ready = fake_notify_ready,
    .freeze = fake_freeze,
    .thaw = fake_thaw,
    .free = fake_free,
};

/* What instance.c does, for the live instance. */
/* The test fires event e in the current state. */
static void cell(enum service_event e)
{
	T.cells[T.svc->state][e] = true;
}

static void fire_ready(int probe_fd)
{
	struct instance *in = T.inst;
	cell(SE_READY);
	in->ready = true;
	in->ready_usec = now_usec();
	in->ops->ready(in, probe_fd);
}

static void fire_failed(const char *reason)
{
	struct instance *in = T.inst;
	cell(SE_FAILED);
	in->ops->failed(in, reason);
	in->stopping = true; /* instance_fail() stops it itself */
}

static void fire_exit(int status)
{
	struct instance *in = T.inst;
	struct rusage ru = {0};
	cell(SE_EXITED);
	in->reaped = in->stopping = true;
	in->exit_usec = now_usec();
	in->wait_status = status;
	in->rusage = ru;
	char how[64];
	format_wait_status(status, false, how, sizeof(how));
	in->ops->exited(in, how);
}

static void fire_gone(void)
{
	cell(SE_GONE);
	T.inst->ops->gone(T.inst);
}

static void cmd_start(void)
{
	cell(SE_START);
	service_start(T.svc, "zeroproxy start");
}

static void cmd_stop(void)
{
	cell(SE_STOP);
	service_stop(T.svc, "zeroproxy stop");
}

static void cmd_shutdown(void)
{
	cell(SE_STOP);
	service_shutdown(T.svc);
}

/* --- the service's environment ------------------------------------------ */

static void on_changed(void *data)
{
	enum service_state s = T.svc->state;
	T.took[T.prev][s] = true;
	T.prev = s;
	size_t len = strlen(T.trace);
	snprintf(T.trace + len, sizeof(T.trace) - len, "%s%s", len ? " " : "",
		 service_state_to_string(s));
}

static void on_conns_changed(void *data)
{
}

static void on_drained(void *data, struct service *svc)
{
	T.drained++;
}

/* --- the loop ---------------------------------------------------------- */

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* One loop iteration, at most 10 ms. */
static void step(void)
{
	ev_timer tick;
	ev_timer_init(&tick, on_tick, 0.01, 0);
	ev_timer_start(T.loop, &tick);
	ev_run(T.loop, EVRUN_ONCE);
	ev_timer_stop(T.loop, &tick);
}

/* Run the loop until cond holds (at most WAIT_SECS); the value of cond. */
#define RUN_UNTIL(cond)                                                                            \
	({                                                                                         \
		double until_ = ev_time() + WAIT_SECS;                                             \
		bool held_;                                                                        \
		while (!(held_ = (cond)) && ev_time() < until_)                                    \
			step();                                                                    \
		held_;                                                                             \
	})

static void run_for(double seconds)
{
	double until = ev_time() + seconds;
	while (ev_time() < until)
		step();
}

/* --- sockets ------------------------------------------------------------ */

static unsigned n_pending(void)
{
	return T.svc->queue.n_pending;
}

static unsigned n_active(void)
{
	return T.svc->queue.n_active;
}

/* A client of the service, connected and accepted. */
static int client_connect(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", T.front);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		note("connect %s: %s", T.front, strerror(errno));
	fd_set_nonblock(fd, true);
	if (now_usec() >= T.svc->backoff_until_usec)
		cell(SE_CONNECT); /* (the back-off refuses before the table) */
	uint64_t total = T.svc->usage.connections_total;
	if (!RUN_UNTIL(T.svc->usage.connections_total > total))
		note("the service did not accept the client");
	return fd;
}

/* The next connection the service made to the backend, or -1. */
static int backend_accept(void)
{
	int fd = -1;
	RUN_UNTIL((fd = accept4(T.back_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0);
	return fd;
}

/* Whether fd was closed by the other side (EOF; anything read is dropped). */
static bool closed_by_peer(int fd)
{
	char buf[64];
	ssize_t n;
	return RUN_UNTIL((n = recv(fd, buf, sizeof(buf), 0)) == 0 ||
			 (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK));
}

/* Whether the bytes of s written on from arrive on to. */
static bool relays(int from, int to, const char *s)
{
	char buf[64] = "";
	if (write(from, s, strlen(s)) != (ssize_t)strlen(s))
		return false;
	size_t got = 0;
	ssize_t n;
	RUN_UNTIL((n = recv(to, buf + got, sizeof(buf) - 1 - got, 0)) > 0 &&
		  (got += (size_t)n) >= strlen(s));
	return got == strlen(s) && memcmp(buf, s, got) == 0;
}

/* End a relayed connection from both ends. */
static void hang_up(int client, int backend)
{
	close(client);
	close(backend);
}

/* --- scenarios ------------------------------------------------------------ */

static void check_invariants(const char *where)
{
	struct service *svc = T.svc;
	enum service_state s = svc->state;
	bool none = s == SVC_STOPPED || s == SVC_FAILED;
	const char *bad = NULL;
	if ((none || s == SVC_WAITING) != (svc->inst == NULL))
		bad = "an instance exactly while starting, running or stopping";
	else if (svc->gm && group_member_holds(svc->gm) != (svc->inst != NULL))
		bad = "the group's weight held exactly while there is an instance";
	else if (svc->gm && group_member_waiting(svc->gm) != (s == SVC_WAITING))
		bad = "waiting in the group exactly while waiting";
	else if (group_used(T.gpu) > group_capacity(T.gpu))
		bad = "the group within its capacity";
	else if (ev_is_active(&svc->idle_timer) &&
		 ((s != SVC_RUNNING && s != SVC_FROZEN) || n_active() + n_pending()))
		bad = "the idle timer only while running or frozen without connections";
	else if (ev_is_active(&svc->freeze_timer) && (s != SVC_RUNNING || n_active() + n_pending()))
		bad = "the freeze timer only while running without connections";
	else if (svc->inst && !svc->inst->reaped && svc->inst->frozen != (s == SVC_FROZEN))
		bad = "the instance frozen exactly while frozen";
	else if (ev_is_active(&svc->queue.fd_retry_timer) && s != SVC_RUNNING)
		bad = "the fd retry timer only while running";
	else if (svc->queue.open != (s == SVC_RUNNING))
		bad = "the queue hands over exactly while running";
	else if (!!ev_is_active(&svc->checkpoint_timer) != (svc->inst != NULL))
		bad = "the usage checkpoint exactly while there is an instance";
	else if (none && n_pending())
		bad = "no connection waits while stopped or failed";
	if (bad) {
		T.violations++;
		note("%s: in state %s: %s", where, service_state_to_string(s), bad);
	}
}

/* The states entered since the last call, space-separated. */
static bool trace_is(const char *want, const char *what)
{
	bool r = is_str(T.trace, want, "%s", what);
	T.trace[0] = '\0';
	return r;
}

static struct service_config *write_config(const char *idle_timeout, const char *extra)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/web.conf", T.dir);
	FILE *f = fopen(path, "w");
	fprintf(f,
		"[service]\nlisten = unix:%s\nidle_timeout = %s\n%s\n"
		"[backend]\nexec = /bin/true\naddress = unix:%s\n",
		T.front, idle_timeout, extra ? extra : "", T.back);
	fclose(f);
	struct diag d = {0};
	struct service_config *cfg = service_config_load(path, "web", &d);
	for (size_t i = 0; i < d.n_errors; i++)
		note("config: %s", d.errors[i]);
	diag_free(&d);
	return cfg;
}

static struct listener **listeners_for(const struct service_config *cfg)
{
	struct listener **ls = xcalloc(cfg->n_listen, sizeof(*ls));
	for (size_t i = 0; i < cfg->n_listen; i++) {
		int err = listener_new(T.loop, &cfg->listen[i], -1, &ls[i]);
		if (err < 0)
			note("listen %s: %s", cfg->listen[i].text, strerror(-err));
	}
	return ls;
}

static void setup(const char *idle_timeout, const char *extra)
{
	struct service_config *cfg = write_config(idle_timeout, extra);
	T.spawns = T.stops = T.kills = T.frees = T.drained = T.violations = 0;
	T.freezes = T.thaws = 0;
	T.spawn_fails = false;
	T.leftovers = 0;
	T.trace[0] = '\0';
	T.prev = SVC_STOPPED;
	T.svc = service_new(&T.env, cfg, listeners_for(cfg), -1);
}

/* Bring the service down (no instance), free it, check the invariants. */
static void teardown(const char *scenario)
{
	if (T.inst) {
		cell(SE_STOP);
		service_stop(T.svc, "end of the scenario");
		T.leftovers = 0;
		if (!T.inst->reaped)
			fire_exit(KILLED(SIGTERM));
		else
			fire_gone();
	}
	check_invariants(scenario);
	service_free(T.svc);
	T.svc = NULL;
	T.other_busy = false;
	group_release(T.other);
	char path[256];
	snprintf(path, sizeof(path), "%s/web.usage", T.dir);
	unlink(path);
	is_int(T.violations, 0, "%s: the invariants held after every step", scenario);
}

static void scenario_cold_start(void)
{
	setup(IDLE_SHORT, NULL);
	int c1 = client_connect();
	check_invariants("connection");
	ok(T.svc->state == SVC_STARTING && T.spawns == 1 && n_pending() == 1,
	   "a connection while stopped spawns an instance and waits");
	int c2 = client_connect();
	check_invariants("second connection");
	ok(T.svc->state == SVC_STARTING && T.spawns == 1 && n_pending() == 2,
	   "another connection while starting waits too");
	fire_ready(-1);
	check_invariants("ready");
	ok(T.svc->state == SVC_RUNNING && n_active() == 2 && n_pending() == 0,
	   "ready: running, both waiting connections handed over");
	int b1 = backend_accept(), b2 = backend_accept();
	ok(b1 >= 0 && b2 >= 0, "both reached the backend");
	ok(relays(b1, c1, "hello"), "the first client waited first and got the first backend");
	ok(relays(c2, b2, "up"), "bytes flow the other way too");
	int c3 = client_connect();
	ok(T.svc->state == SVC_RUNNING && n_active() == 3 && n_pending() == 0,
	   "a connection while running is relayed at once");
	int b3 = backend_accept();
	check_invariants("third connection");
	ok(!ev_is_active(&T.svc->idle_timer), "no idle timer while connections are open");
	hang_up(c1, b1);
	hang_up(c2, b2);
	hang_up(c3, b3);
	ok(RUN_UNTIL(n_active() == 0) && ev_is_active(&T.svc->idle_timer),
	   "the last connection gone: the idle timer runs");
	check_invariants("idle");
	T.cells[SVC_RUNNING][SE_IDLE] = true;
	ok(RUN_UNTIL(T.svc->state == SVC_STOPPING) && T.stops == 1,
	   "idle_timeout: stopping, the instance asked to stop");
	check_invariants("idle stop");
	fire_exit(KILLED(SIGTERM));
	ok(T.svc->state == SVC_STOPPED && T.frees == 1 && !T.svc->inst,
	   "exit while stopping: stopped, the instance freed");
	is_str(T.svc->usage.last_exit, "killed by SIGTERM", "last_exit recorded");
	trace_is("starting running stopping stopped", "cold start: the states in order");
	teardown("cold start");
}

static void scenario_stop_while_starting(void)
{
	setup(IDLE_SHORT, NULL);
	cmd_stop();
	ok(T.svc->state == SVC_STOPPED && T.spawns == 0, "stop while stopped: nothing");
	cmd_start();
	ok(T.svc->state == SVC_STARTING && T.spawns == 1, "start while stopped: starting");
	cmd_start();
	ok(T.svc->state == SVC_STARTING && T.spawns == 1, "start while starting: nothing more");
	int c1 = client_connect();
	uint64_t refused = T.svc->usage.connections_refused;
	cmd_stop();
	check_invariants("stop while starting");
	ok(T.svc->state == SVC_STOPPING && T.stops == 1, "stop while starting: stopping");
	ok(T.svc->usage.connections_refused == refused + 1 && closed_by_peer(c1),
	   "the waiting connection is refused");
	cmd_stop();
	ok(T.svc->state == SVC_STOPPING && T.stops == 1, "stop while stopping: nothing more");
	fire_exit(KILLED(SIGTERM));
	check_invariants("exit");
	ok(T.svc->state == SVC_STOPPED && T.spawns == 1, "the exit ends it: stopped, no respawn");
	trace_is("starting stopping stopped", "stop while starting: the states in order");
	close(c1);
	teardown("stop while starting");
}

static void scenario_start_while_stopping(void)
{
	setup(IDLE_SHORT, NULL);
	cmd_start();
	fire_ready(-1);
	cmd_start();
	ok(T.svc->state == SVC_RUNNING && T.spawns == 1, "start while running: nothing");
	cmd_stop();
	ok(T.svc->state == SVC_STOPPING, "stop while running: stopping");
	cmd_start();
	ok(T.svc->state == SVC_STOPPING && T.spawns == 1,
	   "start while stopping: deferred until the old instance is gone");
	fire_exit(EXITED(0));
	check_invariants("exit");
	ok(T.svc->state == SVC_STARTING && T.spawns == 2 && T.frees == 1,
	   "the exit: stopped, and the deferred start spawns the next instance");
	trace_is("starting running stopping stopped starting",
		 "start while stopping: the states in order");
	teardown("start while stopping");
}

static void scenario_connect_while_stopping(void)
{
	setup(IDLE_SHORT, NULL);
	cmd_start();
	fire_ready(-1);
	cmd_stop();
	int c1 = client_connect();
	check_invariants("connection while stopping");
	ok(T.svc->state == SVC_STOPPING && n_pending() == 1 && T.spawns == 1,
	   "a connection while stopping waits");
	fire_exit(EXITED(0));
	ok(T.svc->state == SVC_STARTING && T.spawns == 2,
	   "the exit: the waiting connection starts the next instance");
	fire_ready(-1);
	int b1 = backend_accept();
	ok(n_active() == 1 && relays(b1, c1, "next"), "and is served by it");
	trace_is("starting running stopping stopped starting running",
		 "connection while stopping: the states in order");
	hang_up(c1, b1);
	RUN_UNTIL(n_active() == 0);
	teardown("connection while stopping");
}

static void scenario_crash(void)
{
	setup(IDLE_SHORT, NULL);
	int c1 = client_connect();
	fire_ready(-1);
	int b1 = backend_accept();
	ok(relays(b1, c1, "served"), "the instance served a client");
	cmd_stop();
	fire_exit(KILLED(SIGSEGV));
	close(b1); /* its sockets go with it */
	check_invariants("crash while stopping");
	ok(T.svc->state == SVC_STOPPED && T.svc->failures == 0,
	   "a crash while stopping is a stop: stopped, not failed");
	trace_is("starting running stopping stopped", "crash while stopping: the states");
	ok(closed_by_peer(c1), "its client was cut");
	close(c1);
	RUN_UNTIL(n_active() == 0);

	c1 = client_connect();
	fire_ready(-1);
	b1 = backend_accept();
	ok(relays(b1, c1, "served"), "the next instance served a client");
	fire_exit(KILLED(SIGSEGV));
	close(b1);
	check_invariants("crash while running");
	ok(T.svc->state == SVC_STOPPED && T.svc->failures == 0,
	   "a crash while running after serving: stopped, not failed");
	trace_is("starting running stopped", "crash while running: the states");
	ok(closed_by_peer(c1), "its client was cut");
	close(c1);
	RUN_UNTIL(n_active() == 0);
	teardown("crash");
}

static void scenario_unproven_exit(void)
{
	setup(IDLE_SHORT, NULL);
	cmd_start();
	fire_ready(-1);
	fire_exit(EXITED(0));
	check_invariants("unproven exit");
	ok(T.svc->state == SVC_FAILED && T.svc->failures == 1 && T.svc->backoff_until_usec,
	   "an exit at once after ready without serving: failed, with a back-off");
	uint64_t refused = T.svc->usage.connections_refused;
	int c1 = client_connect();
	ok(T.svc->state == SVC_FAILED && T.spawns == 1 &&
	       T.svc->usage.connections_refused == refused + 1 && closed_by_peer(c1),
	   "a connection during the back-off is refused and starts nothing");
	close(c1);
	cmd_stop();
	ok(T.svc->state == SVC_FAILED && T.spawns == 1, "stop while failed: nothing");
	cmd_start();
	ok(T.svc->state == SVC_STARTING && T.spawns == 2 && !T.svc->backoff_until_usec,
	   "start while failed: starting, the back-off cleared");
	fire_ready(-1);
	fire_exit(EXITED(0));
	ok(T.svc->state == SVC_FAILED && T.svc->failures == 1, "failed again");
	T.svc->backoff_until_usec = 0; /* as if the back-off had passed */
	c1 = client_connect();
	check_invariants("connection after the back-off");
	ok(T.svc->state == SVC_STARTING && n_pending() == 1,
	   "a connection after the back-off starts the next instance");
	trace_is("starting running failed starting running failed starting",
		 "unproven exits: the states");
	teardown("unproven exit");
	close(c1);
}

static void scenario_failed_start(void)
{
	setup(IDLE_SHORT, NULL);
	cmd_start();
	int c1 = client_connect();
	fire_failed("not ready after 30s");
	check_invariants("failed");
	ok(T.svc->state == SVC_STOPPING && closed_by_peer(c1),
	   "failed while starting: stopping, the waiting client refused");
	fire_exit(KILLED(SIGTERM));
	check_invariants("exit after failed");
	ok(T.svc->state == SVC_FAILED && T.svc->failures == 1, "its exit: failed");
	is_str(T.svc->last_error, "start failed: not ready after 30s", "last_error says why");
	trace_is("starting stopping failed", "failed start: the states");
	close(c1);

	cmd_start();
	cmd_stop();
	fire_failed("exec /nonexistent: No such file or directory");
	ok(T.svc->state == SVC_STOPPING, "failed while stopping: still stopping");
	fire_exit(EXITED(127));
	ok(T.svc->state == SVC_FAILED, "its exit: failed, the stop notwithstanding");
	trace_is("starting stopping failed", "failed while stopping: no extra state");

	cmd_start();
	fire_ready(-1);
	fire_failed("exec /x: No such file or directory");
	ok(T.svc->state == SVC_STOPPING, "failed while running (a late exec report): stopping");
	fire_exit(EXITED(127));
	ok(T.svc->state == SVC_FAILED, "its exit: failed");
	trace_is("starting running stopping failed", "failed while running: the states");

	cmd_start();
	c1 = client_connect();
	fire_exit(EXITED(1));
	check_invariants("exit before ready");
	ok(T.svc->state == SVC_FAILED && closed_by_peer(c1),
	   "exit before ready: failed, the waiting client refused");
	trace_is("starting failed", "exit before ready: the states");
	close(c1);
	teardown("failed start");
}

static void scenario_spawn_failure(void)
{
	setup(IDLE_SHORT, NULL);
	T.spawn_fails = true;
	int c1 = client_connect();
	check_invariants("spawn failure");
	ok(T.svc->state == SVC_FAILED && !T.svc->inst && closed_by_peer(c1),
	   "a spawn that fails: failed at once, the client refused");
	cmd_start();
	ok(T.svc->state == SVC_FAILED && T.spawns == 2, "start, and it fails again: failed");
	is_str(T.svc->last_error, "start failed: fake: no fork today", "last_error says why");
	trace_is("failed failed", "spawn failures: the states");
	close(c1);
	teardown("spawn failure");
}

static void scenario_leftovers(void)
{
	setup(IDLE_SHORT, NULL);
	cmd_start();
	fire_ready(-1);
	cmd_stop();
	T.leftovers = 1;
	fire_exit(KILLED(SIGTERM));
	check_invariants("exit with leftovers");
	ok(T.svc->state == SVC_STOPPING && T.frees == 0 && T.svc->inst && T.svc->inst->reaped,
	   "the main process exits, others are left: still stopping, the instance kept");
	int c1 = client_connect();
	ok(n_pending() == 1 && T.spawns == 1, "a connection meanwhile waits; nothing is spawned");
	T.leftovers = 0;
	fire_gone();
	check_invariants("gone");
	ok(T.svc->state == SVC_STARTING && T.frees == 1 && T.spawns == 2,
	   "the last one gone: stopped, and the next instance starts for the waiting client");
	trace_is("starting running stopping stopped starting", "leftovers after a stop: states");
	cmd_stop();
	fire_exit(KILLED(SIGTERM));
	close(c1);

	cmd_start();
	c1 = client_connect();
	fire_ready(-1);
	int b1 = backend_accept();
	ok(relays(b1, c1, "served"), "an instance that served");
	T.leftovers = 1;
	fire_exit(EXITED(0));
	ok(T.svc->state == SVC_STOPPING, "exits while running with processes left: stopping");
	fire_gone();
	ok(T.svc->state == SVC_STOPPED, "the last one gone: stopped");
	trace_is("stopping stopped starting running stopping stopped",
		 "leftovers after an exit: states");
	close(c1);
	close(b1);
	RUN_UNTIL(n_active() == 0);

	cmd_start();
	fire_exit(EXITED(1));
	ok(T.svc->state == SVC_STOPPING, "exits before ready with processes left: stopping");
	fire_gone();
	ok(T.svc->state == SVC_FAILED, "the last one gone: failed");
	trace_is("starting stopping failed", "leftovers of a failed start: states");
	T.leftovers = 0;
	teardown("leftovers");
}

static void scenario_reload_while_starting(void)
{
	setup("1h", NULL);
	cmd_start();
	const struct service_config *old = T.svc->cfg;
	struct listener **ls;
	size_t n;
	int bfd;
	service_take_sockets(T.svc, &ls, &n, &bfd);
	struct service_config *cfg = write_config("200ms", NULL);
	service_reconfigure(T.svc, cfg, ls, bfd);
	check_invariants("reload while starting");
	ok(T.svc->state == SVC_STARTING && T.svc->cfg == cfg && T.svc->inst_cfg == old,
	   "reload while starting: still starting, the instance keeps its config");
	int c1 = client_connect();
	ok(n_pending() == 1, "the listener still accepts after the reload");
	fire_ready(-1);
	int b1 = backend_accept();
	ok(relays(b1, c1, "after reload"), "ready: the waiting client is served");
	hang_up(c1, b1);
	RUN_UNTIL(n_active() == 0);
	/* The 200 ms timer runs (remaining is (now + 0.2) - now in floating
	 * point: a hair over 0.2 at times), or on a slow machine it has fired
	 * already; the old 1 h would have done neither. */
	ok((ev_is_active(&T.svc->idle_timer) &&
	    ev_timer_remaining(T.loop, &T.svc->idle_timer) < 0.25) ||
	       T.svc->state == SVC_STOPPING,
	   "the new idle_timeout applies");
	ok(RUN_UNTIL(T.svc->state == SVC_STOPPING), "and stops it");
	fire_exit(KILLED(SIGTERM));
	ok(T.svc->state == SVC_STOPPED && !T.svc->inst_cfg, "stopped, the old config freed");
	trace_is("starting running stopping stopped", "reload while starting: states");
	teardown("reload while starting");
}

static void scenario_idle_vs_connection(void)
{
	setup(IDLE_SHORT, NULL);
	cmd_start();
	fire_ready(-1);
	ok(ev_is_active(&T.svc->idle_timer), "running without clients: the idle timer runs");
	int c1 = client_connect();
	ok(!ev_is_active(&T.svc->idle_timer), "a connection stops it");
	int b1 = backend_accept();
	run_for(0.5);
	ok(T.svc->state == SVC_RUNNING, "past the idle_timeout with a client: still running");
	hang_up(c1, b1);
	ok(RUN_UNTIL(n_active() == 0) && ev_is_active(&T.svc->idle_timer),
	   "the client gone: the idle timer runs again");
	trace_is("starting running", "idle vs connection: running throughout");

	/* The idle timer expires and a client arrives in the same loop
	 * iteration: whichever runs first, the client is served. */
	uint64_t refused = T.svc->usage.connections_refused;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", T.front);
	connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	fd_set_nonblock(fd, true);
	usleep(400 * 1000);
	step();
	check_invariants("idle and a connection at once");
	if (T.svc->state == SVC_STOPPING) {
		note("the idle timer ran first");
		ok(n_pending() == 1, "the connection waits for the next instance");
		fire_exit(KILLED(SIGTERM));
		ok(T.svc->state == SVC_STARTING, "which the exit starts");
		fire_ready(-1);
	} else {
		note("the connection came first");
		ok(T.svc->state == SVC_RUNNING && !ev_is_active(&T.svc->idle_timer),
		   "the connection stopped the idle timer");
		ok(true, "(nothing to wait for)");
	}
	b1 = backend_accept();
	ok(b1 >= 0 && relays(b1, fd, "served") && T.svc->usage.connections_refused == refused,
	   "the client is served, not refused");
	hang_up(fd, b1);
	RUN_UNTIL(n_active() == 0);
	T.trace[0] = '\0';
	teardown("idle vs connection");
}

static void scenario_retire(void)
{
	setup(IDLE_SHORT, NULL);
	int c1 = client_connect();
	fire_ready(-1);
	int b1 = backend_accept();
	service_retire(T.svc);
	check_invariants("retire");
	ok(T.svc->state == SVC_RUNNING && T.svc->n_listeners == 0 && T.drained == 0,
	   "removed by a reload: the listeners closed, the connection kept, running");
	ok(relays(b1, c1, "still"), "the connection still relays");
	hang_up(c1, b1);
	ok(RUN_UNTIL(T.svc->state == SVC_STOPPING) && T.stops == 1,
	   "its last connection gone: stopping");
	fire_exit(KILLED(SIGTERM));
	ok(T.svc->state == SVC_STOPPED && T.drained == 1, "its exit: stopped and drained");
	trace_is("starting running stopping stopped", "retire: the states");
	teardown("retire");

	setup(IDLE_SHORT, NULL);
	service_retire(T.svc);
	ok(T.drained == 1 && T.spawns == 0, "removed while stopped: drained at once");
	teardown("retire while stopped");
}

static void scenario_shutdown(void)
{
	setup(IDLE_SHORT, NULL);
	int c1 = client_connect();
	cmd_shutdown();
	check_invariants("shutdown");
	ok(T.svc->state == SVC_STOPPING && closed_by_peer(c1),
	   "shutdown while starting: stopping, the waiting client refused");
	fire_exit(KILLED(SIGTERM));
	ok(T.svc->state == SVC_STOPPED && T.spawns == 1, "its exit: stopped, nothing respawned");
	trace_is("starting stopping stopped", "shutdown: the states");
	close(c1);
	teardown("shutdown");

	setup(IDLE_SHORT, NULL);
	cmd_start();
	fire_ready(-1);
	cmd_stop();
	cmd_start();
	cmd_shutdown();
	fire_exit(KILLED(SIGTERM));
	ok(T.svc->state == SVC_STOPPED && T.spawns == 1,
	   "shutdown cancels a start that waits for the old instance");
	T.trace[0] = '\0';
	teardown("shutdown while stopping");
}

/* A member of a full group waits for room: its connections wait, the idle
 * holder is stopped for it, and it starts once the holder is gone. */
static void scenario_group(void)
{
	setup(IDLE_SHORT, "group = gpu\npending_timeout = 300ms");
	other_holds();
	int c1 = client_connect();
	ok(T.svc->state == SVC_WAITING && T.spawns == 0 && n_pending() == 1,
	   "connection, group full: waiting, nothing spawned, the client waits");
	ok(T.other_evicted == 0, "the busy holder is not stopped");
	int c2 = client_connect();
	ok(T.svc->state == SVC_WAITING && n_pending() == 2, "another connection waits too");
	cmd_start();
	ok(T.svc->state == SVC_WAITING && T.svc->start_requested,
	   "start while waiting: deferred until there is room");
	T.other_busy = false;
	group_member_idle(T.other);
	ok(T.other_evicted == 1 && T.svc->state == SVC_WAITING,
	   "the holder becomes idle: it is stopped, we still wait for it to be gone");
	check_invariants("evicting");
	cell(SE_ROOM);
	group_release(T.other);
	ok(T.svc->state == SVC_STARTING && T.spawns == 1 && !T.svc->start_requested,
	   "the holder gone: room, starting");
	fire_ready(-1);
	int b1 = backend_accept(), b2 = backend_accept();
	ok(n_active() == 2 && relays(c1, b1, "one") && relays(c2, b2, "two"),
	   "both clients relayed");
	trace_is("waiting starting running", "waiting for room: the states");
	hang_up(c1, b1);
	hang_up(c2, b2);
	RUN_UNTIL(n_active() == 0);
	cmd_stop();
	fire_exit(KILLED(SIGTERM));
	ok(T.svc->state == SVC_STOPPED && !group_member_holds(T.svc->gm),
	   "the instance gone: the weight is free");
	T.trace[0] = '\0';

	/* STOP while waiting: the wait ends, the client is refused. */
	other_holds();
	int c3 = client_connect();
	ok(T.svc->state == SVC_WAITING, "waiting again");
	cmd_stop();
	ok(T.svc->state == SVC_STOPPED && closed_by_peer(c3) && !group_member_waiting(T.svc->gm),
	   "stop while waiting: stopped, the client refused, no longer in the group's queue");
	/* pending_timeout: nothing waits any more, so the service does not. */
	int c4 = client_connect();
	ok(T.svc->state == SVC_WAITING, "waiting once more");
	ok(RUN_UNTIL(T.svc->state == SVC_STOPPED) && closed_by_peer(c4),
	   "its only client times out: stopped");
	trace_is("waiting stopped waiting stopped", "waits that end: the states");

	/* Failed, then waiting; the spawn fails when room comes: failed, and
	 * the weight is back. */
	T.other_busy = false;
	group_release(T.other);
	T.spawn_fails = true;
	cmd_start();
	ok(T.svc->state == SVC_FAILED && group_used(T.gpu) == 0, "a failed spawn holds no weight");
	other_holds();
	cmd_start();
	ok(T.svc->state == SVC_WAITING, "failed, then start with the group full: waiting");
	int c5 = client_connect();
	ok(closed_by_peer(c5) && T.svc->state == SVC_WAITING && n_pending() == 0,
	   "a client that gives up meanwhile does not end a waiting start");
	close(c5);
	T.other_busy = false;
	group_member_idle(T.other);
	cell(SE_ROOM);
	group_release(T.other);
	ok(T.svc->state == SVC_FAILED && group_used(T.gpu) == 0 && T.spawns == 3,
	   "room, but the spawn fails: failed, the weight is free again");
	T.spawn_fails = false;
	trace_is("failed waiting failed", "waiting and failing: the states");
	close(c1);
	close(c2);
	close(c3);
	close(c4);
	teardown("group");
}

static void scenario_probe_handover(void)
{
	setup(IDLE_SHORT, NULL);
	int c1 = client_connect();
	bool in_progress;
	struct addr a;
	const char *err;
	char text[160];
	snprintf(text, sizeof(text), "unix:%s", T.back);
	addr_parse(text, false, false, &a, &err);
	int probe = addr_connect(&a, &in_progress);
	int b1 = backend_accept();
	fire_ready(probe);
	ok(n_active() == 1 && relays(b1, c1, "probe"),
	   "ready with a probe connection: the waiting client gets it");
	int another = accept4(T.back_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ok(another < 0, "and no second connection is made");
	hang_up(c1, b1);
	RUN_UNTIL(n_active() == 0);
	T.trace[0] = '\0';
	teardown("probe hand-over");
}

/* Running with no client for freeze_after: frozen (and back). */
static bool frozen_again(void)
{
	cell(SE_FREEZE);
	return RUN_UNTIL(T.svc->state == SVC_FROZEN);
}

static void scenario_freeze(void)
{
	setup("1s", "freeze_after = 100ms");
	int c1 = client_connect();
	fire_ready(-1);
	int b1 = backend_accept();
	ok(relays(b1, c1, "cold"), "a cold start serves the first client");
	run_for(0.2);
	ok(T.svc->state == SVC_RUNNING && T.freezes == 0, "no freeze while a client is connected");
	hang_up(c1, b1);
	ok(RUN_UNTIL(n_active() == 0) && ev_is_active(&T.svc->freeze_timer) &&
	       ev_is_active(&T.svc->idle_timer),
	   "the last client gone: the freeze and idle timers run");
	ok(frozen_again() && T.freezes == 1 && T.inst->frozen, "freeze_after: frozen");
	check_invariants("frozen");
	ok(ev_is_active(&T.svc->idle_timer) && !ev_is_active(&T.svc->freeze_timer),
	   "frozen: the idle timer goes on, the freeze timer is done");

	uint64_t starts = T.svc->usage.cold_starts;
	c1 = client_connect();
	check_invariants("connection while frozen");
	ok(T.svc->state == SVC_RUNNING && T.thaws == 1 && T.svc->usage.thaws == 1 &&
	       T.spawns == 1 && n_active() == 1,
	   "a connection while frozen: thawed and relayed at once, no new instance");
	b1 = backend_accept();
	ok(relays(b1, c1, "thawed"), "the thawed instance serves it");
	ok(T.svc->usage.last_thaw_usec > 0 && !T.svc->thaw_pending,
	   "its first byte is the thaw time (%llu us)",
	   (unsigned long long)T.svc->usage.last_thaw_usec);
	ok(T.svc->usage.cold_starts == starts && T.svc->usage.start_count == 1,
	   "a thaw is no cold start");
	hang_up(c1, b1);
	RUN_UNTIL(n_active() == 0);
	ok(frozen_again(), "idle again: frozen again");

	cmd_start();
	check_invariants("start while frozen");
	ok(T.svc->state == SVC_RUNNING && T.thaws == 2 && ev_is_active(&T.svc->freeze_timer),
	   "zeroproxy start while frozen: thawed, the freeze timer from now");
	ok(frozen_again(), "and frozen again after freeze_after");

	T.cells[SVC_FROZEN][SE_IDLE] = true;
	ok(RUN_UNTIL(T.svc->state == SVC_STOPPING) && T.stops == 1 && T.thaws == 3,
	   "idle_timeout while frozen: thawed, then asked to stop");
	fire_exit(KILLED(SIGTERM));
	ok(T.svc->state == SVC_STOPPED, "its exit: stopped");
	ok(T.svc->usage.frozen_usec >= 150000 && T.svc->usage.frozen_usec < 2000000,
	   "frozen time metered (%llu us)", (unsigned long long)T.svc->usage.frozen_usec);
	trace_is("starting running frozen running frozen running frozen stopping stopped",
		 "freeze: the states in order");

	/* The other ways out of frozen. */
	cmd_start();
	fire_ready(-1);
	ok(frozen_again(), "frozen");
	cmd_stop();
	ok(T.svc->state == SVC_STOPPING && !T.inst->frozen && T.stops == 2,
	   "zeroproxy stop while frozen: thawed, then stopped");
	fire_exit(KILLED(SIGTERM));

	cmd_start();
	fire_ready(-1);
	ok(frozen_again(), "frozen");
	fire_failed("exec /x: No such file or directory");
	check_invariants("failed while frozen");
	ok(T.svc->state == SVC_STOPPING && !T.inst->frozen,
	   "failed while frozen: thawed, stopping");
	fire_exit(EXITED(127));
	ok(T.svc->state == SVC_FAILED, "its exit: failed");
	T.svc->backoff_until_usec = 0;

	cmd_start();
	fire_ready(-1);
	ok(frozen_again(), "frozen");
	fire_exit(EXITED(0));
	check_invariants("exit while frozen, unproven");
	ok(T.svc->state == SVC_FAILED, "an unproven instance killed while frozen: failed");
	T.svc->backoff_until_usec = 0;

	c1 = client_connect();
	fire_ready(-1);
	b1 = backend_accept();
	ok(relays(b1, c1, "served"), "an instance that served");
	hang_up(c1, b1);
	RUN_UNTIL(n_active() == 0);
	ok(frozen_again(), "frozen");
	fire_exit(KILLED(SIGKILL));
	check_invariants("exit while frozen");
	ok(T.svc->state == SVC_STOPPED && T.frees == 5,
	   "a proven instance killed while frozen: stopped, freed");
	trace_is("starting running frozen stopping stopped starting running frozen stopping failed "
		 "starting running frozen failed starting running frozen stopped",
		 "the ways out of frozen");
	teardown("freeze");

	/* Shutdown and reload. */
	setup("1s", "freeze_after = 50ms");
	cmd_start();
	fire_ready(-1);
	ok(frozen_again(), "frozen");
	struct listener **ls;
	size_t n;
	int bfd;
	service_take_sockets(T.svc, &ls, &n, &bfd);
	service_reconfigure(T.svc, write_config("2s", "freeze_after = 1s"), ls, bfd);
	check_invariants("reload while frozen");
	ok(T.svc->state == SVC_FROZEN && ev_is_active(&T.svc->idle_timer) &&
	       ev_timer_remaining(T.loop, &T.svc->idle_timer) > 1.5,
	   "a reload while frozen: still frozen, the new idle_timeout from now");
	service_take_sockets(T.svc, &ls, &n, &bfd);
	T.cells[SVC_FROZEN][SE_START] = true;
	service_reconfigure(T.svc, write_config("2s", NULL), ls, bfd);
	check_invariants("reload without freeze_after");
	ok(T.svc->state == SVC_RUNNING && !T.inst->frozen && !ev_is_active(&T.svc->freeze_timer),
	   "a reload that drops freeze_after thaws it");
	service_take_sockets(T.svc, &ls, &n, &bfd);
	service_reconfigure(T.svc, write_config("2s", "freeze_after = 50ms"), ls, bfd);
	ok(frozen_again(), "frozen again");
	cmd_shutdown();
	check_invariants("shutdown while frozen");
	ok(T.svc->state == SVC_STOPPING && !T.inst->frozen,
	   "shutdown while frozen: thawed, stopping");
	fire_exit(KILLED(SIGTERM));
	ok(T.svc->state == SVC_STOPPED && T.spawns == 1, "stopped, nothing respawned");
	T.trace[0] = '\0';
	teardown("freeze: shutdown and reload");
}

/* The moves of the table (service.c's legal[][]), as the contract. */
static const bool legal[SVC__COUNT][SVC__COUNT] = {
    [SVC_STOPPED] = {[SVC_STARTING] = true, [SVC_FAILED] = true, [SVC_WAITING] = true},
    [SVC_STARTING] = {[SVC_RUNNING] = true, [SVC_STOPPING] = true, [SVC_FAILED] = true},
    [SVC_RUNNING] =
	{[SVC_STOPPING] = true, [SVC_STOPPED] = true, [SVC_FAILED] = true, [SVC_FROZEN] = true},
    [SVC_FROZEN] =
	{[SVC_RUNNING] = true, [SVC_STOPPING] = true, [SVC_STOPPED] = true, [SVC_FAILED] = true},
    [SVC_STOPPING] = {[SVC_STOPPED] = true, [SVC_FAILED] = true},
    [SVC_FAILED] = {[SVC_STARTING] = true, [SVC_FAILED] = true, [SVC_WAITING] = true},
    [SVC_WAITING] = {[SVC_STARTING] = true, [SVC_STOPPED] = true, [SVC_FAILED] = true},
};

/* What each event may do in each state, as the contract: false where it
 * cannot happen. */
static const bool possible[SVC__COUNT][SE__COUNT] = {
    [SVC_STOPPED] = {[SE_CONNECT] = true, [SE_START] = true, [SE_STOP] = true},
    [SVC_STARTING] = {[SE_CONNECT] = true,
		      [SE_START] = true,
		      [SE_STOP] = true,
		      [SE_READY] = true,
		      [SE_FAILED] = true,
		      [SE_EXITED] = true},
    [SVC_RUNNING] = {[SE_CONNECT] = true,
		     [SE_START] = true,
		     [SE_STOP] = true,
		     [SE_IDLE] = true,
		     [SE_FREEZE] = true,
		     [SE_FAILED] = true,
		     [SE_EXITED] = true},
    [SVC_FROZEN] = {[SE_CONNECT] = true,
		    [SE_START] = true,
		    [SE_STOP] = true,
		    [SE_IDLE] = true,
		    [SE_FAILED] = true,
		    [SE_EXITED] = true},
    [SVC_STOPPING] = {[SE_CONNECT] = true,
		      [SE_START] = true,
		      [SE_STOP] = true,
		      [SE_FAILED] = true,
		      [SE_EXITED] = true,
		      [SE_GONE] = true},
    [SVC_FAILED] = {[SE_CONNECT] = true, [SE_START] = true, [SE_STOP] = true},
    [SVC_WAITING] = {[SE_CONNECT] = true, [SE_START] = true, [SE_STOP] = true, [SE_ROOM] = true},
};

static void check_table(void)
{
	int cells_differ = 0, moves_differ = 0;
	for (int s = 0; s < SVC__COUNT; s++) {
		for (int e = 0; e < SE__COUNT; e++)
			if (service_event_possible(s, e) != possible[s][e]) {
				cells_differ++;
				note("cell %s x %s", service_state_to_string(s),
				     service_event_to_string(e));
			}
		for (int t = 0; t < SVC__COUNT; t++)
			moves_differ += service_move_legal(s, t) != legal[s][t];
	}
	is_int(cells_differ, 0, "the service's event table is the contract");
	is_int(moves_differ, 0, "the service's table of moves is the contract");
}

/* An instance the service does not know (none, or not the current one). */
static struct instance *stale_instance(void)
{
	struct instance *in = xcalloc(1, sizeof(*in));
	in->pid = NO_PID;
	in->spawn_usec = in->ready_usec = in->exit_usec = now_usec();
	in->reaped = true;
	in->ops = T.ops;
	in->data = T.svc;
	return in;
}

/* Fire e in the current state; in a child, since it must abort. */
static void fire_in_child(enum service_event e, bool stale)
{
	struct instance *in = stale || !T.inst ? stale_instance() : T.inst;
	switch (e) {
	case SE_IDLE: ev_invoke(T.loop, &T.svc->idle_timer, EV_TIMER); break;
	case SE_FREEZE: ev_invoke(T.loop, &T.svc->freeze_timer, EV_TIMER); break;
	case SE_READY: in->ops->ready(in, -1); break;
	case SE_FAILED: in->ops->failed(in, "fired by the test"); break;
	case SE_EXITED:
		in->reaped = true;
		in->ops->exited(in, "exited with status 0");
		break;
	case SE_GONE: in->ops->gone(in); break;
	case SE_ROOM: service_group_ops.admit(T.svc); break;
	default: break;
	}
}

/* Whether firing e now aborts the daemon (in a child, which says why on
 * stderr). */
static bool aborts(enum service_event e, bool stale)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		fire_in_child(e, stale);
		_exit(0);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT))
		note("status 0x%x", st);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

/* Bring a new service to state s (through a whole cycle first, so that an
 * instance has been spawned and its ops are known). */
static void reach(enum service_state s)
{
	/* frozen: an idle_timeout far beyond freeze_after, so that both timers,
	 * set from a loop time left stale by the forks of the checks before,
	 * cannot expire in the same iteration. Every state is reached as a
	 * member of a group (waiting needs one). */
	ev_now_update(T.loop);
	if (s == SVC_FROZEN)
		setup("10s", "freeze_after = 50ms\ngroup = gpu");
	else
		setup(IDLE_SHORT, "group = gpu");
	cmd_start();
	fire_ready(-1);
	cmd_stop();
	fire_exit(KILLED(SIGTERM));
	if (s == SVC_STOPPED)
		return;
	if (s == SVC_WAITING) {
		other_holds();
		cmd_start();
		return;
	}
	if (s == SVC_FAILED) {
		T.spawn_fails = true;
		cmd_start();
		T.spawn_fails = false;
		return;
	}
	cmd_start();
	if (s == SVC_STARTING)
		return;
	fire_ready(-1);
	if (s == SVC_STOPPING)
		cmd_stop();
	if (s == SVC_FROZEN)
		RUN_UNTIL(T.svc->state == SVC_FROZEN);
}

static void check_impossible(void)
{
	for (int s = 0; s < SVC__COUNT; s++) {
		reach(s);
		if (T.svc->state != (enum service_state)s)
			note("could not reach %s", service_state_to_string(s));
		for (int e = SE_IDLE; e < SE__COUNT; e++)
			if (!possible[s][e])
				ok(aborts(e, false), "%s while %s cannot happen: it aborts",
				   service_event_to_string(e), service_state_to_string(s));
		if (s == SVC_RUNNING)
			ok(aborts(SE_EXITED, true),
			   "exited from an instance that is not the current one aborts");
		T.trace[0] = '\0';
		teardown(service_state_to_string(s));
	}
}

static void check_cells(void)
{
	for (int s = 0; s < SVC__COUNT; s++)
		for (int e = 0; e < SE__COUNT; e++)
			if (possible[s][e])
				ok(T.cells[s][e], "cell %s x %s exercised",
				   service_state_to_string(s), service_event_to_string(e));
}

static void check_edges(void)
{
	for (int f = 0; f < SVC__COUNT; f++)
		for (int t = 0; t < SVC__COUNT; t++) {
			const char *from = service_state_to_string(f),
				   *to = service_state_to_string(t);
			if (legal[f][t])
				ok(T.took[f][t], "edge %s -> %s taken", from, to);
			else if (T.took[f][t])
				ok(false, "no illegal edge: %s -> %s was taken", from, to);
		}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_DEBUG);
	T.loop = ev_default_loop(0);
	snprintf(T.dir, sizeof(T.dir), "/tmp/test-service.XXXXXX");
	if (!mkdtemp(T.dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 99;
	}
	snprintf(T.front, sizeof(T.front), "%s/front.sock", T.dir);
	snprintf(T.back, sizeof(T.back), "%s/back.sock", T.dir);
	struct addr back;
	const char *err;
	char text[160];
	snprintf(text, sizeof(text), "unix:%s", T.back);
	addr_parse(text, false, false, &back, &err);
	T.back_fd = addr_listen(&back, 64);
	T.budget.max = 1000;
	T.env = (struct service_env){
	    .loop = T.loop,
	    .state_dir = T.dir,
	    .runtime_dir = T.dir,
	    .changed = on_changed,
	    .conns_changed = on_conns_changed,
	    .drained = on_drained,
	    .budget = &T.budget,
	    .instances = &fake_driver,
	    .groups = group_set_new(),
	};
	char gpu[] = "gpu";
	struct group_config gc = {.name = gpu, .capacity = 1, .line = 1};
	group_set_configure(T.env.groups, &gc, 1);
	T.gpu = group_set_find(T.env.groups, "gpu");
	T.other = group_join(T.gpu, "other", 1, &other_ops, NULL);

	scenario_cold_start();
	scenario_stop_while_starting();
	scenario_start_while_stopping();
	scenario_connect_while_stopping();
	scenario_crash();
	scenario_unproven_exit();
	scenario_failed_start();
	scenario_spawn_failure();
	scenario_leftovers();
	scenario_reload_while_starting();
	scenario_idle_vs_connection();
	scenario_retire();
	scenario_shutdown();
	scenario_probe_handover();
	scenario_freeze();
	scenario_group();
	check_cells();
	check_edges();
	check_table();
	check_impossible();

	group_leave(T.other);
	group_set_free(T.env.groups);
	close(T.back_fd);
	unlink(T.back);
	char path[256];
	snprintf(path, sizeof(path), "%s/web.conf", T.dir);
	unlink(path);
	rmdir(T.dir);
	return done_testing();
}
