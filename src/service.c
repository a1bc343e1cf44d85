/*
 * service — the per-service state machine; see service.h for the picture.
 *
 * Every state change goes through service_set_state(), which checks the move
 * against a table and logs "NAME: OLD -> NEW (REASON)". The connections are
 * the queue's (conn.h): the service opens it to a running instance and holds
 * it otherwise, and decides alone what a new connection starts or refuses.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "log.h"
#include "notify.h"
#include "service-internal.h"
#include "util.h"

#define BACKOFF_FIRST_USEC 1000000ULL
#define BACKOFF_MAX_USEC   60000000ULL
#define CHECKPOINT_SECONDS 60.0
/* An instance that exits this soon after it became ready, without having
 * served a byte, has not really started (see exit_unproven()). */
#define START_GRACE_USEC 1000000ULL

/* The supervisor as an instance_driver. */
static int supervisor_spawn(struct ev_loop *loop, const struct zp_service_config *cfg,
			    const struct spawn_env *env, const struct instance_ops *ops, void *data,
			    struct instance **out, char *why, size_t why_len)
{
	*out = instance_spawn(loop, cfg, env, ops, data, why, why_len);
	return *out ? 0 : -ECHILD;
}

static const struct instance_driver supervisor_driver = {
    .spawn = supervisor_spawn,
    .stop = instance_stop,
    .kill = instance_kill,
    .child_exited = instance_child_exited,
    .wait_gone = instance_wait_gone,
    .notify_ready = instance_notify_ready,
    .free = instance_free,
};

/* legal[from][to] */
static const bool legal[SVC__COUNT][SVC__COUNT] = {
    [SVC_STOPPED] = {[SVC_STARTING] = true, [SVC_FAILED] = true},
    [SVC_STARTING] = {[SVC_RUNNING] = true, [SVC_STOPPING] = true, [SVC_FAILED] = true},
    [SVC_RUNNING] = {[SVC_STOPPING] = true, [SVC_STOPPED] = true, [SVC_FAILED] = true},
    [SVC_STOPPING] = {[SVC_STOPPED] = true, [SVC_FAILED] = true},
    [SVC_FAILED] = {[SVC_STARTING] = true, [SVC_FAILED] = true},
};

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
	zp_log(prio, "%s: %s -> %s (%s)", svc->name, service_state_to_string(svc->state),
	       service_state_to_string(to), reason);
	svc->state = to;
	/* What the new state does not use goes here, in one place, so that no
	 * timer outlives its state (a crash while idle must not leave the idle
	 * timer for the next instance). */
	struct ev_loop *loop = svc->env->loop;
	if (to == SVC_RUNNING) {
		conn_queue_open(&svc->queue, &svc->inst_addr, svc->inst_gen);
	} else {
		ev_timer_stop(loop, &svc->idle_timer);
		conn_queue_hold(&svc->queue);
	}
	if (to == SVC_STOPPED || to == SVC_FAILED)
		ev_timer_stop(loop, &svc->checkpoint_timer);
	if (svc->env->changed)
		svc->env->changed(svc->env->data);
}

/* --- connections ------------------------------------------------------- */

/* What the connection queue tells the service. */
static void service_check_idle(struct service *svc);

static void on_conn_closed(void *data)
{
	struct service *svc = data;
	struct conn_budget *b = svc->env->budget;
	svc->env->conns_changed(svc->env->data);
	b->open--;
	if (b->throttled && b->open < b->max)
		svc->env->unthrottle(svc->env->data);
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
}

static const struct conn_queue_ops queue_ops = {
    .conn_closed = on_conn_closed,
    .changed = on_queue_changed,
    .first_byte = on_first_byte,
};

/* --- instances ----------------------------------------------------------- */

static void service_spawn(struct service *svc, const char *reason);

static void service_free_inst(struct service *svc)
{
	svc->drv->free(svc->inst);
	svc->inst = NULL;
	if (svc->inst_cfg != svc->cfg)
		service_config_free(svc->inst_cfg);
	svc->inst_cfg = NULL;
}

