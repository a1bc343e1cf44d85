/*
 * route — host routing tables; see route.h.
 */
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "util.h"

void route_add(struct route_table *t, const char *host, void *target)
{
	t->e = realloc(t->e, (t->n + 1) * sizeof(*t->e));
	if (!t->e)
		abort();
	struct route_entry *e = &t->e[t->n++];
	e->wildcard = strncmp(host, "*.", 2) == 0;
	e->host = xstrdup(e->wildcard ? host + 1 : host);
	e->len = strlen(e->host);
	e->target = target;
}

void *route_lookup(const struct route_table *t, const char *host)
{
	size_t len = strlen(host);
	/* "example.com." is example.com (a fully qualified name). */
	if (len > 1 && host[len - 1] == '.')
		len--;
	const struct route_entry *best = NULL;
	for (size_t i = 0; i < t->n; i++) {
		const struct route_entry *e = &t->e[i];
		if (!e->wildcard) {
			if (e->len == len && memcmp(e->host, host, len) == 0)
				return e->target;
			continue;
		}
		/* ".example.com" takes a.example.com, not example.com. */
		if (len > e->len && memcmp(host + len - e->len, e->host, e->len) == 0 &&
		    (!best || e->len > best->len))
			best = e;
	}
	return best ? best->target : t->dflt;
}

void route_table_free(struct route_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->e[i].host);
	free(t->e);
	t->e = NULL;
	t->n = 0;
}
