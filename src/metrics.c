/*
 * metrics — the Prometheus text exposition (format 0.0.4) of every service,
 * and the tiny HTTP server that hands it out on GET /metrics.
 *
 * The server lives on the daemon's loop, so it must never block it nor let a
 * client cost more than a bounded amount: each client gets an 8 KiB request
 * buffer and one response, a deadline of 5 s to send its request and another
 * to read the answer, and at most 64 clients are served at once (more are
 * closed on accept). One request per connection, then close.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "strbuf.h"
#include "util.h"

#define METRICS_REQ_MAX        8192
#define METRICS_TIMEOUT        5.0
#define METRICS_MAX_CLIENTS    64
#define METRICS_ACCEPT_BACKOFF 1.0

/* --- the exposition text --- */

/* A label value with \, " and newline escaped. */
static void put_label(struct strbuf *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			sb_puts(out, "\\\\");
		else if (*s == '"')
			sb_puts(out, "\\\"");
		else if (*s == '\n')
			sb_puts(out, "\\n");
		else
			sb_append(out, s, 1);
	}
}

static void put_float(struct strbuf *out, double v)
{
	if (isnan(v))
		sb_puts(out, "NaN");
	else if (isinf(v))
		sb_puts(out, v > 0 ? "+Inf" : "-Inf");
	else if (fabs(v) >= 1e15)
		sb_printf(out, "%.17g", v);
	else {
		/* Microseconds are all the meter has: no float noise beyond them. */
		char buf[64];
		snprintf(buf, sizeof(buf), "%.6f", v);
		char *e = buf + strlen(buf);
		while (e[-1] == '0')
			e--;
		if (e[-1] == '.')
			e--;
		*e = '\0';
		sb_puts(out, strcmp(buf, "-0") ? buf : "0");
	}
}