/* Record a failed start: reason for status, back-off, waiting clients closed. */
static void service_start_failed(struct service *svc, const char *reason)
{
	free(svc->last_error);
	svc->last_error = xasprintf("start failed: %s", reason);
	svc->start_failed = true;
	svc->failures++;
	uint64_t backoff = BACKOFF_FIRST_USEC;
	for (unsigned i = 1; i < svc->failures && backoff < BACKOFF_MAX_USEC; i++)
		backoff *= 2;
	if (backoff > BACKOFF_MAX_USEC)
		backoff = BACKOFF_MAX_USEC;
	svc->backoff_until_usec = now_usec() + backoff;
	conn_queue_refuse_waiting(&svc->queue, svc->inst_gen, "start failed");
}

static void inst_ready(struct instance *in, int probe_fd)
{
	struct service *svc = in->data;
	svc->last_ready_usec = in->ready_usec - in->spawn_usec;
	svc->has_ready = true;
	/* The failure count is reset once the instance has served (or ended
	 * normally), not here: a ready = socket backend is ready at exec. */
	svc->start_failed = false;
	service_set_state(svc, SVC_RUNNING, LOG_INFO, "ready after %.1f ms",
			  (double)svc->last_ready_usec / 1000.0);
	/* The probe connection is a working connection: give it to the first
	 * waiting client instead of throwing it away. */
	conn_queue_dispatch(&svc->queue, probe_fd);
	service_check_idle(svc);
}

static void inst_failed(struct instance *in, const char *reason)
{
	struct service *svc = in->data;
	service_start_failed(svc, reason);
	/* A stop (command, shutdown, removal) may have come first. */
	if (svc->state == SVC_STOPPING)
		log_error("%s: start failed: %s", svc->name, reason);
	else
		service_set_state(svc, SVC_STOPPING, LOG_ERR, "start failed: %s", reason);
}

/* Whether connections wait in the queue of our ready=socket backend socket
 * (the previous instance exited before accepting them). */
