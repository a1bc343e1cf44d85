/*
 * conn — the connection queue of a service; see conn.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "conn_http.h"
#include "log.h"
#include "util.h"

#define FD_RETRY_SECONDS 0.1

static void on_fd_retry(struct ev_loop *loop, ev_timer *w, int revents);

void conn_queue_init(struct conn_queue *q, struct ev_loop *loop, const char *name,
		     const struct service_config *cfg, struct usage *usage,
		     const struct conn_queue_ops *ops, void *data)
{
	memset(q, 0, sizeof(*q));
	q->loop = loop;
	q->name = name;
	q->cfg = cfg;
	q->usage = usage;
	q->ops = ops;
	q->data = data;
	ev_init(&q->fd_retry_timer, on_fd_retry);
	q->fd_retry_timer.data = q;
}

/* The list where says, and its count. */
static struct conn **list_of(struct conn_queue *q, enum conn_where w, uint32_t **n)
{
	switch (w) {
	case CONN_READING: *n = &q->n_reading; return &q->reading;
	case CONN_PENDING: *n = &q->n_pending; return &q->pending_head;
	case CONN_ACTIVE: *n = &q->n_active; return &q->active;
	case CONN_CLOSING: break;
	}
	*n = &q->n_closing;
	return &q->closing;
}

static void conn_unlink(struct conn *c)
{
	struct conn_queue *q = c->q;
	uint32_t *n;
	struct conn **head = list_of(q, c->where, &n);
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else if (c->where == CONN_PENDING)
		q->pending_tail = c->prev;
	(*n)--;
	c->prev = c->next = NULL;
}

/* Put c on the list of w: at the end of the FIFO, the front of the others. */
static void conn_link(struct conn *c, enum conn_where w)
{
	struct conn_queue *q = c->q;
	uint32_t *n;
	struct conn **head = list_of(q, w, &n);
	c->where = w;
	if (w == CONN_PENDING) {
		c->prev = q->pending_tail;
		c->next = NULL;
		if (q->pending_tail)
			q->pending_tail->next = c;
		q->pending_tail = c;
		if (!q->pending_head)
			q->pending_head = c;
	} else {
		c->prev = NULL;
		c->next = *head;
		if (*head)
			(*head)->prev = c;
		*head = c;
	}
	(*n)++;
}

static void conn_free(struct conn *c)
{
	c->q->ops->conn_closed(c->q->data);
	ev_timer_stop(c->q->loop, &c->pending_timer);
	ev_io_stop(c->q->loop, &c->peek_io);
	if (c->http)
		conn_http_free(c);
	else
		c->q->n_plain--;
	if (c->relay) {
		relay_close(c->relay);
		free(c->relay);
	} else if (c->fd >= 0) {
		close(c->fd);
	}
	free(c);
}

void conn_closing_done(struct conn *c)
{
	conn_unlink(c);
	conn_free(c);
}

/* c (unlinked) is done: freed, or closing after an answer of ours. */
static void conn_end(struct conn *c, bool closing)
{
	if (closing)
		conn_link(c, CONN_CLOSING);
	else
		conn_free(c);
}

void conn_refuse(struct conn *c, const char *why)
{
	struct conn_queue *q = c->q;
	log_event(LOG_INFO, q->name, LOG_EV_REFUSED, NULL, "%s: connection from %s refused: %s",
		  q->name, c->peer, why);
	q->usage->connections_refused++;
	conn_unlink(c);
	if (!c->http) {
		conn_free(c);
		return;
	}
	ev_timer_stop(q->loop, &c->pending_timer);
	char body[300];
	snprintf(body, sizeof(body), "Service unavailable: %s.", why);
	conn_end(c, conn_http_answer(c, 503, q->ops->retry_after(q->data), body));
}

void conn_queue_refuse_pending(struct conn_queue *q, const char *why)
{
	while (q->pending_head)
		conn_refuse(q->pending_head, why);
}

void conn_queue_refuse_waiting(struct conn_queue *q, unsigned gen, const char *why)
{
	conn_queue_refuse_pending(q, why);
	for (struct conn *c = q->active, *next; c; c = next) {
		next = c->next;
		if (c->gen == gen && !c->relay->backend_spoke)
			conn_refuse(c, why);
	}
}

