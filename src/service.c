/*
 * service — the per-service state machine; see service.h for the picture.
 *
 * Everything that happens to a service is an event (enum service_event),
 * and what an event does in each state is one cell of the table below. Every
 * state change goes through service_set_state(), which checks the move
 * against a second table, logs "NAME: OLD -> NEW (REASON)" and stops what the
 * new state does not use. The connections are the queue's (conn.h): the
 * service opens it to a running instance and holds it otherwise, and decides
 * alone what a new connection starts or refuses. The instance's spawn and the
 * verdict on its start are in service-instance.c, status and meter in
 * service-status.c.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "service-internal.h"
#include "usage_store.h"
#include "util.h"

#define CHECKPOINT_SECONDS 60.0

/* --- the state machine ------------------------------------------------- */

struct event {
	enum service_event type;
	const char *reason;    /* CONNECT: the peer; START, STOP: why; FAILED: the
				* failure; EXITED: how it exited */
	struct conn *conn;     /* CONNECT: queued, within the limits */
	int probe_fd;          /* READY: a connection to the backend, or -1 */
	struct instance *from; /* READY, FAILED, EXITED, GONE: who reports */
};

typedef void handler(struct service *svc, const struct event *e);
static handler spawn_conn, wait_conn, serve_conn, thaw_conn, spawn, defer, thaw, stop_now,
    stop_idle, freeze, run, fail, fail_late, exited, gone, unwait, admitted, ignore;

/*
 * What each event does in each state. An empty cell cannot happen: there is
 * no instance to report, an instance reports nothing more once it is
 * stopped (no READY), GONE follows only an EXITED that found processes
 * left, the idle timer runs only while running or frozen and the freeze
 * timer only while running (service_set_state() stops them). Reaching one
 * is a bug: service_handle() aborts.
 *
 * Frozen is a state, not a flag of running: its cells differ (a connection
 * thaws the instance before it is relayed, START thaws, there is no freeze
 * to come), and service_set_state() freezes the instance on the way in and
 * thaws it on every way out, so that nothing is ever asked of a frozen
 * instance (a stop signal, a connection).
 *
 * Flags that qualify a state without being one of their own:
 *  - start_failed: the verdict on the current instance (its start failed),
 *    read where it ends: stopping ends in failed instead of stopped, and its
 *    exit is logged at notice. A state of its own would double stopping and
 *    every cell, which the two share.
 *  - inst_served: the instance proved itself; it decides EXITED while
 *    running (stopped, or failed when unproven; see service_exit_unproven()).
 *  - start_requested: a START deferred while stopping or waiting, as pending
 *    connections are a deferred CONNECT; both are replayed when the instance
 *    ends (service_end_instance()) or the group makes room (ROOM).
 *  - inst->reaped while stopping: the wait for the instance's leftover
 *    processes; GONE comes only then.
 *  - thaw_pending: the instance was thawed for a connection whose first
 *    byte from the backend is still to come: that is the thaw time it felt
 *    (as a cold start's is read at the first byte).
 *  - shutting_down, retired: the daemon's intent for the service, in any
 *    state (a retired service may also shut down): no respawn when the
 *    instance ends; STOP once the last connection of a removed service ends,
 *    then drained(). They change what follows the cells, not the cells.
 *  - requesting: the service asks its group for room (group_request()); an
 *    admission that comes back during the call is its answer, not a ROOM.
 *
 * Waiting for room in a group is a state of its own, not a flag: it has no
 * instance (unlike starting), yet connections wait in it (unlike stopped),
 * and its cells differ from both (ROOM spawns, STOP cancels the wait). It is
 * entered where an instance would start (service_start_instance()) when the
 * group is full, and left when the group admits it (ROOM), or when nothing
 * waits any more: its connections gave up (pending_timeout, `zeroproxy
 * stop`) and no `zeroproxy start` is deferred (STOP, from
 * service_check_idle()).
 */
/* clang-format off */
static handler *const transitions[SVC__COUNT][SE__COUNT] = {
	/*                CONNECT     START   STOP      IDLE       FREEZE  READY FAILED     EXITED  GONE  ROOM */
	[SVC_STOPPED]  = {spawn_conn, spawn,  ignore,   NULL,      NULL,   NULL, NULL,      NULL,   NULL, NULL},
	[SVC_STARTING] = {wait_conn,  ignore, stop_now, NULL,      NULL,   run,  fail,      exited, NULL, NULL},
	[SVC_RUNNING]  = {serve_conn, ignore, stop_now, stop_idle, freeze, NULL, fail,      exited, NULL, NULL},
	[SVC_FROZEN]   = {thaw_conn,  thaw,   stop_now, stop_idle, NULL,   NULL, fail,      exited, NULL, NULL},
	[SVC_STOPPING] = {wait_conn,  defer,  ignore,   NULL,      NULL,   NULL, fail_late, exited, gone, NULL},
	[SVC_FAILED]   = {spawn_conn, spawn,  ignore,   NULL,      NULL,   NULL, NULL,      NULL,   NULL, NULL},
	[SVC_WAITING]  = {wait_conn,  defer,  unwait,   NULL,      NULL,   NULL, NULL,      NULL,   NULL, admitted},
};
/* clang-format on */

/* The moves the cells make: legal[from][to]. */
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

static const char *const event_names[SE__COUNT] = {
    [SE_CONNECT] = "connect", [SE_START] = "start", [SE_STOP] = "stop",     [SE_IDLE] = "idle",
    [SE_FREEZE] = "freeze",   [SE_READY] = "ready", [SE_FAILED] = "failed", [SE_EXITED] = "exited",
    [SE_GONE] = "gone",       [SE_ROOM] = "room",
};

const char *service_event_to_string(enum service_event e)
{
	return (unsigned)e < SE__COUNT ? event_names[e] : "invalid";
}

bool service_event_possible(enum service_state s, enum service_event e)
{
	return (unsigned)s < SVC__COUNT && (unsigned)e < SE__COUNT && transitions[s][e];
}

bool service_move_legal(enum service_state from, enum service_state to)
{
	return (unsigned)from < SVC__COUNT && (unsigned)to < SVC__COUNT && legal[from][to];
}

