/*
 * status — rendering of service snapshots for `zeroproxy status`: the JSON
 * object scripts read and the aligned table operators read. The snapshots are
 * taken by the engine (daemon_status); this file only formats them, so it has
 * no state and no I/O and is tested with hand-built snapshots.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "strbuf.h"
#include "util.h"

static const char *const state_names[SVC__COUNT] = {
    [SVC_STOPPED] = "stopped",   [SVC_STARTING] = "starting", [SVC_RUNNING] = "running",
    [SVC_STOPPING] = "stopping", [SVC_FAILED] = "failed",     [SVC_FROZEN] = "frozen",
    [SVC_WAITING] = "waiting",
};

const char *service_state_to_string(enum service_state s)
{
	return (unsigned)s < ZP_ARRAY_SIZE(state_names) ? state_names[s] : "invalid";
}

void service_status_free(struct service_status *st)
{
	if (!st)
		return;
	free(st->name);
	if (st->listen) {
		for (char **p = st->listen; *p; p++)
			free(*p);
		free(st->listen);
	}
	strv_free(st->hosts);
	st->hosts = NULL;
	free(st->last_exit);
	free(st->backend_status);
	free(st->last_error);
	free(st->group);
	st->name = st->last_exit = st->backend_status = st->last_error = st->group = NULL;
	st->listen = NULL;
}

bool service_status_http(const struct service_status *s)
{
	return s->protocol && !strcmp(s->protocol, "http");
}

/* A JSON number with a fixed number of decimals; NaN and infinities (which JSON
 * cannot carry) become null, and -0.000 becomes 0.000. */
static void json_number(struct strbuf *sb, double v, int decimals)
{
	if (!isfinite(v)) {
		sb_puts(sb, "null");
		return;
	}
	char buf[64];
	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	if (buf[0] == '-' && strspn(buf + 1, "0.") == strlen(buf + 1))
		memmove(buf, buf + 1, strlen(buf));
	sb_puts(sb, buf);
}

static void json_key(struct strbuf *sb, const char *key)
{
	sb_puts(sb, ", ");
	sb_json_string(sb, key);
	sb_puts(sb, ": ");
}

/* "key": [strings] ([] for NULL). */
static void json_strv(struct strbuf *sb, const char *key, char *const *v)
{
	json_key(sb, key);
	sb_puts(sb, "[");
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			sb_puts(sb, ", ");
		sb_json_string(sb, v[i]);
	}
	sb_puts(sb, "]");
}

static void json_u64(struct strbuf *sb, const char *key, uint64_t v)
{
	json_key(sb, key);
	sb_printf(sb, "%llu", (unsigned long long)v);
}

static void json_double(struct strbuf *sb, const char *key, bool has, double v, int decimals)
{
	json_key(sb, key);
	if (has)
		json_number(sb, v, decimals);
	else
		sb_puts(sb, "null");
}

static void json_str(struct strbuf *sb, const char *key, const char *v)
{
	json_key(sb, key);
	sb_json_string(sb, v);
}

/* The fields of protocol = http (zeros and nulls in tcp mode). */
static void json_http(struct strbuf *sb, const struct service_status *s)
{
	bool http = service_status_http(s);
	json_str(sb, "protocol", http ? "http" : "tcp");
	json_u64(sb, "requests_total", s->requests_total);
	json_u64(sb, "requests_active", s->requests_active);
	json_u64(sb, "requests_ignored", s->requests_ignored);
	json_key(sb, "responses");
	for (int c = 0; c < ZP_RESPONSE_CLASSES; c++)
		sb_printf(sb, "%s\"%dxx\": %llu", c ? ", " : "{", c + 1,
			  (unsigned long long)s->responses[c]);
	sb_puts(sb, "}");
	json_double(sb, "request_ms_p50", http && s->has_request, s->request_ms_p50, 3);
	json_double(sb, "request_ms_p99", http && s->has_request, s->request_ms_p99, 3);
	json_u64(sb, "connections_ignored", s->connections_ignored);
}

