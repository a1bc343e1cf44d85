/*
 * test-metrics — the exposition text (families, labels, escaping, the
 * histogram; `promtool check metrics` when installed) and the /metrics server
 * on a real loop: answers, 404s, trickled and oversized requests, a client
 * that never reads, silent clients timing out, and the cap on clients.
 * fake_status() is a test double of the engine, given to the server as its
 * server_ops.
 */
#define _GNU_SOURCE 1

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "metrics.h"
#include "status.h"
#include "strbuf.h"
#include "tap.h"

/* --- the test double of the engine --- */

static size_t double_services = 2; /* how many services fake_status reports */
static unsigned double_calls;

static char **strv1(const char *s)
{
	char **v = calloc(2, sizeof(*v));
	v[0] = strdup(s);
	return v;
}

static void fill(struct service_status *s, size_t i)
{
	static const char *const st[] = {"running", "stopped"};
	char name[64];
	memset(s, 0, sizeof(*s));
	if (i == 0)
		strcpy(name, "web");
	else
		snprintf(name, sizeof(name), "svc%zu", i);
	s->name = strdup(name);
	s->state = st[i % 2];
	s->pid = i % 2 ? 0 : 4242;
	s->listen = strv1("127.0.0.1:8080");
	s->connections_active = 3;
	s->connections_total = 1284 + i;
	s->connections_refused = 2;
	s->connections_ignored = 5 + i;
	s->cold_starts = 17;
	s->billed_seconds = 3723.5;
	s->cpu_seconds = 31.25;
	s->cpu_source = "cgroup";
	s->peak_memory_bytes = 52428800;
	s->time_at_zero_ratio = 0.913;
	s->bytes_in = 1000;
	s->bytes_out = 2000000;
	uint64_t cum = 0;
	for (size_t b = 0; b < ZP_START_BUCKETS; b++) {
		cum += b == 2 ? 10 : b == 5 ? 7 : 0;
		s->start_buckets[b] = cum;
	}
	s->start_count = 17;
	s->start_sum_seconds = 0.3;
	s->has_start = true;
	s->last_start_ms = 4.1;
	s->has_ready = true;
	s->ready_ms = 1.5;
	s->frozen_seconds = 600.25;
	s->thaws = 5 + i;
	s->has_thaw = i == 0;
	s->last_thaw_ms = 0.5;
	if (i == 0) {
		s->group = strdup("gpu");
		s->group_evictions = 4;
	}
	if (i != 1)
		return;
	/* svc1 speaks protocol = http: 12 requests, 11 answered. */
	s->protocol = "http";
	s->requests_total = 12;
	s->requests_active = 2;
	s->requests_ignored = 9;
	s->responses[0] = 1;
	s->responses[1] = 7;
	s->responses[3] = 2;
	s->responses[4] = 1;
	cum = 0;
	for (size_t b = 0; b < ZP_REQUEST_BUCKETS; b++) {
		cum += b == 0 ? 6 : b == 4 ? 4 : b == ZP_REQUEST_BUCKETS - 1 ? 1 : 0;
		s->request_buckets[b] = cum;
	}
	s->request_count = 11;
	s->request_sum_seconds = 65.0125;
	s->has_request = true;
}

static int fake_status(void *data, char *const *names, size_t n, struct service_status **out,
		       size_t *nout, const char **unknown)
{
	double_calls++;
	*out = calloc(double_services ? double_services : 1, sizeof(**out));
	for (size_t i = 0; i < double_services; i++)
		fill(&(*out)[i], i);
	*nout = double_services;
	return 0;
}

static const struct server_ops fake_ops = {.status = fake_status};

