/*
 * config — the whole configuration: zeroproxy.conf and one services.d/NAME.conf
 * per service, parsed with inih and validated completely before anything uses
 * it. A struct config is immutable once loaded; a reload builds a new one.
 */
#ifndef ZP_CONFIG_H
#define ZP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "address.h"
#include "diag.h" /* struct diag, diag_error() & co. */

enum ready_mode {
	ZP_READY_CONNECT, /* poll-connect to address until it accepts */
	ZP_READY_NOTIFY,  /* wait for READY=1 on our NOTIFY_SOCKET */
	ZP_READY_SOCKET,  /* we listen on address and pass the socket as fd 3 */
	ZP_READY_COMMAND, /* run ready_command until it exits 0 */
	ZP_READY_HTTP,    /* GET ready_path on address until the status is below 500 */
};

/* The longest ready_path. */
#define ZP_READY_PATH_MAX 1024

const char *ready_name(enum ready_mode r);

/* How stop_signal reaches the instance (systemd's KillMode names). */
enum kill_mode {
	ZP_KILL_MIXED,         /* the main process only; SIGKILL to the rest at stop_timeout */
	ZP_KILL_CONTROL_GROUP, /* every process of the instance at once */
};

const char *kill_mode_name(enum kill_mode m);

/* What zeroproxy understands of a service's traffic. */
enum protocol {
	ZP_PROTOCOL_TCP,  /* bytes: idle means no connection open */
	ZP_PROTOCOL_HTTP, /* HTTP/1.x requests: idle means no request in flight */
};

const char *protocol_name(enum protocol p);

/* What wakes a stopped service (wake_on). */
enum wake_on {
	ZP_WAKE_CONNECT, /* a connection, at its accept */
	ZP_WAKE_DATA,    /* tcp: a connection's first byte; one closed before it wakes nothing */
};

const char *wake_on_name(enum wake_on w);

/* Defaults, as zeroproxy.conf(5) lists them. */
#define ZP_DEFAULT_IDLE_TIMEOUT_MS      (5 * 60 * 1000ULL)
#define ZP_DEFAULT_MAX_CONNECTIONS      1024
#define ZP_DEFAULT_MAX_PENDING          256
#define ZP_DEFAULT_PENDING_TIMEOUT_MS   (30 * 1000ULL)
#define ZP_DEFAULT_CONN_IDLE_TIMEOUT_MS (60 * 60 * 1000ULL)
#define ZP_DEFAULT_START_TIMEOUT_MS     (30 * 1000ULL)
#define ZP_DEFAULT_STOP_TIMEOUT_MS      (10 * 1000ULL)
#define ZP_DEFAULT_MAX_HEADER_SIZE      (64 * 1024)
/* The longest host name (RFC 1035: 253 characters). */
#define ZP_HOST_MAX 253
/* The largest max_header_size accepted (http.h's HTTP_HEADER_SIZE_LIMIT). */
#define ZP_MAX_HEADER_SIZE_LIMIT         (1024 * 1024)
#define ZP_DEFAULT_LOADING_PAGE_AFTER_MS 1000ULL
/* The largest loading_page file, and the longest idle_ignore prefix or
 * ua: substring (bytes). */
#define ZP_LOADING_PAGE_MAX (64 * 1024)
#define ZP_IDLE_IGNORE_MAX  255

struct service_config {
	char *name; /* file name without .conf */
	char *path; /* the file it came from */

	/* [service] */
	struct addr *listen; /* every listen =, in order */
	size_t n_listen;
	uint64_t idle_timeout_ms;            /* ZP_INFINITY: never stop */
	uint64_t freeze_after_ms;            /* idle this long: frozen; ZP_INFINITY: never */
	uint32_t max_connections;            /* active + pending */
	uint32_t max_pending;                /* waiting for the backend */
	uint64_t pending_timeout_ms;         /* a waiting connection is closed after this */
	uint64_t connection_idle_timeout_ms; /* no bytes either way for this long: close */
	bool relay; /* false: hand-off, the backend accepts on our listeners */
	enum protocol protocol;
	enum wake_on wake_on;