static void json_service(struct strbuf *sb, const struct service_status *s)
{
	sb_puts(sb, "{");
	sb_json_string(sb, "name");
	sb_puts(sb, ": ");
	sb_json_string(sb, s->name);
	json_str(sb, "state", s->state);
	json_key(sb, "pid");
	if (s->pid > 0)
		sb_printf(sb, "%d", s->pid);
	else
		sb_puts(sb, "null");
	json_strv(sb, "listen", s->listen);
	json_strv(sb, "hosts", s->hosts);
	json_u64(sb, "connections_active", s->connections_active);
	json_u64(sb, "connections_pending", s->connections_pending);
	json_u64(sb, "connections_total", s->connections_total);
	json_u64(sb, "connections_refused", s->connections_refused);
	json_u64(sb, "cold_starts", s->cold_starts);
	json_key(sb, "relay");
	sb_puts(sb, s->relay ? "true" : "false");
	json_http(sb, s);
	json_double(sb, "last_start_ms", s->has_start, s->last_start_ms, 3);
	json_double(sb, "start_ms_p50", s->has_start, s->start_ms_p50, 3);
	json_double(sb, "start_ms_p99", s->has_start, s->start_ms_p99, 3);
	json_double(sb, "ready_ms", s->has_ready, s->ready_ms, 3);
	json_double(sb, "idle_seconds", s->has_idle, s->idle_seconds, 3);
	json_double(sb, "stop_in_seconds", s->has_stop_in, s->stop_in_seconds, 3);
	json_double(sb, "uptime_seconds", s->has_uptime, s->uptime_seconds, 3);
	json_double(sb, "billed_seconds", true, s->billed_seconds, 3);
	json_double(sb, "frozen_seconds", true, s->frozen_seconds, 3);
	json_u64(sb, "thaws", s->thaws);
	json_double(sb, "last_thaw_ms", s->has_thaw, s->last_thaw_ms, 3);
	json_double(sb, "cpu_seconds", true, s->cpu_seconds, 3);
	json_str(sb, "cpu_source", s->cpu_source);
	json_u64(sb, "peak_memory_bytes", s->peak_memory_bytes);
	json_double(sb, "time_at_zero_ratio", true, s->time_at_zero_ratio, 6);
	json_u64(sb, "bytes_in", s->bytes_in);
	json_u64(sb, "bytes_out", s->bytes_out);
	json_str(sb, "last_exit", s->last_exit);
	json_str(sb, "backend_status", s->backend_status);
	json_str(sb, "last_error", s->last_error);
	json_str(sb, "group", s->group);
	json_double(sb, "group_weight", s->group != NULL, s->group_weight, 0);
	json_double(sb, "group_capacity", s->group != NULL, s->group_capacity, 0);
	json_double(sb, "group_used", s->group != NULL, s->group_used, 0);
	json_u64(sb, "group_evictions", s->group_evictions);
	sb_puts(sb, "}");
}

static void json_services(const struct service_status *st, size_t n, struct strbuf *out)
{
	/* One service per line: still valid JSON for scripts, readable to people. */
	sb_puts(out, "{\"services\": [");
	for (size_t i = 0; i < n; i++) {
		sb_puts(out, i ? ",\n  " : "\n  ");
		json_service(out, &st[i]);
	}
	sb_puts(out, n ? "\n]" : "]");
}

void status_format_json(const struct service_status *st, size_t n, struct strbuf *out)
{
	json_services(st, n, out);
	sb_puts(out, "}\n");
}

void status_format_json_daemon(const struct service_status *st, size_t n, const char *reload_error,
			       struct strbuf *out)
{
	json_services(st, n, out);
	sb_puts(out, ",\n\"reload_error\": ");
	sb_json_string(out, reload_error);
	sb_puts(out, "}\n");
}

void status_human_duration(double seconds, char *buf, size_t len)
{
	if (!isfinite(seconds) || seconds < 0)
		seconds = 0;
	if (seconds >= 1e15) {
		snprintf(buf, len, "%.0fd", seconds / 86400);
		return;
	}
	unsigned long long s = (unsigned long long)seconds;
	unsigned long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
	s %= 60;
	if (d)
		snprintf(buf, len, h ? "%llud%lluh" : "%llud", d, h);
	else if (h)
		snprintf(buf, len, m ? "%lluh%02llum" : "%lluh", h, m);
	else if (m)
		snprintf(buf, len, s ? "%llum%llus" : "%llum", m, s);
	else
		snprintf(buf, len, "%llus", s);
}

void status_human_ms(double ms, char *buf, size_t len)
{
	if (!isfinite(ms) || ms < 0)
		ms = 0;
	/* Decide on the rounded value so that 999.96 ms prints "1.00s", not
	 * "1000.0ms". */
	if (ms < 999.95)
		snprintf(buf, len, "%.1fms", ms);
	else if (ms < 59995)
		snprintf(buf, len, "%.2fs", ms / 1000);
	else
		status_human_duration(ms / 1000, buf, len);
}

/* CPU time: "2.0s", "31.2s", then as a duration from a minute on. */
static void human_cpu(double seconds, char *buf, size_t len)
{
	if (!isfinite(seconds) || seconds < 0)
		seconds = 0;
	if (seconds < 59.95)
		snprintf(buf, len, "%.1fs", seconds);
	else
		status_human_duration(seconds, buf, len);
}