static void family(struct strbuf *out, const char *name, const char *type, const char *help)
{
	sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{service="..."[,extra]} */
static void series(struct strbuf *out, const char *name, const struct service_status *s,
		   const char *extra_label, const char *extra_value)
{
	sb_printf(out, "%s{service=\"", name);
	put_label(out, s->name);
	sb_puts(out, "\"");
	if (extra_label) {
		sb_printf(out, ",%s=\"", extra_label);
		put_label(out, extra_value);
		sb_puts(out, "\"");
	}
	sb_puts(out, "} ");
}

enum kind { U64, DBL };

struct simple_metric {
	const char *name;
	const char *type;
	const char *help;
	enum kind kind;
	size_t offset;
};

static const struct simple_metric simple[] = {
    {"zeroproxy_connections_total", "counter", "Client connections accepted.", U64,
     offsetof(struct service_status, connections_total)},
    {"zeroproxy_connections_refused_total", "counter",
     "Client connections closed without reaching a backend.", U64,
     offsetof(struct service_status, connections_refused)},
    {"zeroproxy_connections_ignored_total", "counter",
     "Client connections closed before their first byte, which woke nothing.", U64,
     offsetof(struct service_status, connections_ignored)},
    {"zeroproxy_cold_starts_total", "counter", "Backend instances started.", U64,
     offsetof(struct service_status, cold_starts)},
    {"zeroproxy_billed_seconds_total", "counter",
     "Total lifetime of all backend instances, in seconds, frozen time not counted.", DBL,
     offsetof(struct service_status, billed_seconds)},
    {"zeroproxy_frozen_seconds_total", "counter",
     "Total time backend instances spent frozen (freeze_after), in seconds.", DBL,
     offsetof(struct service_status, frozen_seconds)},
    {"zeroproxy_thaws_total", "counter", "Frozen backend instances thawed to serve.", U64,
     offsetof(struct service_status, thaws)},
    {"zeroproxy_cpu_seconds_total", "counter",
     "CPU time of the backend and its descendants, in seconds.", DBL,
     offsetof(struct service_status, cpu_seconds)},
    {"zeroproxy_bytes_in_total", "counter", "Bytes relayed from clients to the backend.", U64,
     offsetof(struct service_status, bytes_in)},
    {"zeroproxy_bytes_out_total", "counter", "Bytes relayed from the backend to clients.", U64,
     offsetof(struct service_status, bytes_out)},
    {"zeroproxy_connections_active", "gauge", "Client connections relayed to the backend now.", U64,
     offsetof(struct service_status, connections_active)},
    {"zeroproxy_connections_pending", "gauge",
     "Client connections waiting for the backend to become ready.", U64,
     offsetof(struct service_status, connections_pending)},
    {"zeroproxy_peak_memory_bytes", "gauge", "Largest memory use of any backend instance.", U64,
     offsetof(struct service_status, peak_memory_bytes)},
    {"zeroproxy_time_at_zero_ratio", "gauge",
     "Share of wall time with no backend instance running, since first configured.", DBL,
     offsetof(struct service_status, time_at_zero_ratio)},
};

/* A gauge in seconds of a snapshot's time in ms (the double at ms_off), for
 * the services whose bool at has_off says they have one. */
static void gauge_ms(struct strbuf *out, const char *name, const char *help,
		     const struct service_status *st, size_t n, size_t has_off, size_t ms_off)
{
	family(out, name, "gauge", help);
	for (size_t i = 0; i < n; i++) {
		const char *base = (const char *)&st[i];
		double ms;
		if (!*(const bool *)(base + has_off))
			continue;
		memcpy(&ms, base + ms_off, sizeof(ms));
		series(out, name, &st[i], NULL, NULL);
		put_float(out, ms / 1000.0);
		sb_puts(out, "\n");
	}
}

/* One service's histogram NAME: cumulative buckets of bounds le (the last
 * +Inf), _sum and _count. */
static void histogram(struct strbuf *out, const char *name, const struct service_status *s,
		      const double *le, size_t nb, const uint64_t *buckets, uint64_t count,
		      double sum)
{
	char series_name[128];
	for (size_t b = 0; b < nb; b++) {
		char bound[32];
		if (b == nb - 1)
			strcpy(bound, "+Inf");
		else
			snprintf(bound, sizeof(bound), "%g", le[b]);
		snprintf(series_name, sizeof(series_name), "%s_bucket", name);
		series(out, series_name, s, "le", bound);
		/* +Inf must equal _count, whatever the buckets say. */
		sb_printf(out, "%llu\n", (unsigned long long)(b == nb - 1 ? count : buckets[b]));
	}
	snprintf(series_name, sizeof(series_name), "%s_sum", name);
	series(out, series_name, s, NULL, NULL);
	put_float(out, sum);
	sb_puts(out, "\n");
	snprintf(series_name, sizeof(series_name), "%s_count", name);
	series(out, series_name, s, NULL, NULL);
	sb_printf(out, "%llu\n", (unsigned long long)count);
}

/* protocol = http: requests by the class of their response ("none": ended
 * before one), in flight, and their durations; only http services have
 * these series. */
static void metrics_format_http(const struct service_status *st, size_t n, struct strbuf *out)
{
	family(out, "zeroproxy_requests_total", "counter",
	       "HTTP requests, by the class of their response (none: the connection ended "
	       "before it).");
	for (size_t i = 0; i < n; i++) {
		if (!service_status_http(&st[i]))
			continue;
		uint64_t answered = 0;
		for (int c = 0; c < ZP_RESPONSE_CLASSES; c++) {
			char class[8];
			snprintf(class, sizeof(class), "%dxx", c + 1);
			series(out, "zeroproxy_requests_total", &st[i], "class", class);
			sb_printf(out, "%llu\n", (unsigned long long)st[i].responses[c]);
			answered += st[i].responses[c];
		}
		series(out, "zeroproxy_requests_total", &st[i], "class", "none");
		sb_printf(out, "%llu\n",
			  (unsigned long long)(st[i].requests_total > answered
						   ? st[i].requests_total - answered
						   : 0));
	}

	family(out, "zeroproxy_requests_ignored_total", "counter",
	       "HTTP requests matched by idle_ignore: they neither start the backend nor keep it "
	       "awake.");
	for (size_t i = 0; i < n; i++) {
		if (!service_status_http(&st[i]))
			continue;
		series(out, "zeroproxy_requests_ignored_total", &st[i], NULL, NULL);
		sb_printf(out, "%llu\n", (unsigned long long)st[i].requests_ignored);
	}

	family(out, "zeroproxy_requests_in_flight", "gauge",
	       "HTTP requests received and not yet answered in full, tunnels included.");
	for (size_t i = 0; i < n; i++) {
		if (!service_status_http(&st[i]))
			continue;
		series(out, "zeroproxy_requests_in_flight", &st[i], NULL, NULL);
		sb_printf(out, "%llu\n", (unsigned long long)st[i].requests_active);
	}

	family(out, "zeroproxy_request_duration_seconds", "histogram",
	       "HTTP requests answered: from their first byte until the last byte of the "
	       "response.");
	for (size_t i = 0; i < n; i++)
		if (service_status_http(&st[i]))
			histogram(out, "zeroproxy_request_duration_seconds", &st[i],
				  usage_request_bucket_le, ZP_REQUEST_BUCKETS,
				  st[i].request_buckets, st[i].request_count,
				  st[i].request_sum_seconds);
}

void metrics_format(const struct service_status *st, size_t n, struct strbuf *out)
{
	for (size_t m = 0; m < sizeof(simple) / sizeof(simple[0]); m++) {
		family(out, simple[m].name, simple[m].type, simple[m].help);
		for (size_t i = 0; i < n; i++) {
			const char *field = (const char *)&st[i] + simple[m].offset;
			series(out, simple[m].name, &st[i], NULL, NULL);
			if (simple[m].kind == U64) {
				uint64_t v;
				memcpy(&v, field, sizeof(v));
				sb_printf(out, "%llu\n", (unsigned long long)v);
			} else {
				double v;
				memcpy(&v, field, sizeof(v));
				put_float(out, v);
				sb_puts(out, "\n");
			}
		}
	}

	family(out, "zeroproxy_up", "gauge", "Whether a backend instance exists (1) or not (0).");
	for (size_t i = 0; i < n; i++) {
		series(out, "zeroproxy_up", &st[i], NULL, NULL);
		sb_puts(out, st[i].pid > 0 ? "1\n" : "0\n");
	}

	family(out, "zeroproxy_state", "gauge", "The service's state: 1 for the current one.");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < SVC__COUNT; k++) {
			const char *name = service_state_to_string(k);
			series(out, "zeroproxy_state", &st[i], "state", name);
			sb_puts(out, st[i].state && !strcmp(st[i].state, name) ? "1\n" : "0\n");
		}

	/* Only the members of a group have a series; a metric family with no
	 * series is fine for promtool. */
	family(out, "zeroproxy_group_evictions_total", "counter",
	       "Times the service was stopped to make room in its group.");
	for (size_t i = 0; i < n; i++)
		if (st[i].group) {
			series(out, "zeroproxy_group_evictions_total", &st[i], "group",
			       st[i].group);
			sb_printf(out, "%llu\n", (unsigned long long)st[i].group_evictions);
		}

	gauge_ms(out, "zeroproxy_last_start_duration_seconds",
		 "The latest cold start as its client felt it: from the connection that woke "
		 "the service until the backend's first byte to it.",
		 st, n, offsetof(struct service_status, has_start),
		 offsetof(struct service_status, last_start_ms));
	gauge_ms(out, "zeroproxy_last_ready_duration_seconds",
		 "Time the latest instance took from its spawn until it was ready.", st, n,
		 offsetof(struct service_status, has_ready),
		 offsetof(struct service_status, ready_ms));
	gauge_ms(out, "zeroproxy_last_thaw_duration_seconds",
		 "The latest thaw of a frozen instance as its client felt it: from the "
		 "connection that thawed it until the backend's first byte to it.",
		 st, n, offsetof(struct service_status, has_thaw),
		 offsetof(struct service_status, last_thaw_ms));

	family(out, "zeroproxy_start_duration_seconds", "histogram",
	       "Cold starts as clients felt them: from the connection that woke the service "
	       "until the backend's first byte to it.");
	for (size_t i = 0; i < n; i++)
		histogram(out, "zeroproxy_start_duration_seconds", &st[i], usage_start_bucket_le,
			  ZP_START_BUCKETS, st[i].start_buckets, st[i].start_count,
			  st[i].start_sum_seconds);

	metrics_format_http(st, n, out);
}