	/* [http] (protocol = http only) */
	size_t max_header_size;      /* bytes of a request head at most, else 431 */
	char **idle_ignore_paths;    /* idle_ignore = /PREFIX, NULL-terminated, may be NULL */
	char **idle_ignore_agents;   /* idle_ignore = ua:TEXT, TEXT only (matched ignoring case) */
	uint32_t idle_ignore_status; /* what zeroproxy answers them while stopped: 200 or 503 */
	bool loading_page;           /* loading_page = yes or a file */
	char *loading_page_file;     /* the file's path; NULL: the built-in page */
	char *loading_page_body;     /* the file's contents, read at load */
	size_t loading_page_len;
	uint64_t loading_page_after_ms; /* a waiting navigation gets it after this */
	char **hosts;                   /* host routing: lowercase names, "*.example.com" wildcards;
					 * NULL-terminated, NULL: none (the address's default) */

	/* [backend] */
	char *exec;          /* as written */
	char **argv;         /* exec split, NULL-terminated */
	bool has_address;    /* address = given */
	struct addr address; /* where the backend accepts */
	enum ready_mode ready;
	char **ready_argv; /* ready_command split, NULL-terminated; NULL unless ready = command */
	char *ready_path;  /* ready = http: the target it GETs; NULL: "/" */
	uint64_t start_timeout_ms;
	int stop_signal;
	uint64_t stop_timeout_ms;
	enum kill_mode kill_mode;
	char *user;              /* NULL: do not change */
	char *group;             /* NULL: user's primary group, or unchanged */
	char *working_directory; /* NULL: inherit */
	char **environment;      /* KEY=VALUE, NULL-terminated, may be NULL */

	/* [service] group, group_weight */
	char *group_name;      /* a [group NAME] of zeroproxy.conf, or NULL */
	uint32_t group_weight; /* its share of the group's capacity while it has an instance */
};

/* [group NAME] of zeroproxy.conf. */
struct group_config {
	char *name;
	uint32_t capacity; /* sum of group_weight of the members with an instance, at most */
	unsigned line;     /* of its header */
};

struct config {
	char *path;           /* zeroproxy.conf (may not exist when not explicit) */
	char *services_dir;   /* resolved */
	char *control_socket; /* resolved */
	char *state_dir;      /* resolved */
	int log_level;        /* LOG_* */
	bool has_metrics;     /* metrics_listen set */
	struct addr metrics_listen;

	struct service_config **services; /* sorted by name */
	size_t n_services;

	struct group_config *groups; /* in file order */
	size_t n_groups;
};

/* Load the global file at path (explicit: given with -c, so it must exist) and
 * every service file in its services_dir. Returns 0 and *out on success; on any
 * error returns -EINVAL with every error found in d and *out NULL. Warnings
 * (e.g. an exec program not found in PATH) are added to d either way. */
int config_load(const char *path, bool explicit_path, struct config **out, struct diag *d);

/* Load only the global file (the client commands need no more than the
 * control socket's path, even when a service file is broken). *out has no
 * services. 0 or -EINVAL with the errors in d. */
int config_load_global(const char *path, bool explicit_path, struct config **out, struct diag *d);

/* Parse a single service file (used by config_load and by the unit tests). */
struct service_config *service_config_load(const char *path, const char *name, struct diag *d);

void config_free(struct config *c);
void service_config_free(struct service_config *s);

/* Find a service by name, or NULL. */
struct service_config *config_find(const struct config *c, const char *name);

/* Whether two service configs are equal in every setting (reload uses it). */
bool service_config_equal(const struct service_config *a, const struct service_config *b);

/* Find a group by name, or NULL. */
const struct group_config *config_find_group(const struct config *c, const char *name);

/* Print one line per service for `zeroproxy check`. */
void config_print_summary(const struct config *c, FILE *f);

#endif