static void service_handle(struct service *svc, const struct event *e)
{
	handler *h = transitions[svc->state][e->type];
	if (!h || (e->from && e->from != svc->inst)) {
		log_error("%s: %s while %s%s cannot happen", svc->name,
			  service_event_to_string(e->type), service_state_to_string(svc->state),
			  h ? " (from an instance that is not the current one)" : "");
		abort();
	}
	h(svc, e);
}

static void handoff_watch(struct service *svc);
static void handoff_diag(struct service *svc, bool on);

/* Client connections open now: relayed or waiting, and (relay = no) those
 * the kernel showed the last time it was asked. */
static uint32_t open_conns(const struct service *svc)
{
	return svc->queue.n_active + svc->queue.n_pending + svc->queue.n_reading +
	       svc->handoff_active;
}

/* What keeps the service awake: open connections, or with protocol = http
 * requests in flight (tunnels included), and connections of tcp mode left
 * by a reload. An open keep-alive connection between requests does not. */
static uint32_t busy(const struct service *svc)
{
	if (svc->cfg->protocol != ZP_PROTOCOL_HTTP)
		return open_conns(svc);
	return svc->queue.n_requests + svc->queue.n_plain;
}

/* protocol = http, before an idle stop: close the connections between
 * requests, which would otherwise hold the instance that is going. */
static void close_idle_conns(struct service *svc)
{
	if (!svc->queue.n_reading && !svc->queue.n_active)
		return;
	unsigned n = conn_queue_close_idle(&svc->queue);
	if (n)
		log_info("%s: closed %u keep-alive connection%s between requests", svc->name, n,
			 n == 1 ? "" : "s");
}

static void service_set_state(struct service *svc, enum service_state to, int prio, const char *fmt,
			      ...) __attribute__((format(printf, 4, 5)));

static void service_set_state(struct service *svc, enum service_state to, int prio, const char *fmt,
			      ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	assert(legal[svc->state][to]);
	/* The first move after a failed start is the line that reports it. */
	const char *event = svc->start_failure_unlogged ? LOG_EV_START_FAILED : LOG_EV_STATE;
	svc->start_failure_unlogged = false;
	log_event(prio, svc->name, event, service_state_to_string(to), "%s: %s -> %s (%s)",
		  svc->name, service_state_to_string(svc->state), service_state_to_string(to),
		  reason);
	enum service_state from = svc->state;
	svc->state = to;
	/* The instance is frozen exactly while the service is: thawed on every
	 * way out, before whatever comes next (a stop signal, a connection). An
	 * instance that exited while frozen is gone already. */
	uint64_t now = now_usec();
	if (from == SVC_FROZEN) {
		svc->inst_frozen_usec += now - svc->frozen_since_usec;
		if (svc->inst)
			svc->drv->thaw(svc->inst);
		if (to == SVC_RUNNING)
			svc->usage.thaws++;
	} else if (to == SVC_FROZEN) {
		svc->frozen_since_usec = now;
		svc->drv->freeze(svc->inst);
	}
	/* What the new state does not use goes here, in one place, so that no
	 * timer outlives its state (a crash while idle must not leave the idle
	 * timer for the next instance). */
	struct ev_loop *loop = svc->env->loop;
	if (to == SVC_RUNNING) {
		conn_queue_open(&svc->queue, &svc->inst_addr, svc->inst_gen);
	} else {
		ev_timer_stop(loop, &svc->freeze_timer);
		conn_queue_hold(&svc->queue);
	}
	if (to != SVC_RUNNING && to != SVC_FROZEN)
		ev_timer_stop(loop, &svc->idle_timer);
	if (to == SVC_STOPPED || to == SVC_FAILED)
		ev_timer_stop(loop, &svc->checkpoint_timer);
	handoff_watch(svc);
	handoff_diag(svc, to == SVC_RUNNING && !svc->inst_cfg->relay);
	if (svc->env->changed)
		svc->env->changed(svc->env->data);
}

/* The one way into stopping while there is an instance: the state, then the
 * stop (instance_stop() is idempotent: an instance that stops or has exited
 * already is left alone). */
