/*
 * conn — the client connections of one service: a FIFO of those that wait
 * for a backend (pending) and a list of those relayed to one (active), with
 * the hand-over from the first to the second.
 *
 * The queue hands connections over only while its owner has opened it to a
 * running instance (conn_queue_open(); conn_queue_hold() closes it again).
 * It decides no service policy: limits, back-off and when to start or stop
 * an instance are the owner's, and the queue reaches its owner only through
 * conn_queue_ops (as an instance reaches its service through instance_ops).
 *
 * protocol = http (conn_http.c): a connection is first read (reading) until
 * its first request head is complete and valid; only then does it ask for a
 * backend (ops->request) and wait like any other. Its relay starts at the
 * accept, without a backend, and an HTTP tracker filters both directions:
 * requests in flight are counted (q->n_requests), completed ones reach the
 * meter, bad heads get 400/431, refusals 503, a backend's garbage 502.
 * zeroproxy's own answers are written, then the connection lingers a moment
 * (reading and dropping what the client still sends) so that a close does
 * not reset the answer away (closing).
 */
#ifndef ZP_CONN_H
#define ZP_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "address.h"
#include "config.h"
#include "relay.h"
#include "usage.h"

struct conn_queue;
struct conn_http;

/* Which of q's lists a connection is on. */
enum conn_where {
	CONN_READING, /* http: its first request head is being read */
	CONN_PENDING, /* waiting for a backend */
	CONN_ACTIVE,  /* relayed to one */
	CONN_CLOSING, /* http: zeroproxy's own answer is sent, then it closes */
};

/* One client connection. */
struct conn {
	struct conn_queue *q;
	struct conn *prev, *next; /* on the list where says */
	int fd;                   /* the client, while pending without a relay */
	enum conn_where where;
	bool waited;            /* arrived while no instance was running: felt a cold start */
	uint64_t arrive_usec;   /* monotonic, at accept (http: at its first request head) */
	unsigned gen;           /* the instance generation it was relayed to */
	ev_timer pending_timer; /* pending_timeout */
	char peer[64];
	struct relay *relay;    /* once relayed (http: from the accept) */
	struct conn_http *http; /* protocol = http, else NULL */
	ev_io peek_io;          /* wake_on = data (tcp, reading): waits for the first byte */
	unsigned front;         /* host routing: the route table of its listener, 0: none */
	bool routed;            /* http: a request of it went to its queue's owner */
};

/* What the queue tells its owner (data is the owner's). */
struct conn_queue_ops {
	/* A connection closes: its two fds are about to be free. */
	void (*conn_closed)(void *data);
	/* The queue changed on its own (a relay ended, a pending_timeout, a
	 * retry after running out of fds): the owner looks whether it is idle. */
	void (*changed)(void *data);
	/* The backend's first byte to c (once per connection). */
	void (*first_byte)(void *data, const struct conn *c);
	/* Optional: a relay asks for a pipe (two fds) to splice a bulk
	 * direction; true: granted and counted until pipe_release(). */
	bool (*pipe_take)(void *data);
	void (*pipe_release)(void *data);
	/* http: c's first request head is complete and valid (c is reading);
	 * wake_on = data (tcp): c's first byte came. The owner refuses it,
	 * answers it (conn_answer_ignored()) or makes it wait
	 * (conn_queue_pend()). */
	void (*request)(void *data, struct conn *c);
	/* http: seconds a refused client should wait (Retry-After). */
	unsigned (*retry_after)(void *data);
	/* http, host routing (c->front): whether c's request head, complete
	 * on an active connection, is the owner's still. false: once the
	 * responses before it are out, c goes back to reading (its backend
	 * closed, the head held) and ops->request routes it again. Optional;
	 * must not close or free anything. */
	bool (*stays)(void *data, const struct conn *c);
};

struct conn_queue {
	uint32_t n_pending, n_active;             /* first: see struct service */
	uint32_t n_reading, n_closing;            /* http: see enum conn_where */
	uint32_t n_requests;                      /* http: requests in flight, tunnels included */
	uint32_t n_plain;                         /* connections without http (tcp) */
	struct conn *pending_head, *pending_tail; /* FIFO of waiting connections */
	struct conn *active;                      /* relayed connections */
	struct conn *reading, *closing;           /* http: see enum conn_where */
	bool open;                                /* hand over to target (else hold) */
	const struct addr *target; /* where the instance accepts (the last one opened to) */
	unsigned gen;              /* the instance generation of target */
	ev_timer fd_retry_timer;   /* out of fds: retry the waiting connections */

	const char *name; /* the owner's, for logs */
	struct ev_loop *loop;
	const struct service_config *cfg; /* pending_timeout, connection_idle_timeout;
					   * the owner keeps it current */
	struct usage *usage;              /* connections and bytes are counted here */
	const struct conn_queue_ops *ops;
	void *data;
};

