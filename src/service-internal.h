/*
 * service-internal — the inside of a service, shared by its own files only:
 * service.c (the state machine), service-instance.c (its instance's spawn and
 * the verdict on its start), service-status.c (status snapshots and the
 * meter) and the state machine's unit test. Everyone else goes through
 * service.h, so that the state machine's invariants stay in its files.
 */
#ifndef ZP_SERVICE_INTERNAL_H
#define ZP_SERVICE_INTERNAL_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "config.h"
#include "conn.h"
#include "group.h"
#include "service.h"
#include "instance.h"
#include "sockdiag.h"
#include "usage.h"

struct service {
	char *name;
	struct service_config *cfg; /* current configuration (owned) */
	const struct service_env *env;
	const struct instance_driver *drv; /* env->instances, or the instance_* functions */
	enum service_state state;
	/* Flags that qualify the state; service.c says why none is a state. */
	bool start_failed;    /* the current instance's start failed */
	bool inst_served;     /* the current instance sent a byte to a client */
	bool start_requested; /* `zeroproxy start` while stopping */
	bool shutting_down;   /* zeroproxy is exiting: never start again */
	bool retired;         /* removed by a reload: draining */
	bool requesting;      /* asking its group for room (an admission now is the answer) */

	struct listener **listeners; /* one per cfg->listen */
	size_t n_listeners;
	struct addr backend_addr; /* where new instances accept */
	int backend_listen_fd;    /* ready=socket: our socket on backend_addr, else -1 */

	struct instance *inst;           /* the backend process, or NULL */
	struct service_config *inst_cfg; /* the config inst was started with (owned if != cfg) */
	struct addr inst_addr;           /* where inst accepts */
	uint64_t inst_peak_bytes;        /* largest memory seen of inst so far */
	unsigned inst_gen;        /* counts spawns; a connection keeps the one it was relayed to */
	bool inst_sampled;        /* inst's cold start was recorded */
	bool has_ready;           /* last_ready_usec is known */
	uint64_t last_ready_usec; /* spawn to ready of the latest instance */

	struct conn_queue queue; /* the client connections */

	ev_timer idle_timer;        /* idle_timeout after the last connection */
	ev_timer freeze_timer;      /* freeze_after after the last connection */
	uint64_t frozen_since_usec; /* monotonic: entered frozen (valid while frozen) */
	uint64_t inst_frozen_usec;  /* inst's frozen time before frozen_since_usec */
	bool thaw_pending;          /* thawed for a connection: its first byte is the thaw time */
	uint64_t thaw_arrive_usec;  /* that connection's arrival */
	ev_timer handoff_timer;     /* relay = no: the back-off before a queued connection starts */
	ev_timer diag_timer;        /* relay = no: polls the kernel's connections while running */
	uint32_t handoff_active;    /* relay = no: open connections the last poll saw */
	struct sockdiag_conn *seen; /* relay = no: those, sorted by cookie */
	size_t n_seen;
	bool diag_warned;            /* a failed poll was logged */
	ev_timer checkpoint_timer;   /* usage written once a minute while running */
	uint64_t idle_since_usec;    /* monotonic; 0: connections open or none yet */
	uint64_t backoff_until_usec; /* monotonic; connections refused before it */
	unsigned failures;           /* consecutive failed starts */
	bool start_failure_unlogged; /* service_start_failed() ran; its line (the next move) is to
					come */
	char *last_error;
	char *backend_status; /* last STATUS= from the backend */

	struct usage usage; /* the meter, persisted in state_dir */

	struct group_member *gm;      /* membership in cfg's group, or NULL */
	struct group_member *inst_gm; /* the one inst holds its weight in (gm, or the
				       * group of the config it started with), or NULL */
};

/* What happens to a service; service.c has the table of what each does in
 * each state. */
enum service_event {
	SE_CONNECT, /* a client connection was queued, within the limits */
	SE_START,   /* `zeroproxy start` */
	SE_STOP,    /* `zeroproxy stop`, shutdown, the last connection of a removed service */
	SE_IDLE,    /* idle_timeout after the last connection */
	SE_FREEZE,  /* freeze_after after the last connection */
	SE_READY,   /* the instance is ready */
	SE_FAILED,  /* its start failed (exec, start_timeout); it is being stopped */
	SE_EXITED,  /* its main process was reaped */
	SE_GONE,    /* its last process is gone, after an EXITED that found some left */
	SE_ROOM,    /* its group made room for it (it waited) */
	SE__COUNT,
};

const char *service_event_to_string(enum service_event e);

/* Whether e can happen in state s (its cell of the table is not empty). */
bool service_event_possible(enum service_state s, enum service_event e);

/* Whether the table moves from one state to another anywhere. */
bool service_move_legal(enum service_state from, enum service_state to);

/* How its group sees a service (service.c); the unit test fires ROOM with
 * its admit. */
extern const struct group_member_ops service_group_ops;

/* service-instance.c: the instance side. */

/* env->instances, or the instance_* functions. */
const struct instance_driver *service_instance_driver(const struct service_env *env);

/* Spawn an instance of the current config, reporting to ops; the caller
 * moves the state. 0, or -errno with why (why_len bytes) after recording the
 * failed start. */
int service_spawn(struct service *svc, const struct instance_ops *ops, char *why, size_t why_len);

/* relay = no: the name of a listen address in LISTEN_FDNAMES (systemd:NAME
 * is NAME, unix:PATH is PATH, HOST:PORT is HOST_PORT: a name holds no ':'),
 * and the names of all, ':'-separated. Free them. */
char *service_fdname(const struct addr *a);
char *service_fdnames(struct listener *const *listeners, size_t n);

/* Free the instance (reaped and done) and the config it kept. */
void service_free_inst(struct service *svc);

/* Record a failed start: the reason for status, the back-off, and the
 * clients waiting for the instance refused. */
void service_start_failed(struct service *svc, const char *reason);

/* Whether connections wait in the queue of our ready = socket backend
 * socket (the previous instance exited before accepting them). */
bool service_backend_queue_waiting(const struct service *svc);

/* relay = no: whether a connection waits in a listener's queue. */
bool service_listeners_waiting(const struct service *svc);

/* Whether the instance, ready and exited on its own, has not proven its
 * start (see there). */
bool service_exit_unproven(const struct service *svc, const struct instance *in);

/* For an exit that counts as a failed start: the usual cause, or "". */
const char *service_exit_hint(const struct instance *in);

/* service-status.c: the instance is over: add its life, CPU and peak memory
 * to the meter, and its exit to last_exit. */
void service_meter_end(struct service *svc);

/* The current instance's frozen time so far, at now (monotonic). */
uint64_t service_inst_frozen_usec(const struct service *svc, uint64_t now);

#endif