static void service_enter_stopping(struct service *svc, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void service_enter_stopping(struct service *svc, int prio, const char *fmt, ...)
{
	char reason[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	service_set_state(svc, SVC_STOPPING, prio, "%s", reason);
	if (svc->inst_gm)
		group_leaving(svc->inst_gm);
	svc->drv->stop(svc->inst);
}

static void service_check_idle(struct service *svc);
static void service_start_instance(struct service *svc, const char *reason);
static void service_end_instance(struct service *svc, int prio, const char *reason);

/* --- the cells, in the table's order ------------------------------------ */

static void ignore(struct service *svc, const struct event *e)
{
}

/* CONNECT while stopped or failed: start (or wait for room in the group),
 * even when the connection cannot wait itself (max_pending = 0). */
static void spawn_conn(struct service *svc, const struct event *e)
{
	char reason[96];
	snprintf(reason, sizeof(reason), "connection from %s", e->reason);
	service_start_instance(svc, reason);
	if (!svc->inst && svc->state != SVC_WAITING)
		return; /* the spawn failed and refused every pending connection */
	wait_conn(svc, e);
}

/* CONNECT while starting or stopping, or behind others that wait for file
 * descriptors: wait. Served when ready; while stopping, by the next
 * instance. */
static void wait_conn(struct service *svc, const struct event *e)
{
	if (svc->queue.n_pending > svc->cfg->max_pending) {
		conn_refuse(e->conn, "max_pending reached");
		service_check_idle(svc);
		return;
	}
	conn_wait(e->conn);
}

/* CONNECT while running: relay it now, unless others wait before it. */
static void serve_conn(struct service *svc, const struct event *e)
{
	if (svc->queue.pending_head != e->conn) {
		wait_conn(svc, e);
		return;
	}
	conn_queue_dispatch(&svc->queue, -1);
	service_check_idle(svc); /* a refused connect leaves the service idle */
}

/* CONNECT while frozen: thaw, and relay it at once; the instance was ready
 * when it froze, so no probe. Its first byte back is the thaw time. */
static void thaw_conn(struct service *svc, const struct event *e)
{
	svc->thaw_pending = true;
	svc->thaw_arrive_usec = e->conn->arrive_usec;
	svc->inst_sampled = true; /* what this client waits for is no cold start */
	service_set_state(svc, SVC_RUNNING, LOG_INFO, "connection from %s", e->reason);
	serve_conn(svc, e);
}

/* START while stopped or failed. A start that waits for room in the group
 * is a deferred one: it keeps waiting when no connection does. */
static void spawn(struct service *svc, const struct event *e)
{
	service_start_instance(svc, e->reason);
	if (svc->state == SVC_WAITING)
		svc->start_requested = true;
}

/* START while stopping: once the old instance is gone. */
static void defer(struct service *svc, const struct event *e)
{
	svc->start_requested = true;
}

/* START while frozen: thaw; the idle timer goes on from the last
 * connection, the freeze timer from now. */
static void thaw(struct service *svc, const struct event *e)
{
	service_set_state(svc, SVC_RUNNING, LOG_INFO, "%s", e->reason);
	service_check_idle(svc);
}

/* STOP while starting, running or frozen (service_set_state() thaws). */
static void stop_now(struct service *svc, const struct event *e)
{
	service_enter_stopping(svc, LOG_INFO, "%s", e->reason);
}

/* IDLE (running or frozen, no connection since idle_timeout). */
static void stop_idle(struct service *svc, const struct event *e)
{
	char d[32];
	format_duration(svc->cfg->idle_timeout_ms, d, sizeof(d));
	if (busy(svc))
		return;
	close_idle_conns(svc);
	service_enter_stopping(svc, LOG_INFO, "idle %s", d);
}

/* FREEZE (running, no connection since freeze_after). */
static void freeze(struct service *svc, const struct event *e)
{
	char d[32];
	format_duration(svc->cfg->freeze_after_ms, d, sizeof(d));
	if (busy(svc))
		return;
	/* protocol = http: a keep-alive connection between requests would
	 * carry its next request to the frozen backend, past the thaw that a
	 * new connection brings: closed first, as at an idle stop. */
	close_idle_conns(svc);
	service_set_state(svc, SVC_FROZEN, LOG_INFO, "idle %s", d);
}

/* READY while starting. */
static void run(struct service *svc, const struct event *e)
{
	struct instance *in = svc->inst;
	svc->last_ready_usec = in->ready_usec - in->spawn_usec;
	svc->has_ready = true;
	/* The failure count is reset once the instance has served (or ended
	 * normally), not here: a ready = socket backend is ready at exec. */
	svc->start_failed = false;
	service_set_state(svc, SVC_RUNNING, LOG_INFO, "ready after %.1f ms",
			  (double)svc->last_ready_usec / 1000.0);
	/* The probe connection is a working connection: give it to the first
	 * waiting client instead of throwing it away. */
	conn_queue_dispatch(&svc->queue, e->probe_fd);
	service_check_idle(svc);
}

/* FAILED while starting, or running or frozen (an exec failure read after a
 * probe got through): the instance is being stopped already. */
static void fail(struct service *svc, const struct event *e)
{
	service_start_failed(svc, e->reason);
	service_enter_stopping(svc, LOG_ERR, "start failed: %s", e->reason);
}

/* FAILED while stopping: a stop (command, shutdown, removal) came first. */
static void fail_late(struct service *svc, const struct event *e)
{
	service_start_failed(svc, e->reason);
	svc->start_failure_unlogged = false;
	log_event(LOG_ERR, svc->name, LOG_EV_START_FAILED, NULL, "%s: start failed: %s", svc->name,
		  e->reason);
}

/* EXITED while starting, running, frozen (killed from outside) or
 * stopping. */
static void exited(struct service *svc, const struct event *e)
{
	struct instance *in = svc->inst;
	const char *how = e->reason;
	enum service_state was = svc->state == SVC_FROZEN ? SVC_RUNNING : svc->state;
	char failure[512] = "";
	if (!svc->start_failed && was == SVC_STARTING)
		snprintf(failure, sizeof(failure), "%s before ready%s", how, service_exit_hint(in));
	else if (!svc->start_failed && was == SVC_RUNNING && service_exit_unproven(svc, in))
		snprintf(failure, sizeof(failure),
			 "%s without serving a client (%.0f ms after the "
			 "spawn)%s",
			 how, (double)(in->exit_usec - in->spawn_usec) / 1000.0,
			 service_exit_hint(in));
	if (failure[0])
		service_start_failed(svc, failure);

	char reason[600];
	int prio = LOG_INFO;
	if (failure[0]) {
		snprintf(reason, sizeof(reason), "start failed: %s", failure);
		prio = LOG_ERR;
	} else {
		snprintf(reason, sizeof(reason), "backend %s", how);
		prio = svc->start_failed ? LOG_NOTICE : was == SVC_RUNNING ? LOG_WARNING : LOG_INFO;
	}
	/* Workers of a multi-process server may outlive their master, still
	 * holding its sockets: the next instance must not meet them. Until
	 * they are gone the service is stopping and connections wait. */
	if (svc->drv->wait_gone(in) > 0) {
		if (svc->state != SVC_STOPPING)
			service_enter_stopping(svc, prio, "%s", reason);
		else /* how the main process ended must still reach the log */
			log_write(prio, "%s: %s", svc->name, reason);
		return;
	}
	service_end_instance(svc, prio, reason);
}

/* GONE while stopping, after an EXITED that found processes left. */
static void gone(struct service *svc, const struct event *e)
{
	struct instance *in = svc->inst;
	char reason[128];
	snprintf(reason, sizeof(reason),
		 "the last process of the instance is gone, %.0f ms after "
		 "the main process",
		 (double)(now_usec() - in->exit_usec) / 1000.0);
	service_end_instance(svc, LOG_INFO, reason);
}

/* STOP while waiting: nothing waits any more, or `zeroproxy stop`. */
static void unwait(struct service *svc, const struct event *e)
{
	svc->start_requested = false;
	group_cancel(svc->gm);
	service_set_state(svc, SVC_STOPPED, LOG_INFO, "%s", e->reason);
}

/* ROOM while waiting: the group took our weight; spawn. */
static void admitted(struct service *svc, const struct event *e)
{
	svc->start_requested = false;
	service_start_instance(svc, e->reason);
}

/* --- groups ----------------------------------------------------------------
 *
 * A member holds its weight in its group from the moment it may spawn until
 * its instance is entirely gone (service_end_instance()), so the group's
 * capacity holds while instances start and stop. */

/* Whether anything is in flight: the one predicate that says whether the
 * group may stop this service to make room (tcp: a connection open or
 * waiting; http mode: a request in flight). */
static bool service_in_flight(const struct service *svc)
{
	return busy(svc) > 0;
}

static bool group_idle(void *owner)
{
	return !service_in_flight(owner);
}

/* Eviction order among idle members: lower first, then the least recently
 * used. A frozen member goes first: it holds its weight and serves nobody. */
static int group_evict_rank(void *owner)
{
	const struct service *svc = owner;
	return svc->state == SVC_FROZEN ? 0 : 1;
}

static void group_evict(void *owner, const char *group, const char *for_whom)
{
	struct service *svc = owner;
	char reason[200];
	if (for_whom)
		snprintf(reason, sizeof(reason), "to make room for %s in group %s", for_whom,
			 group);
	else
		snprintf(reason, sizeof(reason), "group %s is above its capacity", group);
	close_idle_conns(svc); /* http: only idle members are evicted */
	service_handle(svc, &(struct event){.type = SE_STOP, .reason = reason});
}

static void group_admit(void *owner)
{
	struct service *svc = owner;
	if (svc->requesting)
		return; /* group_request() returns it: service_start_instance() goes on */
	char reason[120];
	snprintf(reason, sizeof(reason), "room in group %s",
		 svc->gm ? group_name(group_member_group(svc->gm)) : "-");
	service_handle(svc, &(struct event){.type = SE_ROOM, .reason = reason});
}

const struct group_member_ops service_group_ops = {
    .idle = group_idle,
    .evict_rank = group_evict_rank,
    .evict = group_evict,
    .admit = group_admit,
};

/* A use of the service (a connection came or went, a start): the LRU order. */
static void service_group_touch(struct service *svc)
{
	uint64_t now = now_usec();
	if (svc->gm)
		group_touch(svc->gm, now);
	if (svc->inst_gm && svc->inst_gm != svc->gm)
		group_touch(svc->inst_gm, now);
}

/* The instance is gone (or never spawned): its weight is free again. A
 * membership of a group the service has left since is dropped now. */
static void service_group_release(struct service *svc)
{
	struct group_member *m = svc->inst_gm;
	if (!m)
		return;
	svc->inst_gm = NULL;
	group_release(m);
	if (m != svc->gm)
		group_leave(m);
}

/* Join cfg's group (service_new, a reload), keeping the membership the
 * instance holds its weight in until the instance ends. A waiting service
 * asks its new group (or starts, without one). */
static void service_group_join(struct service *svc)
{
	struct group *g = group_set_find(svc->env->groups, svc->cfg->group_name);
	struct group_member *old = svc->gm;
	if (old && group_member_group(old) == g) {
		group_member_set_weight(old, svc->cfg->group_weight);
		return;
	}
	svc->gm =
	    g ? group_join(g, svc->name, svc->cfg->group_weight, &service_group_ops, svc) : NULL;
	if (old && old != svc->inst_gm)
		group_leave(old);
	if (svc->state != SVC_WAITING)
		return;
	svc->requesting = true;
	bool room = !svc->gm || group_request(svc->gm) || group_member_holds(svc->gm);
	svc->requesting = false;
	if (room)
		service_handle(svc, &(struct event){.type = SE_ROOM,
						    .reason = "group changed by a "
							      "reload"});
}

/* --- an instance's start and end --------------------------------------- */

static const struct instance_ops inst_ops;

/* Spawn an instance: starting, or failed when nothing could be spawned, or
 * waiting when its group is full (ROOM comes back here). */
static void service_start_instance(struct service *svc, const char *reason)
{
	char why[256];
	if (svc->gm && !group_member_holds(svc->gm)) {
		svc->requesting = true;
		bool room = group_request(svc->gm);
		svc->requesting = false;
		if (!room && !group_member_holds(svc->gm)) {
			if (svc->state != SVC_WAITING)
				service_set_state(svc, SVC_WAITING, LOG_INFO,
						  "%s; group %s is full (%u of %u)", reason,
						  group_name(group_member_group(svc->gm)),
						  group_used(group_member_group(svc->gm)),
						  group_capacity(group_member_group(svc->gm)));
			return;
		}
	}
	svc->inst_gm = svc->gm;
	service_group_touch(svc);
	if (service_spawn(svc, &inst_ops, why, sizeof(why)) < 0) {
		service_set_state(svc, SVC_FAILED, LOG_ERR, "start failed: %s", why);
		service_group_release(svc);
		return;
	}
	service_set_state(svc, SVC_STARTING, LOG_INFO, "%s", reason);
	log_debug("%s: backend pid %d: %s", svc->name, (int)svc->inst->pid, svc->cfg->exec);
	ev_timer_set(&svc->checkpoint_timer, CHECKPOINT_SECONDS, CHECKPOINT_SECONDS);
	ev_timer_start(svc->env->loop, &svc->checkpoint_timer);
}

/* The instance is over (its main process and every other one): account for
 * it, free it, enter stopped or failed (logged at prio with reason), and
 * start the next instance if connections or a `zeroproxy start` wait. */
static void service_end_instance(struct service *svc, int prio, const char *reason)
{
	service_meter_end(svc);

	bool failed = svc->start_failed;
	if (!failed)
		svc->failures = 0;
	service_free_inst(svc);
	service_set_state(svc, failed ? SVC_FAILED : SVC_STOPPED, prio, "%s", reason);
	service_save_usage(svc);
	service_group_release(svc); /* first: the group's waiters come before our next instance */

	if (svc->shutting_down) {
		conn_queue_refuse_pending(&svc->queue, "zeroproxy is shutting down");
	} else if (svc->start_requested) {
		svc->start_requested = false;
		service_start_instance(svc, "zeroproxy start");
	} else if (svc->queue.pending_head) {
		if (now_usec() < svc->backoff_until_usec)
			conn_queue_refuse_pending(&svc->queue, "back-off after a failed start");
		else
			service_start_instance(svc, "connection waiting");
	} else if (!failed && service_backend_queue_waiting(svc)) {
		service_start_instance(svc, "connection waiting in the backend socket");
	}
	service_check_idle(svc);
}

/* --- where events come from ---------------------------------------------- */

/* What the instance reports, as events. */
static void inst_ready(struct instance *in, int probe_fd)
{
	service_handle(in->data,
		       &(struct event){.type = SE_READY, .probe_fd = probe_fd, .from = in});
}

static void inst_failed(struct instance *in, const char *reason)
{
	service_handle(in->data, &(struct event){.type = SE_FAILED, .reason = reason, .from = in});
}

static void inst_exited(struct instance *in, const char *how)
{
	service_handle(in->data, &(struct event){.type = SE_EXITED, .reason = how, .from = in});
}

static void inst_gone(struct instance *in)
{
	service_handle(in->data, &(struct event){.type = SE_GONE, .from = in});
}

static const struct instance_ops inst_ops = {
    .ready = inst_ready,
    .failed = inst_failed,
    .exited = inst_exited,
    .gone = inst_gone,
};

/* What the connection queue tells the service. */
static void on_conn_closed(void *data)
{
	struct service *svc = data;
	svc->env->conns_changed(svc->env->data);
	budget_conn_closed(svc->env->budget);
	service_group_touch(svc);
}

static bool on_pipe_take(void *data)
{
	struct service *svc = data;
	return budget_pipe_take(svc->env->budget);
}

static void on_pipe_release(void *data)
{
	struct service *svc = data;
	budget_pipe_released(svc->env->budget);
}

static void on_queue_changed(void *data)
{
	service_check_idle(data);
}

/* The backend's first byte to c: the instance has served, and for the first
 * client that waited for it, this is the cold start it felt. */
static void on_first_byte(void *data, const struct conn *c)
{
	struct service *svc = data;
	if (!svc->inst || c->gen != svc->inst_gen)
		return;
	if (!svc->inst_served) {
		svc->inst_served = true;
		svc->failures = 0;
	}
	if (c->waited && !svc->inst_sampled) {
		svc->inst_sampled = true;
		usage_record_start(&svc->usage, now_usec() - c->arrive_usec);
	}
	if (svc->thaw_pending && c->waited && c->arrive_usec >= svc->thaw_arrive_usec) {
		uint64_t t = now_usec() - c->arrive_usec;
		svc->thaw_pending = false;
		svc->usage.last_thaw_usec = t ? t : 1; /* 0 is "none yet" */
	}
}

/* Host routing: whether c's request has a route table to ask, and then who
 * takes it (*to, NULL: nobody). */
static bool route_of(const struct service *svc, const struct conn *c, struct service **to)
{
	return c->front && svc->env->route &&
	       svc->env->route(svc->env->route_data, c->front, conn_request_host(c), to);
}

static bool on_stays(void *data, const struct conn *c)
{
	struct service *svc = data, *to;
	return !route_of(svc, c, &to) || to == svc;
}

static void take_request(struct service *svc, struct conn *c);

/* protocol = http: c's first request head is complete (or, host routing, a
 * later one for another service than the one it was relayed to). The
 * service of its Host takes it: it moves there, or gets 404 when nobody
 * takes that Host. */
static void on_request(void *data, struct conn *c)
{
	struct service *svc = data, *to;
	if (!route_of(svc, c, &to) || to == svc) {
		if (!conn_head_too_large(c))
			take_request(svc, c);
		return;
	}
	if (!to) {
		log_info("%s: request from %s for host \"%s\": no service of this address takes "
			 "it; answered 404",
			 svc->name, c->peer, conn_request_host(c));
		conn_answer_close(c, 404, "No service here takes this host.");
	} else {
		conn_queue_move(c, &to->queue);
		if (open_conns(to) > to->cfg->max_connections)
			conn_refuse(c, "max_connections reached");
		else if (!conn_head_too_large(c))
			take_request(to, c);
	}
	service_check_idle(svc); /* may free a retired svc: the last thing */
}

/* c's request is svc's. What a connection does in tcp mode at the accept,
 * the request does here: a pre-connect that never sends a request wakes
 * nothing. */
static void take_request(struct service *svc, struct conn *c)
{
	/* idle_ignore: a health check never starts an instance (zeroproxy
	 * answers it) and, forwarded to a running one, keeps it no longer. */
	bool ignored = conn_ignored(c);
	if (svc->shutting_down) { /* a connection accepted before: never a new start */
		conn_refuse(c, "zeroproxy is shutting down");
		return;
	}
	if (ignored && svc->state != SVC_RUNNING) {
		conn_answer_ignored(c, svc->cfg->idle_ignore_status);
		service_check_idle(svc);
		return;
	}
	if (now_usec() < svc->backoff_until_usec) {
		conn_refuse(c, "back-off after a failed start");
		service_check_idle(svc);
		return;
	}
	conn_queue_pend(c, svc->state != SVC_RUNNING);
	if (!ignored) {
		ev_timer_stop(svc->env->loop, &svc->idle_timer);
		svc->idle_since_usec = 0;
	}
	service_handle(svc, &(struct event){.type = SE_CONNECT, .reason = c->peer, .conn = c});
}

/* Retry-After of a refusal: the seconds until the back-off ends, else 1. */
static unsigned on_retry_after(void *data)
{
	struct service *svc = data;
	uint64_t now = now_usec();
	if (now >= svc->backoff_until_usec)
		return 1;
	return (unsigned)((svc->backoff_until_usec - now + 999999) / 1000000);
}

static const struct conn_queue_ops queue_ops = {
    .conn_closed = on_conn_closed,
    .pipe_take = on_pipe_take,
    .pipe_release = on_pipe_release,
    .changed = on_queue_changed,
    .first_byte = on_first_byte,
    .request = on_request,
    .retry_after = on_retry_after,
    .stays = on_stays,
};

static void on_checkpoint(struct ev_loop *loop, ev_timer *w, int revents)
{
	service_save_usage(w->data);
}

static void on_idle_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	service_handle(w->data, &(struct event){.type = SE_IDLE});
}

static void on_freeze_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	service_handle(w->data, &(struct event){.type = SE_FREEZE});
}

