/*
 * config_service — one services.d/NAME.conf: its key table, the parsers of
 * the value types only a service has (exec, listen, address, environment) and
 * the rules between its keys. Internal to the configuration code; the rest of
 * zeroproxy uses config.h.
 */
#ifndef ZP_CONFIG_SERVICE_H
#define ZP_CONFIG_SERVICE_H

#include <stddef.h>

#include "config.h"

/* Where a service's listen and address were written, for the rules across files. */
struct service_lines {
	unsigned *listen;      /* line of each listen[i]; malloc'd */
	unsigned address;      /* 0: no address */
	unsigned group;        /* [service] group, 0: not given */
	unsigned group_weight; /* 0: not given */
	unsigned *host;        /* line of each hosts[i]; malloc'd */
};

/* Parse one service file, reporting every error to d. Always returns the
 * struct (with what was valid) so that config_load can check the listen
 * addresses of every file; *n_errors says how many errors it added. */
struct service_config *service_parse(const char *path, const char *name, struct diag *d,
				     struct service_lines *lines, size_t *n_errors);

#endif
