/*
 * conn — the connection queue of a service; see conn.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
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

static void conn_unlink(struct conn *c)
{
	struct conn_queue *q = c->q;
	if (c->pending) {
		if (c->prev)
			c->prev->next = c->next;
		else
			q->pending_head = c->next;
		if (c->next)
			c->next->prev = c->prev;
		else
			q->pending_tail = c->prev;
		q->n_pending--;
	} else {
		if (c->prev)
			c->prev->next = c->next;
		else
			q->active = c->next;
		if (c->next)
			c->next->prev = c->prev;
		q->n_active--;
	}
	c->prev = c->next = NULL;
}

static void conn_free(struct conn *c)
{
	c->q->ops->conn_closed(c->q->data);
	ev_timer_stop(c->q->loop, &c->pending_timer);
	if (c->relay) {
		relay_close(c->relay);
		free(c->relay);
	} else if (c->fd >= 0) {
		close(c->fd);
	}
	free(c);
}

void conn_refuse(struct conn *c, const char *why)
{
	struct conn_queue *q = c->q;
	log_event(LOG_INFO, q->name, LOG_EV_REFUSED, NULL, "%s: connection from %s refused: %s",
		  q->name, c->peer, why);
	q->usage->connections_refused++;
	conn_unlink(c);
	conn_free(c);
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
	if (r->connecting && r->err_side == RELAY_BACKEND) {
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
		else if (err < 0)
			log_debug("%s: connection from %s ended: %s", q->name, c->peer,
				  strerror(-err));
		conn_unlink(c);
		conn_free(c);
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

static const struct relay_ops conn_relay_ops = {
    .done = on_relay_done,
    .first_byte = on_first_byte,
    .pipe_take = on_pipe_take,
    .pipe_release = on_pipe_release,
};

static void on_pending_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;
	struct conn_queue *q = c->q;
	conn_refuse(c, "pending_timeout");
	q->ops->changed(q->data);
}

struct conn *conn_queue_add(struct conn_queue *q, int fd, const char *peer, bool waited)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->q = q;
	c->fd = fd;
	c->pending = true;
	c->arrive_usec = now_usec();
	c->waited = waited;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	ev_init(&c->pending_timer, on_pending_timeout);
	c->pending_timer.data = c;
	q->usage->connections_total++;

	if (q->pending_tail)
		q->pending_tail->next = c;
	c->prev = q->pending_tail;
	q->pending_tail = c;
	if (!q->pending_head)
		q->pending_head = c;
	q->n_pending++;
	return c;
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
	conn_unlink(c);
	c->pending = false;
	c->next = q->active;
	if (q->active)
		q->active->prev = c;
	q->active = c;
	q->n_active++;
	/* The relay buffers are not zeroed: their pages are touched only when
	 * bytes flow, so idle connections cost little memory. */
	c->relay = xmalloc(sizeof(*c->relay));
	c->relay->count[RELAY_UP] = &q->usage->bytes_in;
	c->relay->count[RELAY_DOWN] = &q->usage->bytes_out;
	int client = c->fd;
	c->fd = -1;
	c->gen = q->gen;
	relay_start(c->relay, q->loop, client, fd, in_progress, q->cfg->connection_idle_timeout_ms,
		    &conn_relay_ops, c);
	return 0;
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
	while (q->pending_head) {
		struct conn *c = q->pending_head;
		conn_unlink(c);
		conn_free(c);
	}
	while (q->active) {
		struct conn *c = q->active;
		conn_unlink(c);
		conn_free(c);
	}
	ev_timer_stop(q->loop, &q->fd_retry_timer);
}