/* Start t for ms unless it runs already (or ms is infinity). */
static void timer_arm(struct service *svc, ev_timer *t, uint64_t ms)
{
	if (ms == ZP_INFINITY || ev_is_active(t))
		return;
	ev_timer_set(t, (double)ms / 1000.0, 0);
	ev_timer_start(svc->env->loop, t);
}

/* After any change in connections or instance: arm or disarm the idle and
 * freeze timers, and finish a retired service. */
static void service_check_idle(struct service *svc)
{
	struct ev_loop *loop = svc->env->loop;
	if (busy(svc)) {
		svc->idle_since_usec = 0;
		ev_timer_stop(loop, &svc->idle_timer);
		ev_timer_stop(loop, &svc->freeze_timer);
		return;
	}
	/* idle_seconds counts from the last connection; before the first one
	 * there is nothing to count from (status: null, zeroproxy(8)). */
	if (!svc->idle_since_usec && svc->usage.connections_total)
		svc->idle_since_usec = now_usec();
	if (svc->retired) {
		close_idle_conns(svc);
		service_handle(svc, &(struct event){.type = SE_STOP,
						    .reason = "removed from the configuration"});
		if (!svc->inst && svc->env->drained)
			svc->env->drained(svc->env->data, svc);
		return;
	}
	if (svc->state == SVC_WAITING && !svc->start_requested) {
		service_handle(svc, &(struct event){.type = SE_STOP,
						    .reason = "no connection waits any more"});
		return;
	}
	if (svc->state == SVC_RUNNING || svc->state == SVC_FROZEN)
		timer_arm(svc, &svc->idle_timer, svc->cfg->idle_timeout_ms);
	if (svc->state == SVC_RUNNING)
		timer_arm(svc, &svc->freeze_timer, svc->cfg->freeze_after_ms);
	/* Last: a waiter of the group may stop us now. */
	if (svc->inst_gm)
		group_member_idle(svc->inst_gm);
}

