/*
 * daemon — the running zeroproxy: one libev loop, the services of the current
 * configuration, the control socket, the metrics endpoint, signals and
 * sd_notify. Everything else hangs off one struct daemon.
 */
#ifndef ZP_DAEMON_H
#define ZP_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "status.h"

struct daemon;

/* `zeroproxy run`: load the config, bind, serve until SIGTERM/SIGINT.
 * Returns the process exit code. */
int daemon_run(const char *config_path, bool explicit_path);

/* Snapshots of the named services, or of all when n == 0, in config order.
 * An unknown name: -ENOENT, *unknown set to it, nothing allocated. The caller
 * frees each with service_status_free() and the array with free(). */
int daemon_status(struct daemon *d, char *const *names, size_t n, struct service_status **out,
		  size_t *nout, const char **unknown);

/* Start (pre-warm) / stop a service's backend now. 0 or -ENOENT. */
int daemon_start_service(struct daemon *d, const char *name);
int daemon_stop_service(struct daemon *d, const char *name);

/* Re-read the configuration. 0, or -EINVAL with every error in diag (the old
 * configuration stays in force). */
int daemon_reload(struct daemon *d, struct zp_diag *diag);

/* The reason the last reload failed, or NULL after a good one. */
const char *daemon_reload_error(const struct daemon *d);

#endif