void conn_queue_init(struct conn_queue *q, struct ev_loop *loop, const char *name,
		     const struct service_config *cfg, struct usage *usage,
		     const struct conn_queue_ops *ops, void *data);

/* Queue a new client connection (fd taken) at the end of the FIFO and count
 * it. waited: no instance was running when it came. */
struct conn *conn_queue_add(struct conn_queue *q, int fd, const char *peer, bool waited);

/* http: take a new client connection (fd taken) and count it; it is read
 * until its first request head is complete (ops->request), or closed when the
 * client leaves first. */
struct conn *conn_queue_add_reading(struct conn_queue *q, int fd, const char *peer);

/* wake_on = data (tcp): take a new client connection (fd taken) and count
 * it; it waits on the reading list for its first byte (then ops->request,
 * as an http head does), or is closed when the client leaves first (or
 * after connection_idle_timeout), counted in connections_ignored. */
struct conn *conn_queue_add_peeking(struct conn_queue *q, int fd, const char *peer);

/* wake_on = data: look for c's first byte now (it often came with the
 * accept): ops->request, a close, or nothing yet. c may be gone after. */
void conn_peek(struct conn *c);

/* http: whether c's latest request head matched idle_ignore. */
bool conn_ignored(const struct conn *c);

/* http: answer c (reading, its first head matched idle_ignore) with status
 * and an empty body, then close it: nothing is started. */
void conn_answer_ignored(struct conn *c, unsigned status);

/* http: a reading connection waits for a backend, at the end of the FIFO.
 * waited: no instance was running when its request came. */
void conn_queue_pend(struct conn *c, bool waited);

/* http, host routing: c (reading) moves to queue to, with its requests in
 * flight and its byte counts; it counts as a connection of to's, no more of
 * its old queue's. */
void conn_queue_move(struct conn *c, struct conn_queue *to);

/* http: answer c (reading or pending) with status and a one-line body, then
 * close it. Counted neither as a refusal nor as a request (host routing's
 * 404: no service took it), nor as a connection of its queue. */
void conn_answer_close(struct conn *c, unsigned status, const char *body);

/* http, host routing: the head was read with the largest max_header_size of
 * the address's services; if it is larger than its own service's, c is
 * answered 431, counted refused, and closed: true. */
bool conn_head_too_large(struct conn *c);

/* http, host routing: an active connection whose next request is for
 * another service (see ops->stays): its backend closes, it is reading again
 * with its request head complete and held. */
void conn_detach(struct conn *c);

/* http, host routing: the largest request head c (reading, nothing read
 * yet) may send before its service is known. */
void conn_http_limit(struct conn *c, size_t max_header_size);

/* http: the bytes of c's request head just completed. */
size_t conn_request_head_len(const struct conn *c);

/* http: the Host of c's current request head (lowercase, no port; "" for
 * none). */
const char *conn_request_host(const struct conn *c);

/* http: the idle stop. Close the connections between requests (keep-alive
 * ones that wait for a next request, and reading ones that sent nothing);
 * one whose last response is not all written yet reads no more and closes
 * once it is. Returns how many were closed. */
unsigned conn_queue_close_idle(struct conn_queue *q);

/* c waits: its pending_timeout runs (once; never with infinity). */
void conn_wait(struct conn *c);

/* Close a connection that never reached a backend, logged with why, and
 * counted as refused (http: after a 503 with Retry-After). */
void conn_refuse(struct conn *c, const char *why);

/* Refuse every pending connection. */
void conn_queue_refuse_pending(struct conn_queue *q, const char *why);

/* Refuse the connections that still wait for instance generation gen:
 * pending ones, and relayed ones its backend never answered (ready = socket:
 * they sit in the queue of a backend socket whose instance is gone). */
void conn_queue_refuse_waiting(struct conn_queue *q, unsigned gen, const char *why);

/* Whether relayed connections of generation gen have had no byte from the
 * backend yet. */
bool conn_queue_unanswered(const struct conn_queue *q, unsigned gen);

/* Hand waiting connections over to the instance of generation gen that
 * accepts at target (kept by the caller), from now on until
 * conn_queue_hold(). */
void conn_queue_open(struct conn_queue *q, const struct addr *target, unsigned gen);
void conn_queue_hold(struct conn_queue *q);

/* Relay waiting connections, oldest first, while the queue is open; the
 * first over probe_fd (a connection to the backend, taken; -1: none). On a
 * transient error (out of fds, the backend's queue full) they keep waiting,
 * and a retry follows when a connection ends or from a short timer. */
void conn_queue_dispatch(struct conn_queue *q, int probe_fd);

/* Close every connection and stop the queue's timers. */
void conn_queue_free(struct conn_queue *q);

#endif