static void accept_conn(struct service *svc, int fd, const char *peer, const struct listener *l)
{
	budget_conn_opened(svc->env->budget);
	svc->env->conns_changed(svc->env->data);
	/* Queue it first so that refusing and counting go one way for all. */
	bool http = svc->cfg->protocol == ZP_PROTOCOL_HTTP;
	/* wake_on = data: where this connection would start an instance, its
	 * first byte does (on_request); a running or starting one takes it at
	 * once. */
	bool peek = !http && svc->cfg->wake_on == ZP_WAKE_DATA && svc->state != SVC_RUNNING &&
		    svc->state != SVC_STARTING;
	struct conn *c = http   ? conn_queue_add_reading(&svc->queue, fd, peer)
			 : peek ? conn_queue_add_peeking(&svc->queue, fd, peer)
				: conn_queue_add(&svc->queue, fd, peer, svc->state != SVC_RUNNING);

	if (open_conns(svc) > svc->cfg->max_connections) {
		conn_refuse(c, "max_connections reached");
		return;
	}
	if (http) {
		if (l->front) { /* host routing: the head decides whose it is */
			c->front = l->front;
			conn_http_limit(c, l->front_max_header);
		}
		return; /* its first request decides (on_request) */
	}
	if (peek) {
		conn_peek(c); /* its first byte decides (on_request): often here already */
		return;
	}
	if (now_usec() < svc->backoff_until_usec) {
		conn_refuse(c, "back-off after a failed start");
		return;
	}
	ev_timer_stop(svc->env->loop, &svc->idle_timer);
	ev_timer_stop(svc->env->loop, &svc->freeze_timer);
	svc->idle_since_usec = 0;
	service_group_touch(svc);
	service_handle(svc, &(struct event){.type = SE_CONNECT, .reason = peer, .conn = c});
}

