/*
 * conn_http — the HTTP side of a client connection; see conn_http.h.
 *
 * The relay stays the byte pump; this file is its filter. Client bytes go
 * through http_track_request(): body bytes may be written as they come, the
 * bytes of a head in progress (the tracker's head_len) are held until it is
 * complete, so that a bad one never reaches the backend. Backend bytes go
 * through http_track_response() and are all written. Nothing here closes or
 * frees from inside a relay callback: what the owner must hear (the first
 * head, requests in flight going to or from 0) is fed to the loop (kick)
 * and told from there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn_http.h"
#include "log.h"
#include "util.h"

_Static_assert(ZP_MAX_HEADER_SIZE_LIMIT == HTTP_HEADER_SIZE_LIMIT,
	       "config and http agree on the largest max_header_size");

/* How long a connection closed after our own answer may still send. */
#define LINGER_SECONDS 2.0

/* --- requests in flight -------------------------------------------------- */

static void kick(struct conn *c)
{
	ev_feed_event(c->q->loop, &c->http->kick, EV_TIMER);
}

/* q->n_requests follows c's tracker. */
static void count(struct conn *c)
{
	struct conn_http *h = c->http;
	struct conn_queue *q = c->q;
	unsigned n = http_track_in_flight(&h->t);
	/* idle_ignore: matched requests keep nothing awake. */
	n = n > h->ign_live ? n - h->ign_live : 0;
	if (n == h->counted)
		return;
	bool was = q->n_requests > 0;
	q->n_requests = q->n_requests - h->counted + n;
	h->counted = n;
	if (was != (q->n_requests > 0)) {
		h->changed = true;
		kick(c);
	}
}

/* Host routing: c's next request is for another service (h->switching).
 * Once the responses before it are written out, its backend closes and the
 * owner routes it again, as a connection that just sent its first request;
 * where that cannot be done cleanly, c ends after what it was answered. */
static void try_switch(struct conn *c)
{
	struct conn_http *h = c->http;
	struct relay *r = c->relay;
	if (!r || c->where != CONN_ACTIVE || http_track_in_flight(&h->t) > 1 ||
	    relay_holds(r, RELAY_DOWN))
		return; /* a response or its last bytes are still due: kicked again */
	struct relay_half *u = &r->half[RELAY_UP], *d = &r->half[RELAY_DOWN];
	h->switching = false;
	if (r->connecting || u->start != u->ready || u->eof || d->eof || u->pipe[0] >= 0) {
		log_info("%s: connection from %s: its next request is for host %s of another "
			 "service; closed after its answers",
			 c->q->name, c->peer, h->t.req.host);
		relay_end_input(r, RELAY_UP);
		return;
	}
	log_debug("%s: connection from %s: its next request is for host %s, routed again",
		  c->q->name, c->peer, h->t.req.host);
	struct conn_queue *q = c->q;
	conn_detach(c);
	q->ops->request(q->data, c); /* may free c */
}

size_t conn_request_head_len(const struct conn *c)
{
	return c->http->t.head_len;
}

const char *conn_request_host(const struct conn *c)
{
	return c->http->t.req.host;
}

void conn_http_detached(struct conn *c)
{
	struct relay_half *u = &c->relay->half[RELAY_UP];
	u->ready = u->seen; /* the held head goes to the next backend */
}

void conn_http_limit(struct conn *c, size_t max_header_size)
{
	c->http->t.max_header_size = max_header_size;
	c->relay->hold_max = max_header_size + RELAY_BUFSIZE;
}

static bool ignore_match(const struct service_config *cfg, const struct http_request *r);

void conn_http_moved(struct conn *c, struct usage *from)
{
	struct conn_http *h = c->http;
	/* Its bytes and next heads are its new service's. */
	conn_http_limit(c, c->q->cfg->max_header_size);
	c->relay->count[RELAY_UP] = &c->q->usage->bytes_in;
	c->relay->count[RELAY_DOWN] = &c->q->usage->bytes_out;
	/* So is idle_ignore: the head that moved it (the latest) was judged by
	 * the service it came from, and is judged again by its new one. */
	bool ignored = ignore_match(c->q->cfg, &h->t.req);
	if (h->ignored && from->requests_ignored)
		from->requests_ignored--;
	if (ignored)
		c->q->usage->requests_ignored++;
	if (ignored != h->ignored && h->ign_heads > 0 && h->ign_heads <= 32) {
		unsigned bit = 1u << (h->ign_heads - 1);
		if (ignored) {
			h->ign_bits |= bit;
			h->ign_live++;
		} else if (h->ign_bits & bit) {
			h->ign_bits &= ~bit;
			h->ign_live--;
		}
	}
	h->ignored = ignored;
	count(c);
}

