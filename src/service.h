/*
 * service — one configured service at run time: its listeners, its client
 * connections (pending until a backend is ready, then relayed), its backend
 * instance, and the state machine that ties them together:
 *
 *   stopped ──connection──▶ starting ──ready──▶ running ──idle──▶ stopping ──exit──▶ stopped
 *                              │                 │ ▲ ├──exit──▶ stopped                │
 *                              │   freeze_after  │ │ └──exit, not proven──▶ failed     │
 *                              │                 ▼ │ connection, start                 │
 *                              │                frozen ──idle, stop──▶ stopping        │
 *                              └──start failed──▶ (stopping ──exit──▶) failed ◀─────────┘
 *
 *   stopped/failed ──connection, group full──▶ waiting ──room──▶ starting
 *
 * "exit" is the exit of the backend's last process: while processes of an
 * instance outlive its main one, the service is stopping. A frozen instance
 * (freeze_after) keeps its memory and uses no CPU; it is thawed before
 * anything else is asked of it.
 * Connections that arrive while starting or stopping wait (pending) and are
 * served by the next ready instance; only limits and a failed start's back-off
 * refuse a connection. service.c has the whole table of states × events.
 */
#ifndef ZP_SERVICE_H
#define ZP_SERVICE_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include "budget.h"
#include "config.h"
#include "listener.h"
#include "status.h"
#include "instance.h"
#include "usage.h"

/* One service; its fields are the service's own (service-internal.h). */
struct service;
struct cgroup_root;
struct group_set;

/* How a service drives its instances: NULL in service_env means the
 * instance functions (instance.h); the unit test of the state
 * machine plugs in a fake that records the calls and fires the instance_ops
 * callbacks itself. Each entry is the instance_* function of the same name. */
struct instance_driver {
	/* 0 and *out, or -errno with a reason in why (nothing was spawned). */
	int (*spawn)(struct ev_loop *loop, const struct service_config *cfg,
		     const struct spawn_env *env, const struct instance_ops *ops, void *data,
		     struct instance **out, char *why, size_t why_len);
	void (*stop)(struct instance *in);
	void (*kill)(struct instance *in);
	bool (*child_exited)(struct instance *in, pid_t pid, int status, const struct rusage *ru);
	int (*wait_gone)(struct instance *in);
	void (*notify_ready)(struct instance *in);
	void (*freeze)(struct instance *in);
	void (*thaw)(struct instance *in);
	void (*free)(struct instance *in);
};

/* What every service shares, owned by the daemon. */
struct service_env {
	struct ev_loop *loop;
	const char *notify_path;           /* NOTIFY_SOCKET for ready=notify backends */
	const char *state_dir;             /* usage files */
	struct usage_store *usage;         /* their writer thread, or NULL: on the loop */
	const char *runtime_dir;           /* private backend sockets for ready=socket */
	struct cgroup_root *cgroup;        /* per-instance cgroups, or NULL (rusage) */
	void (*changed)(void *data);       /* a service changed state (for sd_notify STATUS=) */
	void (*conns_changed)(void *data); /* connections opened or closed (same, rate-limited) */
	void (*drained)(void *data, struct service *svc); /* a retired service is done */
	struct conn_budget *budget; /* counts every connection, pauses the listeners */
	rlim_t backend_nofile;      /* RLIMIT_NOFILE soft limit for backends (0: ours) */
	const struct instance_driver *instances; /* NULL: the instance_* functions */
	struct group_set *groups; /* the [group NAME]s services join, or NULL: none */
	void *data;
	/* Host routing (set by reload): the service of route table front that
	 * takes a request for host, in *to (NULL: nobody); false when there is
	 * no such table (its address routes no more: the connection stays). */
	bool (*route)(void *route_data, unsigned front, const char *host, struct service **to);
	void *route_data;
};

/* Where instances of cfg accept: its address, or for ready = socket without
 * one, RUNTIME_DIR/NAME.sock. 0 or -ENAMETOOLONG. */
int service_backend_addr(const char *runtime_dir, const struct service_config *cfg, struct addr *a);

/* A service for cfg (ownership taken) with its listeners already bound
 * (ownership taken; n == cfg->n_listen). Loads its usage. Starts accepting. */
struct service *service_new(const struct service_env *env, struct service_config *cfg,
			    struct listener **listeners, int backend_listen_fd);

/* Hand the listeners and the ready=socket backend socket over to the caller
 * (a reload, which reuses what did not change); the service stops accepting. */
void service_take_sockets(struct service *svc, struct listener ***listeners, size_t *n,
			  int *backend_listen_fd);

/* Take a new configuration (reload) with its listeners (ownership taken) and
 * start accepting again. Clears the back-off. A running backend keeps running
 * with the settings it was started with. */
void service_reconfigure(struct service *svc, struct service_config *cfg,
			 struct listener **listeners, int backend_listen_fd);

/* Removed by a reload: close the listeners now, let connections finish, then
 * stop the backend; env->drained is called when nothing is left. */
void service_retire(struct service *svc);

/* `zeroproxy start`: start now (clears back-off). `zeroproxy stop`: stop now. */
void service_start(struct service *svc, const char *reason);
void service_stop(struct service *svc, const char *reason);

/* Shutdown: stop accepting and stop the backend. */
void service_shutdown(struct service *svc);

/* Second SIGTERM: SIGKILL the backend now. */
void service_kill(struct service *svc);

/* Whether the service still has a backend process. */
bool service_has_instance(const struct service *svc);

/* A reaped child: true if it was this service's instance. */
bool service_child_exited(struct service *svc, pid_t pid, int status, const struct rusage *ru);

/* An sd_notify message from pid: true if it belonged to this service. */
bool service_notify(struct service *svc, pid_t pid, const char *msg);

/* Fill a status snapshot. */
void service_status(struct service *svc, struct service_status *st);

/* Write the usage file now. */
void service_save_usage(struct service *svc);

/* Close everything (the instance must be gone) and free. */
void service_free(struct service *svc);

/* --- accessors for the daemon and reload --- */

/* The service's name, and its current configuration (the one new instances
 * start with). */
const char *service_name(const struct service *svc);
const struct service_config *service_config(const struct service *svc);

/* In state running (for the STATUS= summary). */
bool service_is_running(const struct service *svc);

/* Client connections, relayed and waiting. */
uint32_t service_connections(const struct service *svc);

/* The listeners the service accepts on now (*n of them; none once retired). */
struct listener *const *service_listeners(const struct service *svc, size_t *n);

/* ready = socket: the socket zeroproxy holds for the backends, or -1 (none,
 * or handed over by service_take_sockets()), and the address it is (or was
 * last) bound to. */
int service_backend_listen_fd(const struct service *svc);
const struct addr *service_backend_bound_addr(const struct service *svc);

/* The running instance's address, or NULL without an instance. */
const struct addr *service_instance_addr(const struct service *svc);

/* The running instance's main pid, or 0 without an instance. */
pid_t service_instance_pid(const struct service *svc);

/* Whether pid is a child of this service's instance (its main process or
 * its readiness probe), to hand a reaped child to its owner. */
bool service_owns_child(const struct service *svc, pid_t pid);

#endif