static bool on_accept(struct listener *l, int fd, const char *peer)
{
	struct service *svc = l->data;
	accept_conn(svc, fd, peer, l);
	return budget_accept_more(svc->env->budget);
}

/* --- relay = no: hand-off ------------------------------------------------
 *
 * The backend accepts on the service's own listening sockets. zeroproxy
 * accepts nothing: while no instance runs it watches the listeners, and a
 * connection queued in one is a START (the table's cell: spawn while
 * stopped or failed); while an instance runs, or during the back-off after
 * a failed start, it does not watch them, so a queued connection costs no
 * wake-up. When the instance ends (stopped or failed) the watch resumes,
 * and a connection that came while it stopped starts the next one. */

static void on_handoff_queued(struct listener *l);

/* Watch the listeners when nothing else will serve their queue, else not. */
static void handoff_watch(struct service *svc)
{
	if (svc->cfg->relay)
		return;
	bool watch = !svc->inst && svc->state != SVC_WAITING && !svc->shutting_down &&
		     !svc->retired && !ev_is_active(&svc->handoff_timer);
	for (size_t i = 0; i < svc->n_listeners; i++)
		if (watch)
			listener_watch(svc->listeners[i], on_handoff_queued, svc);
		else
			listener_stop(svc->listeners[i]);
}

static void on_handoff_queued(struct listener *l)
{
	struct service *svc = l->data;
	uint64_t now = now_usec();
	for (size_t i = 0; i < svc->n_listeners; i++)
		listener_stop(svc->listeners[i]);
	if (now < svc->backoff_until_usec) {
		/* The connection waits in the kernel until the back-off ends. */
		ev_timer_set(&svc->handoff_timer, (double)(svc->backoff_until_usec - now) / 1e6, 0);
		ev_timer_start(svc->env->loop, &svc->handoff_timer);
		log_info("%s: connection queued on %s: starting after the back-off (%.1f s)",
			 svc->name, l->addr.text, (double)(svc->backoff_until_usec - now) / 1e6);
		return;
	}
	char reason[160];
	snprintf(reason, sizeof(reason), "connection queued on %s", l->addr.text);
	service_handle(svc, &(struct event){.type = SE_START, .reason = reason});
}