void conn_http_flushed(struct conn *c)
{
	if (c->http->switching)
		kick(c);
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;
	struct conn_queue *q = c->q;
	struct conn_http *h = c->http;
	if (h->switching) {
		try_switch(c); /* may free c */
		return;
	}
	bool head = h->head && c->where == CONN_READING, changed = h->changed;
	h->head = h->changed = false;
	/* Either may free c (and, for a removed service, q): the last thing. */
	if (head)
		q->ops->request(q->data, c);
	else if (changed)
		q->ops->changed(q->data);
}

static void on_request_done(void *data, unsigned status, uint64_t started_usec)
{
	struct conn *c = data;
	uint64_t now = now_usec();
	struct conn_http *h = c->http;
	usage_request_done(c->q->usage, status, now > started_usec ? now - started_usec : 0);
	h->resume = true;
	if (h->ign_heads) { /* the oldest request is done: was it an ignored one? */
		if (h->ign_bits & 1)
			h->ign_live--;
		h->ign_bits >>= 1;
		h->ign_heads--;
	}
}

static void on_tunnel(void *data)
{
	struct conn *c = data;
	c->http->resume = true;
	/* From now on bytes pass untracked: the relay may splice them. */
	if (c->relay) {
		c->relay->half[RELAY_UP].filter = c->relay->half[RELAY_DOWN].filter = false;
		c->relay->half[RELAY_UP].no_splice = c->relay->half[RELAY_DOWN].no_splice = false;
	}
}

static const struct http_track_ops track_ops = {
    .request_done = on_request_done,
    .tunnel = on_tunnel,
};

/* --- idle_ignore ---------------------------------------------------------- */

/* Whether r matches idle_ignore: its path starts with one of the prefixes,
 * or its User-Agent contains one of the ua: texts, ignoring case. */
static bool ignore_match(const struct service_config *cfg, const struct http_request *r)
{
	for (char *const *p = cfg->idle_ignore_paths; p && *p; p++)
		if (strncmp(r->path, *p, strlen(*p)) == 0)
			return true;
	for (char *const *a = cfg->idle_ignore_agents; a && *a; a++)
		if (strcasestr(r->user_agent, *a))
			return true;
	return false;
}

/* A head is complete: note whether it is ignored, for count() and the
 * owner. */
static void head_seen(struct conn *c)
{
	struct conn_http *h = c->http;
	h->ignored = ignore_match(c->q->cfg, &h->t.req);
	if (h->ign_heads < 32) {
		if (h->ignored) {
			h->ign_bits |= 1u << h->ign_heads;
			h->ign_live++;
		}
		h->ign_heads++;
	}
	if (h->ignored)
		c->q->usage->requests_ignored++;
}

bool conn_ignored(const struct conn *c)
{
	return c->http && c->http->ignored;
}

/* --- the filter ---------------------------------------------------------- */

static int filter_up(struct conn *c, struct relay *r)
{
	struct conn_http *h = c->http;
	struct relay_half *u = &r->half[RELAY_UP];
	if (u->end > 0)
		h->spoke = true;
	while (u->seen < u->end && !u->paused) {
		size_t used = 0;
		enum http_event ev = http_track_request(&h->t, u->data + u->seen, u->end - u->seen,
							now_usec(), &used);
		u->seen += used;
		if (!used && (ev == HTTP_MORE || ev == HTTP_HEAD))
			break; /* no progress: wait for more bytes rather than spin */
		switch (ev) {
		case HTTP_MORE:
			/* The head in progress is held; body bytes may go. */
			if (u->seen - u->ready > h->t.head_len)
				u->ready = u->seen - h->t.head_len;
			break;
		case HTTP_HEAD:
			if (c->where == CONN_ACTIVE && c->front && c->q->ops->stays &&
			    !c->q->ops->stays(c->q->data, c)) {
				/* For another service: held until the responses
				 * before it are out (try_switch). */
				u->ready = u->seen - h->t.head_len;
				u->paused = true;
				h->switching = true;
				kick(c);
				break;
			}
			u->ready = u->seen;
			head_seen(c);
			if (c->where == CONN_READING) {
				/* The owner decides; nothing more is read until it
				 * gives the relay a backend. */
				u->paused = true;
				h->head = true;
				kick(c);
			}
			break;
		case HTTP_FULL:
			u->ready = u->seen - h->t.head_len;
			u->paused = true; /* resumed by a response (filter_down) */
			break;
		case HTTP_ERROR: count(c); return -EBADMSG;
		}
	}
	count(c);
	return 0;
}