static bool backend_queue_waiting(const struct service *svc)
{
	if (svc->backend_listen_fd < 0)
		return false;
	struct pollfd p = {.fd = svc->backend_listen_fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/* Whether clients wait for the current instance: pending, relayed but not
 * answered yet, or queued in its backend socket. */
static bool clients_waiting(const struct service *svc)
{
	return svc->queue.n_pending || backend_queue_waiting(svc) ||
	       conn_queue_unanswered(&svc->queue, svc->inst_gen);
}

/* An instance that was ready and exited on its own (no stop asked for): a
 * failed start unless it proved itself. It has not when it sent no byte to
 * any client and either exited within START_GRACE_USEC of becoming ready or
 * left clients waiting for it. Without this rule a ready = socket backend
 * (ready at exec) that dies at once is respawned for its queued client
 * without end. A backend that served and then exited by itself (even at
 * once) is a normal exit; so is one that ran idle for a while and exited
 * with nobody waiting. */
static bool exit_unproven(const struct service *svc, const struct instance *in)
{
	if (svc->inst_served)
		return false;
	return in->exit_usec - in->ready_usec < START_GRACE_USEC || clients_waiting(svc);
}

/* For an exit with status 0 that counts as a failed start: the usual cause. */
static const char *daemon_hint(const struct instance *in)
{
	if (WIFEXITED(in->wait_status) && WEXITSTATUS(in->wait_status) == 0)
		return ": it probably forked into the background; it must run in the foreground "
		       "(see zeroproxy.conf(5))";
	return "";
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

	if (svc->shutting_down) {
		conn_queue_refuse_pending(&svc->queue, "zeroproxy is shutting down");
	} else if (svc->start_requested) {
		svc->start_requested = false;
		service_spawn(svc, "zeroproxy start");
	} else if (svc->queue.pending_head) {
		if (now_usec() < svc->backoff_until_usec)
			conn_queue_refuse_pending(&svc->queue, "back-off after a failed start");
		else
			service_spawn(svc, "connection waiting");
	} else if (!failed && backend_queue_waiting(svc)) {
		service_spawn(svc, "connection waiting in the backend socket");
	}
	service_check_idle(svc);
}

static void inst_exited(struct instance *in, const char *how)
{
	struct service *svc = in->data;
	enum service_state was = svc->state;
	char failure[512] = "";
	if (!svc->start_failed && was == SVC_STARTING)
		snprintf(failure, sizeof(failure), "%s before ready%s", how, daemon_hint(in));
	else if (!svc->start_failed && was == SVC_RUNNING && exit_unproven(svc, in))
		snprintf(failure, sizeof(failure),
			 "%s without serving a client (%.0f ms after the "
			 "spawn)%s",
			 how, (double)(in->exit_usec - in->spawn_usec) / 1000.0, daemon_hint(in));
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
		if (was != SVC_STOPPING)
			service_set_state(svc, SVC_STOPPING, prio, "%s", reason);
		return;
	}
	service_end_instance(svc, prio, reason);
}

static void inst_gone(struct instance *in)
{
	struct service *svc = in->data;
	char reason[128];
	snprintf(reason, sizeof(reason),
		 "the last process of the instance is gone, %.0f ms after "
		 "the main process",
		 (double)(now_usec() - in->exit_usec) / 1000.0);
	service_end_instance(svc, LOG_INFO, reason);
}

static const struct instance_ops inst_ops = {
    .ready = inst_ready,
    .failed = inst_failed,
    .exited = inst_exited,
    .gone = inst_gone,
};

static void on_checkpoint(struct ev_loop *loop, ev_timer *w, int revents)
{
	service_save_usage(w->data);
}

static void service_spawn(struct service *svc, const char *reason)
{
	assert(!svc->inst);
	svc->inst_cfg = svc->cfg;
	svc->inst_addr = svc->backend_addr;
	svc->start_failed = false;
	svc->inst_gen++;
	svc->inst_served = svc->inst_sampled = false;
	struct spawn_env env = {
	    .listen_fd = svc->cfg->ready == ZP_READY_SOCKET ? svc->backend_listen_fd : -1,
	    .notify_path = svc->cfg->ready == ZP_READY_NOTIFY ? svc->env->notify_path : NULL,
	    .nofile = svc->env->backend_nofile,
	};
	char *cg = NULL;
	if (svc->env->cgroup && cgroup_create(svc->env->cgroup, svc->name, &cg) < 0)
		cg = NULL;
	env.cgroup_path = cg;
	char why[256];
	svc->usage.cold_starts++;
	free(svc->backend_status);
	svc->backend_status = NULL;
	int r = svc->drv->spawn(svc->env->loop, svc->cfg, &env, &inst_ops, svc, &svc->inst, why,
				sizeof(why));
	if (r < 0 && cg)
		cgroup_remove(cg);
	free(cg);
	if (r < 0) {
		svc->inst = NULL;
		svc->inst_cfg = NULL;
		service_start_failed(svc, why);
		service_set_state(svc, SVC_FAILED, LOG_ERR, "start failed: %s", why);
		return;
	}
	service_set_state(svc, SVC_STARTING, LOG_INFO, "%s", reason);
	log_debug("%s: backend pid %d: %s", svc->name, (int)svc->inst->pid, svc->cfg->exec);
	ev_timer_set(&svc->checkpoint_timer, CHECKPOINT_SECONDS, CHECKPOINT_SECONDS);
	ev_timer_start(svc->env->loop, &svc->checkpoint_timer);
}

/* --- idle ---------------------------------------------------------------- */

static void on_idle_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct service *svc = w->data;
	char d[32];
	format_duration(svc->cfg->idle_timeout_ms, d, sizeof(d));
	if (svc->state != SVC_RUNNING || svc->queue.n_active + svc->queue.n_pending)
		return;
	service_set_state(svc, SVC_STOPPING, LOG_INFO, "idle %s", d);
	svc->drv->stop(svc->inst);
}

/* After any change in connections or instance: arm or disarm the idle timer,
 * and finish a retired service. */