static void on_handoff_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	handoff_watch(w->data); /* a connection still queued fires at once */
}

/* While an instance runs, the kernel tells which connections of the
 * listeners are open: every idle_timeout/10 (at most 1 s), only then. A
 * connection first seen counts in connections_total, and its bytes (TCP) in
 * bytes_in and bytes_out as they grow from poll to poll. */
#define DIAG_MAX_INTERVAL 1.0
#define DIAG_MIN_INTERVAL 0.01

static int cookie_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct sockdiag_conn *)a)->cookie;
	uint64_t y = ((const struct sockdiag_conn *)b)->cookie;
	return x < y ? -1 : x > y;
}

static void handoff_poll(struct service *svc)
{
	int *fds = xcalloc(svc->n_listeners ? svc->n_listeners : 1, sizeof(*fds));
	for (size_t i = 0; i < svc->n_listeners; i++)
		fds[i] = svc->listeners[i]->fd;
	struct sockdiag_conn *now = NULL;
	size_t n = 0;
	int r = sockdiag_list(fds, svc->n_listeners, &now, &n);
	free(fds);
	if (r < 0) {
		if (!svc->diag_warned)
			log_warning("%s: sock_diag: %s: open connections unknown, idle stop "
				    "after idle_timeout",
				    svc->name, strerror(-r));
		svc->diag_warned = true;
		free(now);
		return;
	}
	if (n)
		qsort(now, n, sizeof(*now), cookie_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct sockdiag_conn *was =
		    svc->n_seen ? bsearch(&now[i], svc->seen, svc->n_seen, sizeof(*now), cookie_cmp)
				: NULL;
		if (!was)
			svc->usage.connections_total++;
		uint64_t in0 = was ? was->bytes_in : 0, out0 = was ? was->bytes_out : 0;
		if (now[i].has_bytes && now[i].bytes_in >= in0 && now[i].bytes_out >= out0) {
			svc->usage.bytes_in += now[i].bytes_in - in0;
			svc->usage.bytes_out += now[i].bytes_out - out0;
		}
		/* Served: bytes reached a client (TCP), or a unix client was seen. */
		if (!svc->inst_served && (!now[i].has_bytes || now[i].bytes_out > 0)) {
			svc->inst_served = true;
			svc->failures = 0;
		}
	}
	free(svc->seen);
	svc->seen = now;
	svc->n_seen = n;
	if (svc->handoff_active != n) {
		svc->handoff_active = (uint32_t)n;
		svc->env->conns_changed(svc->env->data);
		service_check_idle(svc);
	}
}

static void on_diag_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	handoff_poll(w->data);
}

static void handoff_diag(struct service *svc, bool on)
{
	if (on == ev_is_active(&svc->diag_timer))
		return;
	if (!on) {
		ev_timer_stop(svc->env->loop, &svc->diag_timer);
		free(svc->seen);
		svc->seen = NULL;
		svc->n_seen = 0;
		svc->handoff_active = 0;
		return;
	}
	double every = DIAG_MAX_INTERVAL;
	if (svc->inst_cfg->idle_timeout_ms != ZP_INFINITY &&
	    (double)svc->inst_cfg->idle_timeout_ms / 10000.0 < every)
		every = (double)svc->inst_cfg->idle_timeout_ms / 10000.0;
	if (every < DIAG_MIN_INTERVAL)
		every = DIAG_MIN_INTERVAL;
	/* The first look after one interval, not at once: the backend is
	 * starting and needs the CPU more (a poll walks every TCP socket of the
	 * host), and the idle timer, a tenth of the way, cannot fire before. */
	ev_timer_set(&svc->diag_timer, every, every);
	ev_timer_start(svc->env->loop, &svc->diag_timer);
}

static void listeners_start(struct service *svc)
{
	if (!svc->cfg->relay) {
		handoff_watch(svc);
		return;
	}
	for (size_t i = 0; i < svc->n_listeners; i++)
		listener_start(svc->listeners[i], on_accept, svc);
}

/* --- public -------------------------------------------------------------- */

/* A listen address shared by several services (host routing) has one
 * listener, held by one of them: the others get NULL for it, and keep only
 * the listeners they hold. Returns how many. */
static size_t listeners_held(struct listener **ls, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (ls[i])
			ls[k++] = ls[i];
	return k;
}

struct service *service_new(const struct service_env *env, struct service_config *cfg,
			    struct listener **listeners, int backend_listen_fd)
{
	struct service *svc = xcalloc(1, sizeof(*svc));
	svc->name = xstrdup(cfg->name);
	svc->cfg = cfg;
	svc->env = env;
	svc->drv = service_instance_driver(env);
	svc->state = SVC_STOPPED;
	svc->listeners = listeners;
	svc->n_listeners = listeners_held(listeners, cfg->n_listen);
	svc->backend_listen_fd = backend_listen_fd;
	service_backend_addr(env->runtime_dir, cfg, &svc->backend_addr);
	conn_queue_init(&svc->queue, env->loop, svc->name, cfg, &svc->usage, &queue_ops, svc);
	ev_init(&svc->idle_timer, on_idle_timeout);
	svc->idle_timer.data = svc;
	ev_init(&svc->freeze_timer, on_freeze_timeout);
	svc->freeze_timer.data = svc;
	ev_init(&svc->checkpoint_timer, on_checkpoint);
	svc->checkpoint_timer.data = svc;
	ev_init(&svc->handoff_timer, on_handoff_timer);
	svc->handoff_timer.data = svc;
	ev_init(&svc->diag_timer, on_diag_timer);
	svc->diag_timer.data = svc;

	char why[USAGE_WHY_MAX];
	if (usage_store_load(env->usage, env->state_dir, svc->name, wall_usec(), &svc->usage, why,
			     sizeof(why)) < 0)
		log_warning("%s: usage file: %s", svc->name, why);
	service_group_join(svc);
	listeners_start(svc);
	return svc;
}