enum {
	COL_SERVICE,
	COL_STATE,
	COL_PID,
	COL_CONNS,
	COL_PENDING,
	COL_TOTAL,
	COL_REQS,
	COL_COLD,
	COL_LAST_START,
	COL_IDLE,
	COL_STOP_IN,
	COL_UP,
	COL_BILLED,
	COL_CPU,
	COL_SAVED,
	N_COLS
};

static const char *const col_names[N_COLS] = {
    "SERVICE",    "STATE", "PID",     "CONNS", "PENDING", "TOTAL", "REQS",  "COLD",
    "LAST-START", "IDLE",  "STOP-IN", "UP",    "BILLED",  "CPU",   "SAVED",
};

#define CELL 80

static void table_row(const struct service_status *s, char cells[N_COLS][CELL])
{
	const char *name = s->name ? s->name : "";
	snprintf(cells[COL_SERVICE], CELL, "%s", name);
	if (strlen(name) >= CELL) /* names are at most 64 characters */
		memcpy(cells[COL_SERVICE] + CELL - 4, "...", 4);
	snprintf(cells[COL_STATE], CELL, "%s", s->state ? s->state : "-");
	if (s->pid > 0)
		snprintf(cells[COL_PID], CELL, "%d", s->pid);
	else
		snprintf(cells[COL_PID], CELL, "-");
	snprintf(cells[COL_CONNS], CELL, "%llu", (unsigned long long)s->connections_active);
	snprintf(cells[COL_PENDING], CELL, "%llu", (unsigned long long)s->connections_pending);
	snprintf(cells[COL_TOTAL], CELL, "%llu", (unsigned long long)s->connections_total);
	if (service_status_http(s))
		snprintf(cells[COL_REQS], CELL, "%llu", (unsigned long long)s->requests_total);
	else
		snprintf(cells[COL_REQS], CELL, "-");
	snprintf(cells[COL_COLD], CELL, "%llu", (unsigned long long)s->cold_starts);
	if (s->has_start)
		status_human_ms(s->last_start_ms, cells[COL_LAST_START], CELL);
	else
		snprintf(cells[COL_LAST_START], CELL, "-");
	if (s->has_idle)
		status_human_duration(s->idle_seconds, cells[COL_IDLE], CELL);
	else
		snprintf(cells[COL_IDLE], CELL, "-");
	if (s->has_stop_in)
		status_human_duration(s->stop_in_seconds, cells[COL_STOP_IN], CELL);
	else
		snprintf(cells[COL_STOP_IN], CELL, "-");
	if (s->has_uptime)
		status_human_duration(s->uptime_seconds, cells[COL_UP], CELL);
	else
		snprintf(cells[COL_UP], CELL, "-");
	status_human_duration(s->billed_seconds, cells[COL_BILLED], CELL);
	human_cpu(s->cpu_seconds, cells[COL_CPU], CELL);
	double pct = s->time_at_zero_ratio * 100;
	if (!isfinite(pct) || pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	snprintf(cells[COL_SAVED], CELL, "%.1f%%", pct);
}

static void table_line(struct strbuf *out, const char *const *cells, const size_t *width)
{
	for (size_t c = 0; c < N_COLS; c++) {
		sb_puts(out, cells[c]);
		if (c + 1 == N_COLS)
			break;
		/* Two spaces after the widest cell of each column; none at the end
		 * of the line. */
		for (size_t k = strlen(cells[c]); k < width[c] + 2; k++)
			sb_append(out, " ", 1);
	}
	sb_append(out, "\n", 1);
}

void status_format_table(const struct service_status *st, size_t n, struct strbuf *out)
{
	size_t width[N_COLS];
	for (size_t c = 0; c < N_COLS; c++)
		width[c] = strlen(col_names[c]);

	char(*rows)[N_COLS][CELL] = n ? calloc(n, sizeof(*rows)) : NULL;
	if (n && !rows)
		abort();
	for (size_t i = 0; i < n; i++) {
		table_row(&st[i], rows[i]);
		for (size_t c = 0; c < N_COLS; c++) {
			size_t l = strlen(rows[i][c]);
			if (l > width[c])
				width[c] = l;
		}
	}

	table_line(out, col_names, width);
	for (size_t i = 0; i < n; i++) {
		const char *cells[N_COLS];
		for (size_t c = 0; c < N_COLS; c++)
			cells[c] = rows[i][c];
		table_line(out, cells, width);
	}
	free(rows);
}

void status_format_table_daemon(const struct service_status *st, size_t n, const char *reload_error,
				struct strbuf *out)
{
	status_format_table(st, n, out);
	if (reload_error) {
		/* One line, whatever the reason holds. */
		sb_append(out, "\n", 1);
		for (const char *p = reload_error; *p; p++)
			sb_append(out, (*p == '\n' || *p == '\r') ? " " : p, 1);
		sb_append(out, "\n", 1);
	}
}
