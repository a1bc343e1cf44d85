/*
 * route — host routing on a listen address shared by several http services
 * (`host` in [http]): which of them takes a request, by its Host.
 *
 * Pure: a table per address, built by reload after each configuration, and
 * a lookup per request. The Host looked up is the tracker's (http.h): parsed,
 * validated, lowercase and without its port. An exact name wins over a
 * wildcard, a longer wildcard ("*.a.example.com") over a shorter one; a
 * request no name takes goes to the address's default (its service without
 * host), or to nobody.
 */
#ifndef ZP_ROUTE_H
#define ZP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "address.h"

struct route_entry {
	char *host; /* lowercase; a wildcard as its suffix ".example.com" */
	size_t len; /* of host */
	bool wildcard;
	void *target;
};

struct route_table {
	unsigned id;      /* the listener's (struct listener.front), never 0 */
	struct addr addr; /* the listen address */
	struct route_entry *e;
	size_t n;
	size_t n_targets;       /* services on the address */
	void *dflt;             /* the service without host, or NULL */
	size_t max_header_size; /* the largest of its services': bounds a first head */
};

/* Add a target's host ("*.example.com" for a wildcard), copied. */
void route_add(struct route_table *t, const char *host, void *target);

/* Who takes a request for host ("" when it has none): a target, the
 * default, or NULL. */
void *route_lookup(const struct route_table *t, const char *host);

void route_table_free(struct route_table *t);

#endif