void service_take_sockets(struct service *svc, struct listener ***listeners, size_t *n,
			  int *backend_listen_fd)
{
	for (size_t i = 0; i < svc->n_listeners; i++)
		listener_stop(svc->listeners[i]);
	*listeners = svc->listeners;
	*n = svc->n_listeners;
	*backend_listen_fd = svc->backend_listen_fd;
	svc->listeners = NULL;
	svc->n_listeners = 0;
	svc->backend_listen_fd = -1;
}

void service_reconfigure(struct service *svc, struct service_config *cfg,
			 struct listener **listeners, int backend_listen_fd)
{
	if (svc->cfg != svc->inst_cfg)
		service_config_free(svc->cfg);
	svc->cfg = cfg;
	svc->queue.cfg = cfg;
	svc->listeners = listeners;
	svc->n_listeners = listeners_held(listeners, cfg->n_listen);
	svc->backend_listen_fd = backend_listen_fd;
	service_backend_addr(svc->env->runtime_dir, cfg, &svc->backend_addr);
	svc->retired = false; /* a removed service may come back while draining */
	svc->backoff_until_usec = 0;
	svc->failures = 0;
	ev_timer_stop(svc->env->loop, &svc->handoff_timer);
	if (svc->inst && svc->inst_cfg->relay != cfg->relay) {
		/* Relayed and handed-off clients cannot share the listeners: the
		 * instance of the other mode stops (its clients are served to the
		 * end of its stop), and the next one starts in the new mode. */
		if (!cfg->relay)
			conn_queue_refuse_pending(&svc->queue, "relay = no by a reload");
		service_handle(svc,
			       &(struct event){.type = SE_STOP,
					       .reason = cfg->relay ? "relay = yes by a reload"
								    : "relay = no by a reload"});
	}
	/* A frozen instance stays frozen, unless the service no longer
	 * freezes. */
	if (svc->state == SVC_FROZEN && cfg->freeze_after_ms == ZP_INFINITY)
		service_handle(svc,
			       &(struct event){.type = SE_START,
					       .reason = "freeze_after = infinity by a reload"});
	/* A new idle_timeout and freeze_after apply from now. */
	ev_timer_stop(svc->env->loop, &svc->idle_timer);
	ev_timer_stop(svc->env->loop, &svc->freeze_timer);
	listeners_start(svc);
	service_group_join(svc);
	service_check_idle(svc);
}

void service_retire(struct service *svc)
{
	for (size_t i = 0; i < svc->n_listeners; i++)
		listener_free(svc->listeners[i]);
	free(svc->listeners);
	svc->listeners = NULL;
	svc->n_listeners = 0;
	svc->retired = true;
	ev_timer_stop(svc->env->loop, &svc->idle_timer);
	ev_timer_stop(svc->env->loop, &svc->freeze_timer);
	service_check_idle(svc);
}

void service_start(struct service *svc, const char *reason)
{
	svc->backoff_until_usec = 0;
	svc->failures = 0;
	service_handle(svc, &(struct event){.type = SE_START, .reason = reason});
}

void service_stop(struct service *svc, const char *reason)
{
	svc->start_requested = false;
	conn_queue_refuse_pending(&svc->queue, reason);
	service_handle(svc, &(struct event){.type = SE_STOP, .reason = reason});
}

void service_shutdown(struct service *svc)
{
	svc->shutting_down = true;
	for (size_t i = 0; i < svc->n_listeners; i++)
		listener_stop(svc->listeners[i]);
	service_stop(svc, "zeroproxy is shutting down");
}

void service_kill(struct service *svc)
{
	if (svc->inst)
		svc->drv->kill(svc->inst);
}

bool service_has_instance(const struct service *svc)
{
	return svc->inst != NULL;
}

bool service_child_exited(struct service *svc, pid_t pid, int status, const struct rusage *ru)
{
	return svc->inst && !svc->inst->reaped &&
	       svc->drv->child_exited(svc->inst, pid, status, ru);
}

void service_free(struct service *svc)
{
	if (!svc)
		return;
	struct ev_loop *loop = svc->env->loop;
	conn_queue_free(&svc->queue);
	if (svc->inst)
		service_free_inst(svc);
	for (size_t i = 0; i < svc->n_listeners; i++)
		listener_free(svc->listeners[i]);
	free(svc->listeners);
	if (svc->backend_listen_fd >= 0) {
		close(svc->backend_listen_fd);
		if (svc->backend_addr.kind == ZP_ADDR_UNIX)
			unlink(((struct sockaddr_un *)&svc->backend_addr.sa)->sun_path);
	}
	ev_timer_stop(loop, &svc->idle_timer);
	ev_timer_stop(loop, &svc->freeze_timer);
	ev_timer_stop(loop, &svc->checkpoint_timer);
	ev_timer_stop(loop, &svc->handoff_timer);
	ev_timer_stop(loop, &svc->diag_timer);
	free(svc->seen);
	if (svc->inst_gm != svc->gm)
		group_leave(svc->inst_gm);
	group_leave(svc->gm);
	service_config_free(svc->cfg);
	free(svc->last_error);
	free(svc->backend_status);
	free(svc->name);
	free(svc);
}

/* --- accessors for the daemon and reload --- */

const char *service_name(const struct service *svc)
{
	return svc->name;
}

const struct service_config *service_config(const struct service *svc)
{
	return svc->cfg;
}

bool service_is_running(const struct service *svc)
{
	return svc->state == SVC_RUNNING;
}

uint32_t service_connections(const struct service *svc)
{
	return open_conns(svc);
}

struct listener *const *service_listeners(const struct service *svc, size_t *n)
{
	*n = svc->n_listeners;
	return svc->listeners;
}

int service_backend_listen_fd(const struct service *svc)
{
	return svc->backend_listen_fd;
}

const struct addr *service_backend_bound_addr(const struct service *svc)
{
	return &svc->backend_addr;
}

const struct addr *service_instance_addr(const struct service *svc)
{
	return svc->inst ? &svc->inst_addr : NULL;
}

pid_t service_instance_pid(const struct service *svc)
{
	return svc->inst ? svc->inst->pid : 0;
}

bool service_owns_child(const struct service *svc, pid_t pid)
{
	return svc->inst && instance_has_child(svc->inst, pid);
}