/* --- the HTTP server --- */

struct metrics_client {
	struct metrics_server *server;
	struct metrics_client *next, *prev; /* in server->clients */
	int fd;
	ev_io io;                  /* EV_READ while reading the request, then EV_WRITE */
	ev_timer timer;            /* the deadline of the current phase */
	char req[METRICS_REQ_MAX]; /* the request so far (not NUL-terminated) */
	size_t req_len;
	char *resp; /* the whole response, once the request is in */
	size_t resp_len, resp_off;
};

struct metrics_server {
	struct ev_loop *loop;
	const struct server_ops *ops;
	void *data; /* for ops */
	int fd;
	ev_io accept_io;
	ev_timer backoff; /* restarts accept_io after EMFILE/ENFILE */
	struct metrics_client *clients;
	unsigned n_clients;
};

static void client_free(struct metrics_client *c)
{
	struct metrics_server *m = c->server;

	ev_io_stop(m->loop, &c->io);
	ev_timer_stop(m->loop, &c->timer);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	m->n_clients--;
	free(c->resp);
	free(c);
}

static void build_response(struct metrics_client *c, int code, const char *reason, bool head,
			   const char *ctype, const char *body, size_t body_len)
{
	struct strbuf sb = {0};
	sb_printf(&sb,
		  "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		  "Connection: close\r\n\r\n",
		  code, reason, ctype, body_len);
	if (!head)
		sb_append(&sb, body, body_len);
	c->resp_len = sb.len;
	c->resp = sb_steal(&sb);
}