static int filter_down(struct conn *c, struct relay *r)
{
	struct conn_http *h = c->http;
	struct relay_half *d = &r->half[RELAY_DOWN];
	int err = 0;
	if (d->seen < d->end) {
		err = http_track_response(&h->t, d->data + d->seen, d->end - d->seen);
		if (err == 0)
			h->answered = true;
	}
	d->seen = d->ready = d->end;
	if (err == 0 && d->eof) {
		int e = http_track_response_eof(&h->t);
		if (e < 0)
			log_debug("%s: connection from %s: the backend closed mid-response: %s",
				  c->q->name, c->peer, h->t.error ? h->t.error : "cut short");
	}
	count(c);
	if (err < 0)
		return -EPROTO;
	/* A response completed: a request side stopped at HTTP_FULL goes on. */
	struct relay_half *u = &r->half[RELAY_UP];
	if (h->resume && h->switching) {
		h->resume = false;
		kick(c); /* the one held for another service may be next */
		return 0;
	}
	if (h->resume && u->paused && c->where == CONN_ACTIVE)
		relay_resume(r, RELAY_UP);
	h->resume = false;
	return 0;
}

int conn_http_filter(struct relay *r, enum relay_dir d)
{
	struct conn *c = r->data;
	return d == RELAY_UP ? filter_up(c, r) : filter_down(c, r);
}

/* --- the connection ------------------------------------------------------ */

static void on_linger_timeout(struct ev_loop *loop, ev_timer *w, int revents);
static void on_closing_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_loading(struct ev_loop *loop, ev_timer *w, int revents);

void conn_http_start(struct conn *c)
{
	struct conn_queue *q = c->q;
	struct conn_http *h = xcalloc(1, sizeof(*h));
	c->http = h;
	http_track_init(&h->t, q->cfg->max_header_size, &track_ops, c);
	h->fd = -1;
	ev_init(&h->kick, on_kick);
	h->kick.data = c;
	ev_init(&h->linger, on_linger_timeout);
	h->linger.data = c;
	ev_init(&h->io, on_closing_io);
	h->io.data = c;
	ev_init(&h->loading, on_loading);
	h->loading.data = c;
	conn_relay_start(c, -1, false);
	relay_set_filter(c->relay, q->cfg->max_header_size + RELAY_BUFSIZE);
}

void conn_http_free(struct conn *c)
{
	struct conn_http *h = c->http;
	struct conn_queue *q = c->q;
	ev_timer_stop(q->loop, &h->kick); /* drops a fed event too */
	ev_timer_stop(q->loop, &h->linger);
	ev_io_stop(q->loop, &h->io);
	ev_timer_stop(q->loop, &h->loading);
	free(h->page);
	if (h->fd >= 0)
		close(h->fd);
	/* Requests the connection ends before their response: counted
	 * unanswered (a head in progress is no request yet, a tunnel was
	 * counted at its 101). */
	unsigned unanswered = h->settled ? 0 : http_track_in_flight(&h->t);
	if (h->t.tunnel && unanswered)
		unanswered--;
	if (h->t.head_len && unanswered)
		unanswered--;
	for (unsigned i = 0; i < unanswered; i++)
		usage_request_done(q->usage, 0, 0);
	q->n_requests -= h->counted;
	http_track_free(&h->t);
	free(h);
	c->http = NULL;
}

bool conn_http_idle(const struct conn *c)
{
	return http_track_between(&c->http->t) && !(c->relay && relay_holds(c->relay, RELAY_DOWN));
}