static void service_check_idle(struct service *svc)
{
	struct ev_loop *loop = svc->env->loop;
	if (svc->queue.n_active + svc->queue.n_pending) {
		svc->idle_since_usec = 0;
		ev_timer_stop(loop, &svc->idle_timer);
		return;
	}
	/* idle_seconds counts from the last connection; before the first one
	 * there is nothing to count from (DESIGN.md: null). */
	if (!svc->idle_since_usec && svc->usage.connections_total)
		svc->idle_since_usec = now_usec();
	if (svc->retired) {
		if (svc->inst && svc->state != SVC_STOPPING) {
			service_set_state(svc, SVC_STOPPING, LOG_INFO,
					  "removed from the configuration");
			svc->drv->stop(svc->inst);
		} else if (!svc->inst && svc->env->drained) {
			svc->env->drained(svc->env->data, svc);
		}
		return;
	}
	if (svc->state == SVC_RUNNING && svc->cfg->idle_timeout_ms != ZP_INFINITY &&
	    !ev_is_active(&svc->idle_timer)) {
		ev_timer_set(&svc->idle_timer, (double)svc->cfg->idle_timeout_ms / 1000.0, 0);
		ev_timer_start(loop, &svc->idle_timer);
	}
}

/* --- accepting ----------------------------------------------------------- */

static void accept_conn(struct service *svc, int fd, const char *peer)
{
	svc->env->budget->open++;
	svc->env->conns_changed(svc->env->data);
	/* Queue it first so that refusing and counting go one way for all. */
	struct conn *c = conn_queue_add(&svc->queue, fd, peer, svc->state != SVC_RUNNING);

	if (svc->queue.n_active + svc->queue.n_pending > svc->cfg->max_connections) {
		conn_refuse(c, "max_connections reached");
		return;
	}
	if (now_usec() < svc->backoff_until_usec) {
		conn_refuse(c, "back-off after a failed start");
		return;
	}
	ev_timer_stop(svc->env->loop, &svc->idle_timer);
	svc->idle_since_usec = 0;
	if (svc->state == SVC_RUNNING && svc->queue.pending_head == c) {
		conn_queue_dispatch(&svc->queue, -1);
		service_check_idle(svc); /* a refused connect leaves the service idle */
		return;
	}
	/* A connection to a stopped service starts it, even when it cannot
	 * wait itself (max_pending = 0). */
	if (svc->state == SVC_STOPPED || svc->state == SVC_FAILED) {
		char reason[96];
		snprintf(reason, sizeof(reason), "connection from %s", peer);
		service_spawn(svc, reason);
		if (!svc->inst)
			return; /* the spawn failed and refused every pending connection */
	}
	/* Waiting: for a starting or stopping backend, or behind others that
	 * wait for file descriptors. Served when ready; while stopping, by the
	 * next instance. */
	if (svc->queue.n_pending > svc->cfg->max_pending) {
		conn_refuse(c, "max_pending reached");
		service_check_idle(svc);
		return;
	}
	conn_wait(c);
}

static bool on_accept(struct listener *l, int fd, const char *peer)
{
	struct service *svc = l->data;
	struct conn_budget *b = svc->env->budget;
	accept_conn(svc, fd, peer);
	if (b->open < b->max)
		return true;
	if (!b->throttled)
		log_warning("%u client connections open: the file descriptor limit allows no "
			    "more; new ones wait in the listen queue",
			    b->open);
	b->throttled = true;
	return false;
}

static void listeners_start(struct service *svc)
{
	for (size_t i = 0; i < svc->n_listeners; i++)
		listener_start(svc->listeners[i], on_accept, svc);
}

/* --- public -------------------------------------------------------------- */

int service_backend_addr(const char *runtime_dir, const struct zp_service_config *cfg,
			 struct zp_addr *a)
{
	if (cfg->has_address) {
		*a = cfg->address;
		return 0;
	}
	memset(a, 0, sizeof(*a));
	a->kind = ZP_ADDR_UNIX;
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->sa;
	sun->sun_family = AF_UNIX;
	int len =
	    snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s.sock", runtime_dir, cfg->name);
	if (len < 0 || (size_t)len >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	a->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)len + 1);
	snprintf(a->text, sizeof(a->text), "unix:%s", sun->sun_path);
	return 0;
}