/* --- format --- */

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static int promtool(const char *text)
{
	if (system("command -v promtool >/dev/null 2>&1") != 0)
		return -1;
	FILE *p = popen("promtool check metrics >/dev/null 2>&1", "w");
	if (!p)
		return -1;
	fputs(text, p);
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

static void test_format(void)
{
	struct service_status st[2];
	struct strbuf sb = {0};

	fill(&st[0], 0);
	fill(&st[1], 1);
	metrics_format(st, 2, &sb);
	const char *t = sb.data;

	ok(strstr(t, "# HELP zeroproxy_connections_total ") &&
	       strstr(t, "# TYPE zeroproxy_connections_total counter\n"),
	   "HELP and TYPE for a counter");
	ok(strstr(t, "zeroproxy_connections_total{service=\"web\"} 1284\n") &&
	       strstr(t, "zeroproxy_connections_total{service=\"svc1\"} 1285\n"),
	   "a counter per service");
	ok(strstr(t, "zeroproxy_billed_seconds_total{service=\"web\"} 3723.5\n") != NULL,
	   "billed seconds without float noise");
	ok(strstr(t, "zeroproxy_time_at_zero_ratio{service=\"web\"} 0.913\n") != NULL, "ratio");
	ok(strstr(t, "zeroproxy_up{service=\"web\"} 1\n") &&
	       strstr(t, "zeroproxy_up{service=\"svc1\"} 0\n"),
	   "up follows the instance");
	ok(strstr(t, "zeroproxy_state{service=\"web\",state=\"running\"} 1\n") &&
	       strstr(t, "zeroproxy_state{service=\"web\",state=\"stopped\"} 0\n") &&
	       strstr(t, "zeroproxy_state{service=\"svc1\",state=\"stopped\"} 1\n"),
	   "state as one series per state");
	ok(strstr(t, "# TYPE zeroproxy_start_duration_seconds histogram\n") &&
	       strstr(
		   t,
		   "zeroproxy_start_duration_seconds_bucket{service=\"web\",le=\"0.001\"} 0\n") &&
	       strstr(
		   t,
		   "zeroproxy_start_duration_seconds_bucket{service=\"web\",le=\"0.005\"} 10\n") &&
	       strstr(
		   t,
		   "zeroproxy_start_duration_seconds_bucket{service=\"web\",le=\"0.05\"} 17\n") &&
	       strstr(
		   t,
		   "zeroproxy_start_duration_seconds_bucket{service=\"web\",le=\"+Inf\"} 17\n") &&
	       strstr(t, "zeroproxy_start_duration_seconds_sum{service=\"web\"} 0.3\n") &&
	       strstr(t, "zeroproxy_start_duration_seconds_count{service=\"web\"} 17\n"),
	   "histogram buckets, sum and count");
	is_int(count(t, "_bucket{service=\"web\""), ZP_START_BUCKETS, "14 buckets per service");
	ok(strstr(t, "zeroproxy_last_start_duration_seconds{service=\"web\"} 0.0041\n") != NULL,
	   "last start duration");
	ok(strstr(t, "zeroproxy_last_ready_duration_seconds{service=\"web\"} 0.0015\n") != NULL,
	   "last ready duration");
	ok(strstr(t, "# TYPE zeroproxy_frozen_seconds_total counter\n") &&
	       strstr(t, "zeroproxy_frozen_seconds_total{service=\"web\"} 600.25\n") &&
	       strstr(t, "# TYPE zeroproxy_thaws_total counter\n") &&
	       strstr(t, "zeroproxy_thaws_total{service=\"web\"} 5\n") &&
	       strstr(t, "zeroproxy_thaws_total{service=\"svc1\"} 6\n"),
	   "frozen seconds and thaws");
	ok(strstr(t, "zeroproxy_last_thaw_duration_seconds{service=\"web\"} 0.0005\n") &&
	       !strstr(t, "zeroproxy_last_thaw_duration_seconds{service=\"svc1\"}"),
	   "last thaw duration, only where there was one");
	ok(strstr(t, "zeroproxy_state{service=\"web\",state=\"frozen\"} 0\n") != NULL,
	   "the state gauge knows frozen");
	ok(strstr(t, "# TYPE zeroproxy_group_evictions_total counter\n") &&
	       strstr(t, "zeroproxy_group_evictions_total{service=\"web\",group=\"gpu\"} 4\n") &&
	       count(t, "zeroproxy_group_evictions_total{") == 1,
	   "group evictions: a series for the member of a group only");

	/* protocol = http: requests by class, in flight, durations. */
	ok(strstr(t, "# TYPE zeroproxy_requests_total counter\n") &&
	       strstr(t, "zeroproxy_requests_total{service=\"svc1\",class=\"1xx\"} 1\n") &&
	       strstr(t, "zeroproxy_requests_total{service=\"svc1\",class=\"2xx\"} 7\n") &&
	       strstr(t, "zeroproxy_requests_total{service=\"svc1\",class=\"3xx\"} 0\n") &&
	       strstr(t, "zeroproxy_requests_total{service=\"svc1\",class=\"4xx\"} 2\n") &&
	       strstr(t, "zeroproxy_requests_total{service=\"svc1\",class=\"5xx\"} 1\n") &&
	       strstr(t, "zeroproxy_requests_total{service=\"svc1\",class=\"none\"} 1\n"),
	   "requests by class, the unanswered as none");
	ok(strstr(t, "# TYPE zeroproxy_connections_ignored_total counter\n") &&
	       strstr(t, "zeroproxy_connections_ignored_total{service=\"web\"} 5\n") &&
	       strstr(t, "zeroproxy_connections_ignored_total{service=\"svc1\"} 6\n"),
	   "connections ignored, every protocol");
	ok(strstr(t, "# TYPE zeroproxy_requests_ignored_total counter\n") &&
	       strstr(t, "zeroproxy_requests_ignored_total{service=\"svc1\"} 9\n") &&
	       !strstr(t, "zeroproxy_requests_ignored_total{service=\"web\"}"),
	   "requests ignored, http only");
	ok(strstr(t, "# TYPE zeroproxy_requests_in_flight gauge\n") &&
	       strstr(t, "zeroproxy_requests_in_flight{service=\"svc1\"} 2\n"),
	   "requests in flight");
	ok(strstr(t, "# TYPE zeroproxy_request_duration_seconds histogram\n") &&
	       strstr(t,
		      "zeroproxy_request_duration_seconds_bucket{service=\"svc1\",le=\"0.0005\"} "
		      "6\n") &&
	       strstr(t, "zeroproxy_request_duration_seconds_bucket{service=\"svc1\",le=\"0.01\"} "
			 "10\n") &&
	       strstr(
		   t,
		   "zeroproxy_request_duration_seconds_bucket{service=\"svc1\",le=\"60\"} 10\n") &&
	       strstr(t, "zeroproxy_request_duration_seconds_bucket{service=\"svc1\",le=\"+Inf\"} "
			 "11\n") &&
	       strstr(t, "zeroproxy_request_duration_seconds_sum{service=\"svc1\"} 65.0125\n") &&
	       strstr(t, "zeroproxy_request_duration_seconds_count{service=\"svc1\"} 11\n"),
	   "request histogram buckets, sum and count");
	is_int(count(t, "zeroproxy_request_duration_seconds_bucket{service=\"svc1\""),
	       ZP_REQUEST_BUCKETS, "17 request buckets for the http service");
	ok(!strstr(t, "zeroproxy_requests_total{service=\"web\"") &&
	       !strstr(t, "zeroproxy_requests_in_flight{service=\"web\"") &&
	       !strstr(t, "zeroproxy_request_duration_seconds_count{service=\"web\""),
	   "a tcp service has no request series");

	/* Each family once. */
	int dup = 0, families = 0;
	for (const char *p = t; (p = strstr(p, "# TYPE ")); p++) {
		char name[128];
		sscanf(p + 7, "%127s", name);
		char pat[160];
		snprintf(pat, sizeof(pat), "# TYPE %s ", name);
		dup += count(t, pat) != 1;
		snprintf(pat, sizeof(pat), "# HELP %s ", name);
		dup += count(t, pat) != 1;
		families++;
	}
	ok(families >= 17 && dup == 0, "%d families, each with one HELP and one TYPE", families);
	int rc = promtool(t);
	if (rc < 0)
		printf("ok %d # SKIP promtool not installed\n", ++tap_n);
	else
		is_int(rc, 0, "promtool check metrics");
	sb_free(&sb);

	/* Escaping of label values. */
	free(st[1].name);
	st[1].name = strdup("we\"ird\\na\nme");
	metrics_format(st, 2, &sb);
	ok(strstr(sb.data, "zeroproxy_cold_starts_total{service=\"we\\\"ird\\\\na\\nme\"} 17\n") !=
	       NULL,
	   "quote, backslash and newline escaped");
	rc = promtool(sb.data);
	if (rc < 0)
		printf("ok %d # SKIP promtool not installed\n", ++tap_n);
	else
		is_int(rc, 0, "promtool accepts the escaped labels");
	sb_free(&sb);

	/* No services: still valid. */
	metrics_format(NULL, 0, &sb);
	ok(sb.data && !strstr(sb.data, "{"), "no services: no series");
	sb_free(&sb);

	service_status_free(&st[0]);
	service_status_free(&st[1]);
}

/* --- server --- */

static struct ev_loop *loop;

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pump(double seconds)
{
	double end = mono() + seconds;
	do {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(1000);
	} while (mono() < end);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(in);
	bind(fd, (struct sockaddr *)&in, sizeof(in));
	getsockname(fd, (struct sockaddr *)&in, &len);
	close(fd);
	return ntohs(in.sin_port);
}

static int port;

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in in = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&in, sizeof(in)) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Read until EOF while running the loop. 1: EOF seen, 0: timeout, -1: error. */
static int drain(int fd, struct strbuf *out, double timeout)
{
	double end = mono() + timeout;
	char buf[65536];
	while (mono() < end) {
		ev_run(loop, EVRUN_NOWAIT);
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r > 0) {
			if (out)
				sb_append(out, buf, (size_t)r);
			continue;
		}
		if (r == 0)
			return 1;
		if (errno != EAGAIN)
			return -1;
		usleep(500);
	}
	return 0;
}

