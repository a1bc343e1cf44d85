/*
 * metrics — an optional Prometheus text endpoint (GET /metrics) served by the
 * daemon's own loop, never blocking it.
 */
#ifndef ZP_METRICS_H
#define ZP_METRICS_H

#include <ev.h>

#include "address.h"
#include "server_ops.h"
#include "status.h"

struct metrics_server;

/* Listen on addr (HOST:PORT); snapshots come from ops->status, called with
 * data. 0 or -errno (logged). */
int metrics_server_new(struct ev_loop *loop, const struct addr *addr, const struct server_ops *ops,
		       void *data, struct metrics_server **out);
void metrics_server_free(struct metrics_server *m);

/* The exposition text for these services (HELP, TYPE, `service` label). */
void metrics_format(const struct service_status *st, size_t n, struct strbuf *out);

#endif