struct service *service_new(const struct service_env *env, struct zp_service_config *cfg,
			    struct listener **listeners, int backend_listen_fd)
{
	struct service *svc = xcalloc(1, sizeof(*svc));
	svc->name = xstrdup(cfg->name);
	svc->cfg = cfg;
	svc->env = env;
	svc->drv = env->instances ? env->instances : &supervisor_driver;
	svc->state = SVC_STOPPED;
	svc->listeners = listeners;
	svc->n_listeners = cfg->n_listen;
	svc->backend_listen_fd = backend_listen_fd;
	service_backend_addr(env->runtime_dir, cfg, &svc->backend_addr);
	conn_queue_init(&svc->queue, env->loop, svc->name, cfg, &svc->usage, &queue_ops, svc);
	ev_init(&svc->idle_timer, on_idle_timeout);
	svc->idle_timer.data = svc;
	ev_init(&svc->checkpoint_timer, on_checkpoint);
	svc->checkpoint_timer.data = svc;

	char *why = NULL;
	if (usage_store_load(env->usage, env->state_dir, svc->name, wall_usec(), &svc->usage,
			     &why) != USAGE_LOADED) {
		log_warning("%s: usage file: %s", svc->name, why);
		free(why);
	}
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

void service_reconfigure(struct service *svc, struct zp_service_config *cfg,
			 struct listener **listeners, int backend_listen_fd)
{
	if (svc->cfg != svc->inst_cfg)
		service_config_free(svc->cfg);
	svc->cfg = cfg;
	svc->queue.cfg = cfg;
	svc->listeners = listeners;
	svc->n_listeners = cfg->n_listen;
	svc->backend_listen_fd = backend_listen_fd;
	service_backend_addr(svc->env->runtime_dir, cfg, &svc->backend_addr);
	svc->retired = false; /* a removed service may come back while draining */
	svc->backoff_until_usec = 0;
	svc->failures = 0;
	/* A new idle_timeout applies from now. */
	ev_timer_stop(svc->env->loop, &svc->idle_timer);
	listeners_start(svc);
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
	service_check_idle(svc);
}

void service_start(struct service *svc, const char *reason)
{
	svc->backoff_until_usec = 0;
	svc->failures = 0;
	if (svc->state == SVC_STOPPED || svc->state == SVC_FAILED)
		service_spawn(svc, reason);
	else if (svc->state == SVC_STOPPING)
		svc->start_requested = true; /* once the old instance is gone */
}

void service_stop(struct service *svc, const char *reason)
{
	svc->start_requested = false;
	conn_queue_refuse_pending(&svc->queue, reason);
	if (svc->inst && svc->state != SVC_STOPPING) {
		service_set_state(svc, SVC_STOPPING, LOG_INFO, "%s", reason);
		svc->drv->stop(svc->inst);
	}
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

bool service_notify(struct service *svc, pid_t pid, const char *msg)
{
	if (!svc->inst || svc->inst_cfg->ready != ZP_READY_NOTIFY)
		return false;
	/* Only the backend's own processes (its process group) may speak. */
	if (pid != svc->inst->pid && getpgid(pid) != svc->inst->pid)
		return false;
	char buf[256];
	if (notify_field(msg, "STATUS", buf, sizeof(buf))) {
		free(svc->backend_status);
		svc->backend_status = xstrdup(buf);
	}
	if (notify_field(msg, "READY", buf, sizeof(buf)) && strcmp(buf, "1") == 0)
		svc->drv->notify_ready(svc->inst);
	return true;
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
	ev_timer_stop(loop, &svc->checkpoint_timer);
	service_config_free(svc->cfg);
	free(svc->last_error);
	free(svc->backend_status);
	free(svc->name);
	free(svc);
}
