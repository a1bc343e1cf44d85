/*
 * metrics — an optional Prometheus text endpoint (GET /metrics) served by the
 * daemon's own loop, never blocking it.
 */
#ifndef ZP_METRICS_H
#define ZP_METRICS_H

#include <ev.h>

#include "address.h"
#include "status.h"

struct daemon;
struct metrics_server;

/* Listen on addr (HOST:PORT). 0 or -errno (logged). */
int metrics_server_new(struct ev_loop *loop, const struct zp_addr *addr, struct daemon *d,
		       struct metrics_server **out);
void metrics_server_free(struct metrics_server *m);

/* The exposition text for these services (HELP, TYPE, `service` label). */
void metrics_format(const struct service_status *st, size_t n, struct strbuf *out);

#endif
