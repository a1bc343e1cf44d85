/*
 * status — a snapshot of one service's state and figures, taken by the service
 * module and rendered by `zeroproxy status` (table and JSON) and by /metrics.
 * Field names are the JSON names of zeroproxy(8), section STATUS.
 */
#ifndef ZP_STATUS_H
#define ZP_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"
#include "usage.h"

/* The states of a service (see service.h for the picture), in the order the
 * metrics list them. */
enum service_state {
	SVC_STOPPED,
	SVC_STARTING,
	SVC_RUNNING,
	SVC_STOPPING,
	SVC_FAILED,
	SVC_FROZEN,
	SVC_WAITING, /* no instance: waiting for room in its group */
	SVC__COUNT,
};

/* "stopped", "starting", ...: the one name of each state, for logs, status
 * and metrics. */
const char *service_state_to_string(enum service_state s);

struct service_status {
	char *name;
	const char *state; /* service_state_to_string() */
	int pid;           /* 0: none (JSON null) */
	char **listen;     /* as written, NULL-terminated */
	char **hosts;      /* host routing: [http] host, NULL-terminated; NULL: none */
	uint64_t connections_active;
	uint64_t connections_pending;
	uint64_t connections_total;
	uint64_t connections_refused;
	uint64_t cold_starts;
	bool relay; /* false: relay = no (hand-off) */
	/* protocol = http (tcp: requests 0, request_ms_* null, REQS "-") */
	const char *protocol;         /* "tcp" or "http" (NULL: "tcp") */
	uint64_t requests_total;      /* every request */
	uint64_t requests_active;     /* requests in flight now, tunnels included */
	uint64_t requests_ignored;    /* idle_ignore requests forwarded */
	uint64_t connections_ignored; /* wake_on = data: closed before sending anything */
	uint64_t responses[ZP_RESPONSE_CLASSES]; /* 1xx..5xx */
	bool has_request;                        /* false: request_ms_p50, p99 are null */
	double request_ms_p50;
	double request_ms_p99;
	bool has_start; /* false: last_start_ms, p50, p99 are null */
	double last_start_ms;
	double start_ms_p50;
	double start_ms_p99;
	bool has_ready;  /* false: ready_ms null */
	double ready_ms; /* spawn to ready of the latest instance */
	bool has_idle;   /* false: idle_seconds null */
	double idle_seconds;
	bool has_stop_in; /* false: stop_in_seconds null */
	double stop_in_seconds;
	bool has_uptime; /* false: uptime_seconds null */
	double uptime_seconds;
	double billed_seconds; /* instance time, frozen time not counted */
	double frozen_seconds; /* instance time spent frozen */
	uint64_t thaws;        /* frozen instances thawed to serve */
	bool has_thaw;         /* false: last_thaw_ms null */
	double last_thaw_ms;   /* from the connection that thawed one to its first byte */
	double cpu_seconds;
	const char *cpu_source; /* "cgroup" or "rusage" */
	uint64_t peak_memory_bytes;
	double time_at_zero_ratio; /* 0..1 */
	uint64_t bytes_in;         /* client -> backend */
	uint64_t bytes_out;        /* backend -> client */
	char *last_exit;           /* NULL: null */
	char *backend_status;      /* NULL: null */
	char *last_error;          /* NULL: null */
	char *group;               /* NULL: null (no group); the rest is 0 then */
	uint32_t group_weight;     /* this service's share */
	uint32_t group_capacity;   /* its group's capacity */
	uint32_t group_used;       /* the weight of the group's members with an instance */
	uint64_t group_evictions;  /* how often it was stopped to make room in its group */
	/* start-latency histogram, for /metrics */
	uint64_t start_buckets[ZP_START_BUCKETS]; /* cumulative counts per bucket */
	uint64_t start_count;
	double start_sum_seconds;
	/* request-duration histogram, for /metrics */
	uint64_t request_buckets[ZP_REQUEST_BUCKETS]; /* cumulative counts per bucket */
	uint64_t request_count;
	double request_sum_seconds;
};

/* Whether s is a protocol = http service. */
bool service_status_http(const struct service_status *s);

void service_status_free(struct service_status *st);

/* {"services": [...]} with every field, and a trailing newline. */
void status_format_json(const struct service_status *st, size_t n, struct strbuf *out);
/* The aligned table of zeroproxy(8) with a header row. */
void status_format_table(const struct service_status *st, size_t n, struct strbuf *out);

/* Human units for the table (also used by the tests): a duration as "45s",
 * "2m1s", "3h", "1h02m", "2d3h" (whole seconds, truncated), and a latency as
 * "4.1ms", "180.0ms", "1.20s". */
void status_human_duration(double seconds, char *buf, size_t len);
void status_human_ms(double ms, char *buf, size_t len);

/* What `zeroproxy status` shows: as above, plus the daemon-wide state — the
 * reason the last reload failed (NULL after a good one). JSON: a top-level
 * "reload_error" (string or null) beside "services"; table: a line after it. */
void status_format_json_daemon(const struct service_status *st, size_t n, const char *reload_error,
			       struct strbuf *out);
void status_format_table_daemon(const struct service_status *st, size_t n, const char *reload_error,
				struct strbuf *out);

#endif