bool conn_queue_unanswered(const struct conn_queue *q, unsigned gen)
{
	for (const struct conn *c = q->active; c; c = c->next)
		if (c->gen == gen && !c->relay->backend_spoke)
			return true;
	return false;
}

static void on_relay_done(struct relay *r, int err)
{
	struct conn *c = r->data;
	struct conn_queue *q = c->q;
	if (c->where == CONN_PENDING) {
		/* http: connection_idle_timeout while it waits for a backend */
		conn_refuse(c, err == -ETIMEDOUT ? "connection_idle_timeout while waiting"
						 : "the client went away while waiting");
	} else if (r->connecting && r->err_side == RELAY_BACKEND) {
		char why[256];
		snprintf(why, sizeof(why), "connect to backend %s: %s", q->target->text,
			 strerror(-err));
		conn_refuse(c, why);
	} else {
		/* A client that goes away while we connect for it is its own
		 * doing: neither refused nor the backend's fault. */
		if (r->connecting && err == -ECONNRESET)
			log_info("%s: connection from %s reset by the client while connecting to "
				 "the backend",
				 q->name, c->peer);
		else if (r->connecting)
			log_info("%s: connection from %s ended by the client while connecting to "
				 "the backend: %s",
				 q->name, c->peer, strerror(-err));
		else if (err == -ETIMEDOUT)
			log_info("%s: connection from %s closed after connection_idle_timeout",
				 q->name, c->peer);
		else if (err < 0 && !(c->http && (err == -EBADMSG || err == -EPROTO)))
			log_debug("%s: connection from %s ended: %s", q->name, c->peer,
				  strerror(-err));
		conn_unlink(c);
		conn_end(c, c->http && conn_http_relay_done(c, err));
	}
	/* Its fds are free now: a connection waiting for fds may go. */
	if (q->pending_head && q->open)
		conn_queue_dispatch(q, -1);
	q->ops->changed(q->data);
}

static void on_first_byte(struct relay *r)
{
	struct conn *c = r->data;
	c->q->ops->first_byte(c->q->data, c);
}

static void on_flushed(struct relay *r, enum relay_dir d)
{
	struct conn *c = r->data;
	if (c->http)
		conn_http_flushed(c);
}

static bool on_pipe_take(struct relay *r)
{
	struct conn *c = r->data;
	return c->q->ops->pipe_take && c->q->ops->pipe_take(c->q->data);
}

static void on_pipe_release(struct relay *r)
{
	struct conn *c = r->data;
	c->q->ops->pipe_release(c->q->data);
}

const struct relay_ops conn_relay_ops = {
    .done = on_relay_done,
    .first_byte = on_first_byte,
    .pipe_take = on_pipe_take,
    .pipe_release = on_pipe_release,
    .filter = conn_http_filter,
    .flushed = on_flushed,
};

/* wake_on = data: c leaves before its first byte; it woke nothing. */
static void peek_close(struct conn *c, const char *why)
{
	struct conn_queue *q = c->q;
	log_debug("%s: connection from %s closed before its first byte (%s): ignored", q->name,
		  c->peer, why);
	q->usage->connections_ignored++;
	conn_unlink(c);
	conn_free(c);
	q->ops->changed(q->data);
}

static void on_pending_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;
	struct conn_queue *q = c->q;
	if (c->where == CONN_READING) { /* wake_on = data: it never spoke */
		peek_close(c, "connection_idle_timeout");
		return;
	}
	conn_refuse(c, "pending_timeout");
	q->ops->changed(q->data);
}

static struct conn *conn_new(struct conn_queue *q, int fd, const char *peer, bool waited)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->q = q;
	c->fd = fd;
	c->arrive_usec = now_usec();
	c->waited = waited;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	ev_init(&c->pending_timer, on_pending_timeout);
	c->pending_timer.data = c;
	q->usage->connections_total++;
	return c;
}

struct conn *conn_queue_add(struct conn_queue *q, int fd, const char *peer, bool waited)
{
	struct conn *c = conn_new(q, fd, peer, waited);
	q->n_plain++;
	conn_link(c, CONN_PENDING);
	return c;
}

struct conn *conn_queue_add_reading(struct conn_queue *q, int fd, const char *peer)
{
	struct conn *c = conn_new(q, fd, peer, false);
	conn_link(c, CONN_READING);
	conn_http_start(c);
	return c;
}

/* wake_on = data: readable. A byte waits (peeked, left for the relay): c
 * asks for a backend; EOF or an error: it never spoke. */