static char *request(const char *req)
{
	struct strbuf sb = {0};
	int fd = dial();
	if (fd < 0)
		return strdup("");
	if (write(fd, req, strlen(req)) < 0)
		sb_puts(&sb, "write failed");
	drain(fd, &sb, 3);
	close(fd);
	return sb_steal(&sb);
}

static const char *body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");
	return p ? p + 4 : "";
}

static void test_server(void)
{
	struct metrics_server *m = NULL;
	struct addr addr;
	const char *err = NULL;
	char text[64];

	port = free_port();
	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	if (addr_parse(text, false, false, &addr, &err) < 0) {
		ok(false, "addr_parse: %s", err);
		return;
	}
	loop = ev_default_loop(0);
	if (!is_int(metrics_server_new(loop, &addr, &fake_ops, NULL, &m), 0,
		    "metrics_server_new on %s", text))
		return;

	/* Silent clients fill the cap; the one after them is closed at once. */
	int silent[64];
	for (int i = 0; i < 64; i++)
		silent[i] = dial();
	pump(0.1);
	int extra = dial();
	ok(extra >= 0 && drain(extra, NULL, 1) == 1, "client 65 is closed at once");
	close(extra);
	double t0 = mono();

	/* They are dropped (reset) at the deadline. */
	int closed = 0;
	for (int i = 0; i < 64; i++)
		closed += drain(silent[i], NULL, 6 - (mono() - t0)) != 0;
	double waited = mono() - t0;
	is_int(closed, 64, "silent clients are closed after the read timeout");
	ok(waited > 4 && waited < 6.5, "after about 5 s (%.1f s)", waited);
	for (int i = 0; i < 64; i++)
		close(silent[i]);

	struct strbuf want = {0};
	double_services = 2;
	{
		struct service_status *st;
		size_t n;
		fake_status(NULL, NULL, 0, &st, &n, NULL);
		metrics_format(st, n, &want);
		for (size_t i = 0; i < n; i++)
			service_status_free(&st[i]);
		free(st);
	}

	char *r = request("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
	ok(!strncmp(r, "HTTP/1.0 200 OK\r\n", 17), "GET /metrics: 200");
	ok(strstr(r, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != NULL,
	   "content type of the text format 0.0.4");
	ok(strstr(r, "\r\nConnection: close\r\n") != NULL, "Connection: close");
	is_str(body_of(r), want.data, "body is metrics_format of the status snapshot");
	char cl[64];
	snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", want.len);
	ok(strstr(r, cl) != NULL, "Content-Length matches");
	free(r);

	r = request("GET /metrics?x=1 HTTP/1.0\n\n");
	ok(!strncmp(r, "HTTP/1.0 200 OK", 15), "query string ignored, bare LF accepted");
	free(r);
	r = request("HEAD /metrics HTTP/1.0\r\n\r\n");
	ok(!strncmp(r, "HTTP/1.0 200 OK", 15) && *body_of(r) == '\0', "HEAD: headers only");
	free(r);
	r = request("GET / HTTP/1.0\r\n\r\n");
	ok(!strncmp(r, "HTTP/1.0 404 ", 13), "GET /: 404");
	free(r);
	r = request("POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
	ok(!strncmp(r, "HTTP/1.0 404 ", 13), "POST: 404");
	free(r);
	r = request("garbage\r\n\r\n");
	ok(!strncmp(r, "HTTP/1.0 400 ", 13), "garbage: 400");
	free(r);

	/* Oversized request headers. */
	char *big = malloc(9001);
	memcpy(big, "GET /metrics HTTP/1.0\r\nX: ", 26);
	memset(big + 26, 'a', 9001 - 27);
	big[9000] = '\0';
	r = request(big);
	ok(!strncmp(r, "HTTP/1.0 400 ", 13), "more than 8 KiB of request: 400");
	free(r);
	free(big);

	/* A request trickled in pieces. */
	int fd = dial();
	const char *pieces[] = {"GE", "T /met", "rics HTTP/1.0\r", "\n", "\r\n"};
	for (size_t i = 0; i < 5; i++) {
		if (write(fd, pieces[i], strlen(pieces[i])) < 0)
			break;
		pump(0.02);
	}
	struct strbuf sb = {0};
	drain(fd, &sb, 3);
	close(fd);
	ok(sb.data && !strncmp(sb.data, "HTTP/1.0 200 OK", 15), "trickled request answered");
	sb_free(&sb);

	/* A client that asks for a huge answer and never reads it does not block
	 * anyone else, and is dropped after the write timeout. */
	double_services = 3000;
	int lazy = dial();
	int bufsz = 4096;
	setsockopt(lazy, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	const char *get = "GET /metrics HTTP/1.0\r\n\r\n";
	if (write(lazy, get, strlen(get)) < 0)
		note("write failed");
	pump(0.3);
	double_services = 2;
	t0 = mono();
	r = request("GET /metrics HTTP/1.0\r\n\r\n");
	ok(!strcmp(body_of(r), want.data) && mono() - t0 < 1,
	   "another client is served while one does not read (%.3f s)", mono() - t0);
	free(r);
	/* The lazy one: we now read; the server must have closed it mid-answer. */
	pump(5.5);
	sb = (struct strbuf){0};
	int eof = drain(lazy, &sb, 2);
	ok(eof == 1 || eof == -1, "the non-reading client was closed (got %zu bytes)", sb.len);
	sb_free(&sb);
	close(lazy);

	unsigned calls = double_calls;
	r = request("GET /nothing HTTP/1.0\r\n\r\n");
	free(r);
	is_int(double_calls, calls, "a 404 does not take a snapshot");

	metrics_server_free(m);
	fd = dial();
	ok(fd < 0, "the listener is closed after metrics_server_free");
	if (fd >= 0)
		close(fd);
	sb_free(&want);
}

int main(void)
{
	test_format();
	test_server();
	return done_testing();
}
