/*
 * test-status — the rendering of `zeroproxy status`: human units, the aligned
 * table for a known snapshot, and the JSON (exact text for a known snapshot,
 * a grammar check by a small JSON parser, null handling, escaping of odd
 * strings, every key of zeroproxy(8) present).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "strbuf.h"
#include "tap.h"

static char *dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char **strv(const char *a, const char *b)
{
	char **v = calloc(3, sizeof(*v));
	v[0] = dup(a);
	v[1] = dup(b);
	return v;
}

/* The two rows of zeroproxy(8)'s example. */
static void example(struct service_status st[2])
{
	memset(st, 0, 2 * sizeof(*st));
	st[0] = (struct service_status){
	    .name = dup("web"),
	    .state = "running",
	    .pid = 4242,
	    .listen = strv("127.0.0.1:8080", "unix:/run/web.sock"),
	    .hosts = strv("www.example.com", "*.example.com"),
	    .connections_active = 3,
	    .connections_pending = 0,
	    .connections_total = 1284,
	    .connections_refused = 2,
	    .cold_starts = 17,
	    .relay = true,
	    .protocol = "http",
	    .requests_total = 5210,
	    .requests_active = 2,
	    .responses = {1, 5100, 40, 60, 7},
	    .has_request = true,
	    .request_ms_p50 = 0.25,
	    .request_ms_p99 = 31.5,
	    .has_start = true,
	    .last_start_ms = 4.1,
	    .start_ms_p50 = 3.25,
	    .start_ms_p99 = 12.5,
	    .has_ready = true,
	    .ready_ms = 1.25,
	    .has_uptime = true,
	    .uptime_seconds = 121.4,
	    .billed_seconds = 3720.5,
	    .frozen_seconds = 600.25,
	    .thaws = 5,
	    .has_thaw = true,
	    .last_thaw_ms = 0.42,
	    .cpu_seconds = 31.24,
	    .cpu_source = "cgroup",
	    .peak_memory_bytes = 52428800,
	    .time_at_zero_ratio = 0.9131,
	    .bytes_in = 1000,
	    .bytes_out = 123456789012ULL,
	    .last_exit = dup("exited 0"),
	    .group = dup("gpu"),
	    .group_weight = 2,
	    .group_capacity = 3,
	    .group_used = 2,
	    .group_evictions = 1,
	};
	st[1] = (struct service_status){
	    .name = dup("api"),
	    .state = "stopped",
	    .listen = strv("*:9000", NULL),
	    .protocol = "tcp",
	    .has_request = true, /* ignored in tcp mode */
	    .connections_total = 12,
	    .cold_starts = 2,
	    .has_start = true,
	    .last_start_ms = 180,
	    .start_ms_p50 = 150,
	    .start_ms_p99 = 180,
	    .has_idle = true,
	    .idle_seconds = 10800.2,
	    .billed_seconds = 250,
	    .cpu_seconds = 2.0,
	    .cpu_source = "rusage",
	    .time_at_zero_ratio = 0.997,
	    .last_exit = dup("killed by SIGKILL"),
	    .backend_status = dup("serving"),
	};
}

static void test_units(void)
{
	static const struct {
		double s;
		const char *want;
	} durations[] = {
	    {0, "0s"},     {0.9, "0s"},       {45, "45s"},      {59.99, "59s"},   {60, "1m"},
	    {121, "2m1s"}, {250, "4m10s"},    {3599, "59m59s"}, {3600, "1h"},     {3720.5, "1h02m"},
	    {10800, "3h"}, {86399, "23h59m"}, {86400, "1d"},    {183600, "2d3h"}, {183659, "2d3h"},
	    {-5, "0s"},    {NAN, "0s"},       {INFINITY, "0s"},
	};
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		char buf[32];
		status_human_duration(durations[i].s, buf, sizeof(buf));
		is_str(buf, durations[i].want, "duration %g s", durations[i].s);
	}

	static const struct {
		double ms;
		const char *want;
	} lat[] = {
	    {0, "0.0ms"},       {0.04, "0.0ms"},   {4.1, "4.1ms"},  {180, "180.0ms"},
	    {999.9, "999.9ms"}, {999.96, "1.00s"}, {1200, "1.20s"}, {59990, "59.99s"},
	    {90000, "1m30s"},   {-1, "0.0ms"},
	};
	for (size_t i = 0; i < sizeof(lat) / sizeof(lat[0]); i++) {
		char buf[32];
		status_human_ms(lat[i].ms, buf, sizeof(buf));
		is_str(buf, lat[i].want, "latency %g ms", lat[i].ms);
	}
}