void conn_peek(struct conn *c)
{
	struct ev_loop *loop = c->q->loop;
	char byte;
	ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK);
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		peek_close(c, n == 0 ? "EOF" : strerror(errno));
		return;
	}
	ev_io_stop(loop, &c->peek_io);
	ev_timer_stop(loop, &c->pending_timer);
	c->q->ops->request(c->q->data, c);
}

static void on_peek(struct ev_loop *loop, ev_io *w, int revents)
{
	conn_peek(w->data);
}

struct conn *conn_queue_add_peeking(struct conn_queue *q, int fd, const char *peer)
{
	struct conn *c = conn_new(q, fd, peer, false);
	q->n_plain++;
	conn_link(c, CONN_READING);
	ev_io_init(&c->peek_io, on_peek, fd, EV_READ);
	c->peek_io.data = c;
	ev_io_start(q->loop, &c->peek_io);
	uint64_t ms = q->cfg->connection_idle_timeout_ms;
	if (ms && ms != ZP_INFINITY) {
		ev_timer_set(&c->pending_timer, (double)ms / 1000.0, 0);
		ev_timer_start(q->loop, &c->pending_timer);
	}
	return c;
}

void conn_answer_ignored(struct conn *c, unsigned status)
{
	log_debug("%s: request from %s matches idle_ignore: answered %u, nothing started",
		  c->q->name, c->peer, status);
	conn_unlink(c);
	conn_end(c, conn_http_answer_empty(c, status));
}

void conn_loading_page(struct conn *c)
{
	struct conn_queue *q = c->q;
	log_info("%s: request from %s waited %.1f s for the cold start: loading page sent", q->name,
		 c->peer, (double)(now_usec() - c->arrive_usec) / 1e6);
	conn_unlink(c);
	ev_timer_stop(q->loop, &c->pending_timer);
	conn_end(c, conn_http_answer_loading(c));
	q->ops->changed(q->data);
}

void conn_queue_pend(struct conn *c, bool waited)
{
	conn_unlink(c);
	c->routed = true;
	c->waited = waited;
	c->arrive_usec = now_usec(); /* the request woke the service, not the connect */
	conn_link(c, CONN_PENDING);
	if (c->http)
		conn_http_pended(c);
}

void conn_queue_move(struct conn *c, struct conn_queue *to)
{
	struct conn_queue *q = c->q;
	unsigned counted = c->http->counted;
	conn_unlink(c);
	if (!c->routed && q->usage->connections_total)
		q->usage->connections_total--;
	c->routed = false;
	q->n_requests -= counted;
	c->q = to;
	to->usage->connections_total++;
	to->n_requests += counted;
	conn_http_moved(c, q->usage);
	conn_link(c, CONN_READING);
}

bool conn_head_too_large(struct conn *c)
{
	struct conn_queue *q = c->q;
	if (!c->front) /* not on a routed address (a tcp connection has no head) */
		return false;
	size_t len = conn_request_head_len(c);
	if (len <= q->cfg->max_header_size)
		return false;
	log_info("%s: request from %s refused with 431: request head of %zu bytes, larger than "
		 "max_header_size",
		 q->name, c->peer, len);
	q->usage->connections_refused++;
	conn_unlink(c);
	ev_timer_stop(q->loop, &c->pending_timer);
	conn_end(c, conn_http_answer(c, 431, 0, http_reason(431)));
	return true;
}

void conn_answer_close(struct conn *c, unsigned status, const char *body)
{
	struct conn_queue *q = c->q;
	conn_unlink(c);
	ev_timer_stop(q->loop, &c->pending_timer);
	if (!c->routed && q->usage->connections_total)
		q->usage->connections_total--;
	c->http->settled = true; /* no service's request */
	conn_end(c, conn_http_answer(c, status, 0, body));
}

void conn_detach(struct conn *c)
{
	conn_unlink(c);
	relay_detach(c->relay);
	conn_http_detached(c);
	conn_link(c, CONN_READING);
}

unsigned conn_queue_close_idle(struct conn_queue *q)
{
	unsigned closed = 0;
	struct conn *lists[] = {q->reading, q->active};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(lists); i++)
		for (struct conn *c = lists[i], *next; c; c = next) {
			next = c->next;
			if (!c->http || !http_track_between(&c->http->t))
				continue;
			if (conn_http_idle(c)) {
				conn_unlink(c);
				conn_free(c);
				closed++;
			} else {
				/* Its last response is still being written: it
				 * closes once that is out. */
				relay_end_input(c->relay, RELAY_UP);
			}
		}
	return closed;
}