/* Send what is left of the answer: 0 done, 1 wait for writable, -errno. */
static int answer_send(struct conn_http *h)
{
	const char *out = h->page ? h->page : h->answer;
	while (h->answer_off < h->answer_len) {
		ssize_t n =
		    send(h->fd, out + h->answer_off, h->answer_len - h->answer_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -errno;
		h->answer_off += (size_t)n;
	}
	return 0;
}

/* The answer is out: pass the EOF, then read and drop what still comes
 * until the client closes or LINGER_SECONDS pass, so that our close does
 * not reset the answer away before the client read it. */
static int linger_read(struct conn *c)
{
	struct conn_http *h = c->http;
	if (shutdown(h->fd, SHUT_WR) < 0)
		return -errno; /* the client is gone already */
	ev_io_stop(c->q->loop, &h->io);
	ev_io_set(&h->io, h->fd, EV_READ);
	ev_io_start(c->q->loop, &h->io);
	return 0;
}

static void on_closing_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	struct conn_http *h = c->http;
	if (h->answer_off < h->answer_len) {
		int r = answer_send(h);
		if (r < 0 || (r == 0 && linger_read(c) < 0))
			conn_closing_done(c);
		return;
	}
	char drop[4096];
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(h->fd, drop, sizeof(drop), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_closing_done(c);
			return;
		}
	}
}

static void on_linger_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	conn_closing_done(w->data);
}

/* Take c's client out of its relay for an answer of ours with status, which
 * settles its request in flight. The client fd, or -1. */
static int answer_take(struct conn *c, unsigned status)
{
	struct conn_http *h = c->http;
	struct conn_queue *q = c->q;
	int fd = c->relay ? relay_take_client(c->relay) : c->fd;
	c->fd = -1;
	if (c->relay) {
		relay_close(c->relay);
		free(c->relay);
		c->relay = NULL;
	}
	ev_timer_stop(q->loop, &h->loading);
	h->fd = fd;
	/* Our answer is the response of the request in flight, if any. */
	if (!h->settled && http_track_in_flight(&h->t) > 0)
		usage_request_done(q->usage, status, now_usec() - c->arrive_usec);
	h->settled = true;
	/* Nothing is in flight while it closes: the service may idle. */
	q->n_requests -= h->counted;
	h->counted = 0;
	return fd;
}

/* Send the answer (h->answer_len bytes, from h->page or h->answer), then
 * linger. true: closing, false: free c. */
static bool answer_go(struct conn *c)
{
	struct conn_http *h = c->http;
	struct conn_queue *q = c->q;
	int r = answer_send(h);
	if (r < 0)
		return false;
	/* c is not on a list yet (the caller links it to closing on true):
	 * nothing here may free it. */
	if (r == 0 && linger_read(c) < 0)
		return false;
	if (r > 0) {
		ev_io_set(&h->io, h->fd, EV_WRITE);
		ev_io_start(q->loop, &h->io);
	}
	ev_timer_set(&h->linger, LINGER_SECONDS, 0);
	ev_timer_start(q->loop, &h->linger);
	return true;
}

bool conn_http_answer(struct conn *c, unsigned status, unsigned retry_after, const char *body)
{
	struct conn_http *h = c->http;
	int fd = answer_take(c, status);
	int n = http_format_answer(h->answer, sizeof(h->answer), status, retry_after, body);
	if (fd < 0 || n < 0)
		return false;
	h->answer_len = (size_t)n;
	h->answer_off = 0;
	return answer_go(c);
}

/* An answer of ours with a body of any size: the head is formatted into
 * h->answer and sent with the body at once; only what the socket did not
 * take is copied (h->page), so a long page costs memory only for a slow
 * client. headers: extra header lines, each ending in CRLF. */