static void test_table(void)
{
	struct service_status st[2];
	example(st);
	struct strbuf sb = {0};
	status_format_table(st, 2, &sb);
	is_str(sb.data,
	       "SERVICE  STATE    PID   CONNS  PENDING  TOTAL  REQS  COLD  LAST-START  IDLE  "
	       "STOP-IN  UP    BILLED  CPU    SAVED\n"
	       "web      running  4242  3      0        1284   5210  17    4.1ms       -     -    "
	       "    2m1s  1h02m   31.2s  91.3%\n"
	       "api      stopped  -     0      0        12     -     2     180.0ms     3h    -    "
	       "    -     4m10s   2.0s   99.7%\n",
	       "table of zeroproxy(8)'s example");
	sb_free(&sb);

	/* Widths follow the content; stop-in, a long name, big numbers. */
	struct service_status one = {
	    .name = dup("a-much-longer-service.name"),
	    .state = "starting",
	    .pid = 1234567,
	    .connections_pending = 100000,
	    .connections_total = 18446744073709551615ULL,
	    .has_stop_in = true,
	    .stop_in_seconds = 299.7,
	    .has_uptime = true,
	    .uptime_seconds = 0.3,
	    .billed_seconds = 200000,
	    .cpu_seconds = 75,
	    .time_at_zero_ratio = 1.0,
	};
	status_format_table(&one, 1, &sb);
	is_str(sb.data,
	       "SERVICE                     STATE     PID      CONNS  PENDING  TOTAL               "
	       "  REQS  COLD  LAST-START  IDLE  STOP-IN  UP  BILLED  CPU    SAVED\n"
	       "a-much-longer-service.name  starting  1234567  0      100000   "
	       "18446744073709551615  -     0     -           -     4m59s    0s  2d7h    1m15s  "
	       "100.0%\n",
	       "widths follow the content");
	sb_free(&sb);
	service_status_free(&one);

	status_format_table(NULL, 0, &sb);
	is_str(sb.data,
	       "SERVICE  STATE  PID  CONNS  PENDING  TOTAL  REQS  COLD  LAST-START  IDLE  STOP-IN  "
	       "UP  BILLED  CPU  SAVED\n",
	       "no services: the header alone");
	sb_free(&sb);
	for (int i = 0; i < 2; i++)
		service_status_free(&st[i]);
}

/* A small strict JSON parser: returns the position after one value, or NULL. */
static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (;;) {
		unsigned char c = (unsigned char)*p++;
		if (c == '"')
			return p;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			c = (unsigned char)*p++;
			if (c == 'u') {
				for (int i = 0; i < 4; i++, p++)
					if (!strchr("0123456789abcdefABCDEF", *p) || !*p)
						return NULL;
			} else if (!c || !strchr("\"\\/bfnrt", c))
				return NULL;
		}
	}
}