void conn_wait(struct conn *c)
{
	uint64_t ms = c->q->cfg->pending_timeout_ms;
	if (ms == ZP_INFINITY || ev_is_active(&c->pending_timer))
		return;
	ev_timer_set(&c->pending_timer, (double)ms / 1000.0, 0);
	ev_timer_start(c->q->loop, &c->pending_timer);
}

/* Errors of a connect() to the backend that say "not now" rather than "no":
 * out of fds or buffers, or (unix sockets) the backend's queue is full. */
static bool connect_error_transient(int err)
{
	return errno_out_of_resources(-err) || err == -EAGAIN;
}

/* Relay c to the target, over probe_fd when given. */
static int conn_connect(struct conn *c, int probe_fd)
{
	struct conn_queue *q = c->q;
	bool in_progress = false;
	int fd = probe_fd;
	if (fd < 0)
		fd = addr_connect(q->target, &in_progress);
	if (connect_error_transient(fd))
		return fd; /* c stays pending, nothing lost */
	if (fd < 0) {
		char why[256];
		snprintf(why, sizeof(why), "connect to backend %s: %s", q->target->text,
			 strerror(-fd));
		conn_refuse(c, why);
		return fd;
	}
	ev_timer_stop(q->loop, &c->pending_timer);
	if (c->http)
		conn_http_served(c);
	conn_unlink(c);
	conn_link(c, CONN_ACTIVE);
	c->gen = q->gen;
	if (c->relay) { /* http: relayed since the accept, waiting for its backend */
		relay_attach(c->relay, fd, in_progress);
		return 0;
	}
	conn_relay_start(c, fd, in_progress);
	return 0;
}

void conn_relay_start(struct conn *c, int backend_fd, bool in_progress)
{
	struct conn_queue *q = c->q;
	/* The relay buffers are not zeroed: their pages are touched only when
	 * bytes flow, so idle connections cost little memory. */
	c->relay = xmalloc(sizeof(*c->relay));
	c->relay->count[RELAY_UP] = &q->usage->bytes_in;
	c->relay->count[RELAY_DOWN] = &q->usage->bytes_out;
	int client = c->fd;
	c->fd = -1;
	relay_start(c->relay, q->loop, client, backend_fd, in_progress,
		    q->cfg->connection_idle_timeout_ms, &conn_relay_ops, c);
}

void conn_queue_open(struct conn_queue *q, const struct addr *target, unsigned gen)
{
	q->open = true;
	q->target = target;
	q->gen = gen;
}

void conn_queue_hold(struct conn_queue *q)
{
	q->open = false;
	ev_timer_stop(q->loop, &q->fd_retry_timer);
}

void conn_queue_dispatch(struct conn_queue *q, int probe_fd)
{
	while (q->pending_head && q->open) {
		struct conn *c = q->pending_head;
		int r = conn_connect(c, probe_fd);
		probe_fd = -1;
		if (connect_error_transient(r)) {
			if (!ev_is_active(&q->fd_retry_timer)) {
				log_warning(
				    "%s: connect to backend %s: %s; %u connection%s waiting",
				    q->name, q->target->text, strerror(-r), q->n_pending,
				    q->n_pending == 1 ? "" : "s");
				ev_timer_set(&q->fd_retry_timer, FD_RETRY_SECONDS, 0);
				ev_timer_start(q->loop, &q->fd_retry_timer);
			}
			for (struct conn *w = q->pending_head; w; w = w->next)
				conn_wait(w);
			break;
		}
	}
	if (probe_fd >= 0)
		close(probe_fd);
}

static void on_fd_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn_queue *q = w->data;
	conn_queue_dispatch(q, -1);
	q->ops->changed(q->data);
}

void conn_queue_free(struct conn_queue *q)
{
	struct conn **lists[] = {&q->pending_head, &q->active, &q->reading, &q->closing};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(lists); i++)
		while (*lists[i]) {
			struct conn *c = *lists[i];
			conn_unlink(c);
			conn_free(c);
		}
	ev_timer_stop(q->loop, &q->fd_retry_timer);
}