static void metrics_body(struct metrics_server *m, struct strbuf *body)
{
	struct service_status *st = NULL;
	size_t n = 0;

	if (m->ops->status(m->data, NULL, 0, &st, &n, NULL) < 0) {
		st = NULL;
		n = 0;
	}
	metrics_format(st, n, body);
	for (size_t i = 0; i < n; i++)
		service_status_free(&st[i]);
	free(st);
}

/* Parse the request line of a complete request and build the answer. */
static void answer(struct metrics_client *c, bool complete)
{
	static const char text[] = "text/plain; charset=utf-8";
	char method[16] = "", target[256] = "";
	bool head = false;

	if (complete) {
		char line[METRICS_REQ_MAX + 1];
		size_t l = 0;
		while (l < c->req_len && c->req[l] != '\r' && c->req[l] != '\n')
			l++;
		memcpy(line, c->req, l);
		line[l] = '\0';
		char *sp1 = strchr(line, ' ');
		char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (sp1 && (size_t)(sp1 - line) < sizeof(method)) {
			memcpy(method, line, (size_t)(sp1 - line));
			size_t tl = sp2 ? (size_t)(sp2 - sp1 - 1) : strlen(sp1 + 1);
			if (tl < sizeof(target)) {
				memcpy(target, sp1 + 1, tl);
				target[tl] = '\0';
			}
		}
	}
	head = !strcmp(method, "HEAD");
	char *q = strchr(target, '?');
	if (q)
		*q = '\0';

	if (!complete || !*method || !*target) {
		static const char msg[] = "bad request\n";
		build_response(c, 400, "Bad Request", false, text, msg, sizeof(msg) - 1);
	} else if ((strcmp(method, "GET") && !head) || strcmp(target, "/metrics")) {
		static const char msg[] = "not found: try GET /metrics\n";
		build_response(c, 404, "Not Found", head, text, msg, sizeof(msg) - 1);
	} else {
		struct strbuf body = {0};
		metrics_body(c->server, &body);
		build_response(c, 200, "OK", head, "text/plain; version=0.0.4; charset=utf-8",
			       body.data ? body.data : "", body.len);
		sb_free(&body);
	}
}

/* Send what the socket takes: 0 when the answer is all out (and the write
 * side shut), -EAGAIN when the rest must wait for EV_WRITE, or -errno when
 * the client is gone. */