static const char *json_num(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static const char *json_value(const char *p, int depth)
{
	if (depth > 32)
		return NULL;
	p = json_ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		bool obj = *p == '{';
		p = json_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				p = json_string(json_ws(p));
				if (!p)
					return NULL;
				p = json_ws(p);
				if (*p++ != ':')
					return NULL;
			}
			p = json_value(p, depth + 1);
			if (!p)
				return NULL;
			p = json_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return json_string(p);
	if (strncmp(p, "null", 4) == 0 || strncmp(p, "true", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	return json_num(p);
}

static bool json_valid(const char *s)
{
	const char *p = json_value(s, 0);
	return p && *json_ws(p) == '\0';
}

static void test_json(void)
{
	struct service_status st[2];
	example(st);
	struct strbuf sb = {0};
	status_format_json(st, 2, &sb);
	is_str(sb.data,
	       "{\"services\": [\n"
	       "  {\"name\": \"web\", \"state\": \"running\", \"pid\": 4242, "
	       "\"listen\": [\"127.0.0.1:8080\", \"unix:/run/web.sock\"], "
	       "\"hosts\": [\"www.example.com\", \"*.example.com\"], "
	       "\"connections_active\": 3, \"connections_pending\": 0, "
	       "\"connections_total\": 1284, \"connections_refused\": 2, \"cold_starts\": 17, "
	       "\"relay\": true, \"protocol\": \"http\", \"requests_total\": 5210, "
	       "\"requests_active\": 2, \"requests_ignored\": 0, "
	       "\"responses\": {\"1xx\": 1, \"2xx\": 5100, \"3xx\": 40, \"4xx\": 60, \"5xx\": 7}, "
	       "\"request_ms_p50\": 0.250, \"request_ms_p99\": 31.500, \"connections_ignored\": 0, "
	       "\"last_start_ms\": 4.100, \"start_ms_p50\": 3.250, \"start_ms_p99\": 12.500, "
	       "\"ready_ms\": 1.250, "
	       "\"idle_seconds\": null, \"stop_in_seconds\": null, \"uptime_seconds\": 121.400, "
	       "\"billed_seconds\": 3720.500, \"frozen_seconds\": 600.250, \"thaws\": 5, "
	       "\"last_thaw_ms\": 0.420, \"cpu_seconds\": 31.240, \"cpu_source\": \"cgroup\", "
	       "\"peak_memory_bytes\": 52428800, \"time_at_zero_ratio\": 0.913100, "
	       "\"bytes_in\": 1000, \"bytes_out\": 123456789012, \"last_exit\": \"exited 0\", "
	       "\"backend_status\": null, \"last_error\": null, \"group\": \"gpu\", "
	       "\"group_weight\": 2, \"group_capacity\": 3, \"group_used\": 2, "
	       "\"group_evictions\": 1},\n"
	       "  {\"name\": \"api\", \"state\": \"stopped\", \"pid\": null, "
	       "\"listen\": [\"*:9000\"], \"hosts\": [], "
	       "\"connections_active\": 0, \"connections_pending\": 0, "
	       "\"connections_total\": 12, \"connections_refused\": 0, \"cold_starts\": 2, "
	       "\"relay\": false, \"protocol\": \"tcp\", \"requests_total\": 0, "
	       "\"requests_active\": 0, \"requests_ignored\": 0, "
	       "\"responses\": {\"1xx\": 0, \"2xx\": 0, \"3xx\": 0, \"4xx\": 0, \"5xx\": 0}, "
	       "\"request_ms_p50\": null, \"request_ms_p99\": null, \"connections_ignored\": 0, "
	       "\"last_start_ms\": 180.000, \"start_ms_p50\": 150.000, \"start_ms_p99\": 180.000, "
	       "\"ready_ms\": null, "
	       "\"idle_seconds\": 10800.200, \"stop_in_seconds\": null, \"uptime_seconds\": null, "
	       "\"billed_seconds\": 250.000, \"frozen_seconds\": 0.000, \"thaws\": 0, "
	       "\"last_thaw_ms\": null, \"cpu_seconds\": 2.000, \"cpu_source\": \"rusage\", "
	       "\"peak_memory_bytes\": 0, \"time_at_zero_ratio\": 0.997000, "
	       "\"bytes_in\": 0, \"bytes_out\": 0, \"last_exit\": \"killed by SIGKILL\", "
	       "\"backend_status\": \"serving\", \"last_error\": null, \"group\": null, "
	       "\"group_weight\": null, \"group_capacity\": null, \"group_used\": null, "
	       "\"group_evictions\": 0}\n"
	       "]}\n",
	       "JSON of zeroproxy(8)'s example");
	ok(json_valid(sb.data), "that JSON parses");

	static const char *const keys[] = {
	    "name",
	    "state",
	    "pid",
	    "listen",
	    "hosts",
	    "connections_active",
	    "connections_pending",
	    "connections_total",
	    "connections_refused",
	    "cold_starts",
	    "relay",
	    "protocol",
	    "requests_total",
	    "requests_active",
	    "requests_ignored",
	    "responses",
	    "request_ms_p50",
	    "request_ms_p99",
	    "connections_ignored",
	    "last_start_ms",
	    "start_ms_p50",
	    "start_ms_p99",
	    "ready_ms",
	    "idle_seconds",
	    "stop_in_seconds",
	    "uptime_seconds",
	    "billed_seconds",
	    "frozen_seconds",
	    "thaws",
	    "last_thaw_ms",
	    "cpu_seconds",
	    "cpu_source",
	    "peak_memory_bytes",
	    "time_at_zero_ratio",
	    "bytes_in",
	    "bytes_out",
	    "last_exit",
	    "backend_status",
	    "last_error",
	    "group",
	    "group_weight",
	    "group_capacity",
	    "group_used",
	    "group_evictions",
	};
	bool all = true;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char k[64];
		snprintf(k, sizeof(k), "\"%s\": ", keys[i]);
		/* every key once per service */
		const char *p = strstr(sb.data, k);
		const char *q = p ? strstr(p + 1, k) : NULL;
		if (!p || !q || strstr(q + 1, k)) {
			note("key %s not exactly twice", keys[i]);
			all = false;
		}
	}
	ok(all, "every documented key present in every service");
	sb_free(&sb);
	for (int i = 0; i < 2; i++)
		service_status_free(&st[i]);

	/* Odd strings are escaped; nulls where the snapshot has no value; a
	 * number JSON cannot carry becomes null. */
	struct service_status odd = {
	    .name = dup("we\"ird\\name"),
	    .state = "failed",
	    .listen = strv("unix:/tmp/a b\n", NULL),
	    .has_start = true,
	    .last_start_ms = NAN,
	    .start_ms_p50 = 1,
	    .start_ms_p99 = INFINITY,
	    .cpu_source = "rusage",
	    .billed_seconds = -0.0001,
	    .last_error = dup("exec \"/bin/nope\": No such file\x01\t\xc3\xa9"),
	    .backend_status = dup(""),
	};
	status_format_json(&odd, 1, &sb);
	ok(json_valid(sb.data), "odd strings: still valid JSON");
	ok(strstr(sb.data, "\"name\": \"we\\\"ird\\\\name\"") != NULL,
	   "quote and backslash escaped");
	ok(strstr(sb.data, "\"listen\": [\"unix:/tmp/a b\\n\"]") != NULL, "newline escaped");
	ok(strstr(sb.data,
		  "\"last_error\": \"exec \\\"/bin/nope\\\": No such file\\u0001\\t\xc3\xa9\"") !=
	       NULL,
	   "control characters escaped, UTF-8 kept");
	ok(strstr(sb.data, "\"backend_status\": \"\"") != NULL, "empty string is not null");
	ok(strstr(sb.data,
		  "\"last_start_ms\": null, \"start_ms_p50\": 1.000, \"start_ms_p99\": null") !=
	       NULL,
	   "NaN and infinity become null");
	ok(strstr(sb.data, "\"billed_seconds\": 0.000") != NULL, "no negative zero");
	ok(strstr(sb.data, "\"pid\": null") && strstr(sb.data, "\"last_exit\": null") &&
	       strstr(sb.data, "\"idle_seconds\": null") &&
	       strstr(sb.data, "\"uptime_seconds\": null"),
	   "nulls where there is no value");
	sb_free(&sb);
	service_status_free(&odd);
	service_status_free(&odd); /* idempotent */

	struct service_status nolisten = {.name = dup("x"), .state = "stopped"};
	status_format_json(&nolisten, 1, &sb);
	ok(json_valid(sb.data) && strstr(sb.data, "\"listen\": []") &&
	       strstr(sb.data, "\"cpu_source\": null"),
	   "no listen list: empty array; missing cpu_source: null");
	ok(strstr(sb.data, "\"protocol\": \"tcp\"") != NULL, "no protocol: tcp");
	sb_free(&sb);
	nolisten.protocol = "http";
	status_format_json(&nolisten, 1, &sb);
	ok(strstr(sb.data, "\"request_ms_p50\": null, \"request_ms_p99\": null") != NULL,
	   "http before the first request: request_ms null");
	sb_free(&sb);
	service_status_free(&nolisten);

	status_format_json(NULL, 0, &sb);
	is_str(sb.data, "{\"services\": []}\n", "no services");
	ok(json_valid(sb.data), "no services: valid JSON");
	sb_free(&sb);

	struct service_status st2[2];
	example(st2);
	status_format_json_daemon(st2, 2, "reload failed: x.conf:1: \"bad\"", &sb);
	ok(json_valid(sb.data), "JSON with reload_error parses");
	ok(strstr(sb.data, "\n],\n\"reload_error\": \"reload failed: x.conf:1: \\\"bad\\\"\"}\n") !=
	       NULL,
	   "reload_error beside services");
	sb_free(&sb);
	status_format_json_daemon(NULL, 0, NULL, &sb);
	is_str(sb.data, "{\"services\": [],\n\"reload_error\": null}\n", "reload_error null");
	ok(json_valid(sb.data), "that parses too");
	sb_free(&sb);
	status_format_table_daemon(st2, 2, "reload failed: a\nb", &sb);
	ok(strstr(sb.data, "99.7%\n\nreload failed: a b\n") != NULL,
	   "table: the reload failure on one line after a blank line");
	sb_free(&sb);
	status_format_table_daemon(st2, 1, NULL, &sb);
	ok(strstr(sb.data, "91.3%\n") && sb.data[sb.len - 2] == '%',
	   "table: nothing after a good reload");
	sb_free(&sb);
	for (int i = 0; i < 2; i++)
		service_status_free(&st2[i]);

	ok(!json_valid("{\"a\": 1,}") && !json_valid("{\"a\" 1}") && !json_valid("[01]") &&
	       !json_valid("\"a\nb\""),
	   "the checker itself rejects bad JSON");
}

int main(void)
{
	test_units();
	test_table();
	test_json();
	return done_testing();
}
