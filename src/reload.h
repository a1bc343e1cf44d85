/*
 * reload — applying a configuration to the running daemon: the first one at
 * start-up and every reload after it. A reload is prepare-then-commit: the new
 * configuration is loaded and every socket it needs (listeners, ready=socket
 * backend sockets, the control and metrics servers) is reused or bound before
 * anything changes; any error leaves the running configuration untouched. The
 * commit hands the sockets to new, changed, returning and removed services and
 * removes the backend socket files a reload left once no backend uses them.
 *
 * Direction: reload sits below the daemon. It works on struct daemon_core,
 * the state a configuration is applied to, which the daemon embeds, sets up
 * and frees; reload.c never calls into daemon.c. What reload needs of the
 * daemon comes in the core as data: the service env for new services and the
 * server_ops table (with its data) for new control and metrics servers. The
 * daemon calls reload on start-up, SIGHUP and `zeroproxy reload`, and keeps
 * what only a running process has: signals, reaping, sd_notify STATUS=, the
 * watchdog and shutdown. So: main → daemon → reload → service, control,
 * metrics, budget → …
 */
#ifndef ZP_RELOAD_H
#define ZP_RELOAD_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "budget.h"
#include "config.h"
#include "server_ops.h"
#include "service.h"

struct passed_fd;   /* a socket systemd passed (reload.c) */
struct route_table; /* host routing (route.h) */
struct stale_sock;  /* an old backend socket file (reload.c) */

/* What a configuration is applied to. The daemon owns it (daemon.c embeds
 * it); the fields marked "reload" are kept by reload.c, the others are set by
 * the daemon before the first configuration. */
struct daemon_core {
	struct ev_loop *loop;
	char *config_path; /* what a reload re-reads */
	bool explicit_path;
	char *runtime_dir;                   /* ready=socket backend sockets */
	struct service_env env;              /* for new services; reload keeps env.state_dir */
	struct conn_budget budget;           /* reload sizes it after each configuration */
	const struct server_ops *ops;        /* for the control and metrics servers */
	void *ops_data;                      /* their data */
	struct config *cfg;                  /* reload: current; its services moved into svcs */
	struct service **svcs;               /* reload: in config order */
	size_t n_svcs;                       /* reload */
	struct service **retired;            /* reload: removed by a reload, draining */
	size_t n_retired;                    /* the daemon drops those drained */
	char *state_dir;                     /* reload: the env's copy; a reload may change it */
	struct passed_fd *passed;            /* reload: from systemd, kept for reloads */
	size_t n_passed;                     /* reload */
	struct stale_sock *stale;            /* reload: old backend socket files still in use */
	size_t n_stale;                      /* reload */
	struct control_server *control;      /* reload; the daemon frees it at shutdown */
	struct metrics_server *metrics;      /* reload; NULL: metrics off */
	struct control_server *dead_control; /* reload: replaced, freed on the next */
	struct metrics_server *dead_metrics; /* loop iteration (the reload may have come */
	ev_timer reap;                       /* from a client of the old control server) */
	char *reload_error;                  /* reload: the last failed reload, for status */
	struct route_table *fronts;          /* reload: host routing, per shared address */
	size_t n_fronts;                     /* reload */
	unsigned last_front;                 /* reload: the last route table id given */
};

/* Take the sockets systemd passed (by FileDescriptorName) for the
 * configurations to come. 0 or -errno (logged). */
int reload_passed_fds_load(struct daemon_core *c);

/* Close them at exit, after the listeners on them are gone. */
void reload_passed_fds_close(struct daemon_core *c);

/* Apply the first configuration (ownership taken, freed on failure): 0, or
 * -EINVAL with the errors in diag and logged. Warns of passed sockets that no
 * service uses. */
int reload_first(struct daemon_core *c, struct config *cfg, struct diag *diag);

/* Re-read the configuration and apply it, telling systemd (RELOADING=1,
 * READY=1). 0, or -EINVAL with every error in diag (the old configuration
 * stays in force, c->reload_error says why). */
int reload_run(struct daemon_core *c, struct diag *diag);

/* A service of the running configuration by name, or NULL. */
struct service *reload_find_service(const struct daemon_core *c, const char *name);

/* Remove every old backend socket file nobody uses any more. gone: a service
 * whose instance's main process was just reaped (its socket is free), or
 * NULL. */
void reload_sweep_stale(struct daemon_core *c, const struct service *gone);

/* At exit, every backend gone: remove the old socket files and forget them. */
void reload_stale_free(struct daemon_core *c);

/* At exit: free the route tables. */
void reload_fronts_free(struct daemon_core *c);

/* Log a configuration's warnings and errors. */
void reload_log_diag(const struct diag *diag);

#endif