static int client_write(struct metrics_client *c)
{
	while (c->resp_off < c->resp_len) {
		ssize_t w =
		    send(c->fd, c->resp + c->resp_off, c->resp_len - c->resp_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		c->resp_off += (size_t)w;
	}
	(void)shutdown(c->fd, SHUT_WR); /* the close right after ends it anyway */
	return 0;
}

static void start_writing(struct metrics_client *c, bool complete)
{
	struct ev_loop *loop = c->server->loop;

	answer(c, complete);
	if (client_write(c) != -EAGAIN) {
		client_free(c);
		return;
	}
	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(loop, &c->io);
	ev_timer_stop(loop, &c->timer);
	ev_timer_set(&c->timer, METRICS_TIMEOUT, 0.);
	ev_timer_start(loop, &c->timer);
}

static bool request_complete(const struct metrics_client *c)
{
	return memmem(c->req, c->req_len, "\r\n\r\n", 4) || memmem(c->req, c->req_len, "\n\n", 2);
}

static void client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics_client *c = w->data;

	if (c->resp) {
		if (client_write(c) != -EAGAIN)
			client_free(c);
		return;
	}
	for (;;) {
		if (c->req_len == sizeof(c->req)) {
			start_writing(c, false);
			return;
		}
		ssize_t r = recv(c->fd, c->req + c->req_len, sizeof(c->req) - c->req_len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			/* Gone, or ended without a full request: nothing to answer. */
			client_free(c);
			return;
		}
		c->req_len += (size_t)r;
		if (request_complete(c)) {
			start_writing(c, true);
			return;
		}
	}
}

static void client_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct metrics_client *c = w->data;

	/* Reset rather than close: an unread answer must not linger in the
	 * kernel's send queue of an orphaned socket. */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* else a FIN: fine too */
	client_free(c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct metrics_server *m = w->data;

	for (int i = 0; i < 64; i++) {
		int fd = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno_out_of_resources(errno)) {
				log_warning("metrics: accept: %s; pausing for %gs", strerror(errno),
					    METRICS_ACCEPT_BACKOFF);
				ev_io_stop(loop, &m->accept_io);
				ev_timer_start(loop, &m->backoff);
			}
			return;
		}
		if (m->n_clients >= METRICS_MAX_CLIENTS) {
			close(fd);
			continue;
		}
		struct metrics_client *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->server = m;
		c->fd = fd;
		ev_io_init(&c->io, client_cb, fd, EV_READ);
		c->io.data = c;
		ev_timer_init(&c->timer, client_timeout_cb, METRICS_TIMEOUT, 0.);
		c->timer.data = c;
		c->next = m->clients;
		if (m->clients)
			m->clients->prev = c;
		m->clients = c;
		m->n_clients++;
		ev_io_start(loop, &c->io);
		ev_timer_start(loop, &c->timer);
	}
}

static void backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct metrics_server *m = w->data;
	ev_io_start(loop, &m->accept_io);
}

int metrics_server_new(struct ev_loop *loop, const struct addr *addr, const struct server_ops *ops,
		       void *data, struct metrics_server **out)
{
	*out = NULL;
	int fd = addr_listen(addr, 64);
	if (fd < 0) {
		log_error("metrics: cannot listen on %s: %s", addr->text, strerror(-fd));
		return fd;
	}
	struct metrics_server *m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		return -ENOMEM;
	}
	m->loop = loop;
	m->ops = ops;
	m->data = data;
	m->fd = fd;
	ev_io_init(&m->accept_io, accept_cb, fd, EV_READ);
	m->accept_io.data = m;
	ev_timer_init(&m->backoff, backoff_cb, METRICS_ACCEPT_BACKOFF, 0.);
	m->backoff.data = m;
	ev_io_start(loop, &m->accept_io);
	log_info("metrics: serving /metrics on %s", addr->text);
	*out = m;
	return 0;
}

void metrics_server_free(struct metrics_server *m)
{
	if (!m)
		return;
	while (m->clients)
		client_free(m->clients);
	ev_io_stop(m->loop, &m->accept_io);
	ev_timer_stop(m->loop, &m->backoff);
	close(m->fd);
	free(m);
}
