/*
 * server_ops — what the control socket and the /metrics endpoint may ask of
 * the engine that runs them. The servers get this table and an opaque
 * pointer, so they never include the daemon (which includes them).
 */
#ifndef ZP_SERVER_OPS_H
#define ZP_SERVER_OPS_H

#include <stddef.h>

#include "status.h"

struct diag;

struct server_ops {
	/* Snapshots of the named services, or of all when n == 0, in
	 * configuration order. An unknown name: -ENOENT with *unknown set to it
	 * (when unknown is not NULL) and nothing allocated. The caller frees
	 * each with service_status_free() and the array with free(). */
	int (*status)(void *data, char *const *names, size_t n, struct service_status **out,
		      size_t *nout, const char **unknown);
	/* Start (pre-warm) / stop a service's backend now: 0 or -ENOENT. */
	int (*start)(void *data, const char *name);
	int (*stop)(void *data, const char *name);
	/* Re-read the configuration: 0, or -errno with the errors in diag (the
	 * running configuration then stays in force). */
	int (*reload)(void *data, struct diag *diag);
	/* Why the last reload failed, or NULL after a good one. */
	const char *(*reload_error)(void *data);
};

#endif