static bool answer_body(struct conn *c, unsigned status, const char *type, const char *headers,
			const char *body, size_t len)
{
	struct conn_http *h = c->http;
	int fd = answer_take(c, status);
	int n =
	    snprintf(h->answer, sizeof(h->answer),
		     "HTTP/1.1 %u %s\r\n%s%s%sContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
		     status, http_reason(status), type ? "Content-Type: " : "", type ? type : "",
		     type ? "\r\n" : "", len, headers);
	if (fd < 0 || n < 0 || (size_t)n >= sizeof(h->answer))
		return false;
	struct iovec iov[2] = {{h->answer, (size_t)n}, {(void *)body, len}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	ssize_t w;
	do
		w = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return false;
	size_t sent = w > 0 ? (size_t)w : 0, total = (size_t)n + len;
	h->answer_off = 0;
	h->answer_len = total - sent;
	if (h->answer_len) {
		h->page = xmalloc(h->answer_len);
		size_t head_left = sent < (size_t)n ? (size_t)n - sent : 0;
		memcpy(h->page, h->answer + (size_t)n - head_left, head_left);
		memcpy(h->page + head_left, body + (len - (h->answer_len - head_left)),
		       h->answer_len - head_left);
	}
	return answer_go(c);
}

bool conn_http_answer_empty(struct conn *c, unsigned status)
{
	return answer_body(c, status, NULL, "", "", 0);
}

/* s with & < > " ' as HTML character references, cut to fit out. */
static void html_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;
	for (; *s && o + 7 < len; s++) {
		const char *e = *s == '&'    ? "&amp;"
				: *s == '<'  ? "&lt;"
				: *s == '>'  ? "&gt;"
				: *s == '"'  ? "&quot;"
				: *s == '\'' ? "&#39;"
					     : NULL;
		if (e) {
			memcpy(out + o, e, strlen(e));
			o += strlen(e);
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
}

bool conn_http_answer_loading(struct conn *c)
{
	const struct service_config *cfg = c->q->cfg;
	static const char headers[] = "Retry-After: 1\r\nRefresh: 1\r\nCache-Control: no-store\r\n";
	static const char type[] = "text/html; charset=utf-8";
	if (cfg->loading_page_body)
		return answer_body(c, 503, type, headers, cfg->loading_page_body,
				   cfg->loading_page_len);
	/* The built-in page names the service and nothing else; no script:
	 * the Refresh header (and its meta twin) reloads it. */
	char name[6 * 64 + 8], page[1024];
	html_escape(c->q->name, name, sizeof(name));
	int n =
	    snprintf(page, sizeof(page),
		     "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
		     "<meta http-equiv=\"refresh\" content=\"1\">"
		     "<title>%s is starting</title></head>\n"
		     "<body><p>%s is starting, this page reloads by itself.</p></body></html>\n",
		     name, name);
	if (n < 0 || (size_t)n >= sizeof(page))
		n = 0;
	return answer_body(c, 503, type, headers, page, (size_t)n);
}

void conn_http_pended(struct conn *c)
{
	const struct service_config *cfg = c->q->cfg;
	const struct http_request *r = &c->http->t.req;
	uint64_t ms = cfg->loading_page_after_ms;
	if (!c->waited || !cfg->loading_page || ms == ZP_INFINITY ||
	    strcmp(r->method, "GET") != 0 || !r->accept_html)
		return;
	ev_timer_set(&c->http->loading, (double)ms / 1000.0, 0);
	ev_timer_start(c->q->loop, &c->http->loading);
}

void conn_http_served(struct conn *c)
{
	ev_timer_stop(c->q->loop, &c->http->loading);
}

static void on_loading(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;
	if (c->where == CONN_PENDING)
		conn_loading_page(c);
}

bool conn_http_relay_done(struct conn *c, int err)
{
	struct conn_http *h = c->http;
	struct conn_queue *q = c->q;
	if (c->where == CONN_READING && !h->spoke) {
		/* A connection that never sent a byte (a pre-connect, a port
		 * scan) woke nothing. */
		log_debug("%s: connection from %s closed before its first byte: ignored", q->name,
			  c->peer);
		q->usage->connections_ignored++;
	}
	if (err == -EBADMSG) {
		unsigned status = h->t.error_status ? h->t.error_status : 400;
		log_info("%s: request from %s refused with %u: %s", q->name, c->peer, status,
			 h->t.error ? h->t.error : "malformed");
		/* Behind requests still in flight an answer would come before
		 * their responses: the connection just closes. */
		if (c->relay && relay_holds(c->relay, RELAY_DOWN))
			return false;
		if (h->counted > 1)
			return false;
		if (c->where == CONN_READING && c->front && !c->routed) {
			/* Host routing: before its service is known it is nobody's. */
			h->settled = true;
			if (q->usage->connections_total)
				q->usage->connections_total--;
		} else if (c->where == CONN_READING) {
			q->usage->connections_refused++;
		}
		return conn_http_answer(c, status, 0, http_reason(status));
	}
	if (err == -EPROTO) {
		bool first = !h->answered;
		log_warning("%s: connection from %s: the backend's answer is not HTTP (%s); "
			    "connection closed%s",
			    q->name, c->peer, h->t.error ? h->t.error : "invalid",
			    first ? " with 502" : "");
		if (!first)
			return false;
		return conn_http_answer(c, 502, 0, "The backend sent an invalid response.");
	}
	return false;
}
