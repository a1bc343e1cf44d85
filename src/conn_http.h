/*
 * conn_http — the HTTP side of a client connection (protocol = http), for
 * conn.c only: the tracker that filters the relay's two directions, the
 * requests it counts, and zeroproxy's own answers (400, 431, 502, 503)
 * with the lingering close after them. See conn.h for the picture.
 */
#ifndef ZP_CONN_HTTP_H
#define ZP_CONN_HTTP_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "conn.h"
#include "http.h"

/* Bytes of zeroproxy's own answer at most. */
#define CONN_HTTP_ANSWER_MAX 512

struct conn_http {
	struct http_track t;
	unsigned counted; /* of t's requests in flight, those in q->n_requests */
	bool head;        /* the first head is complete: tell the owner */
	bool changed;     /* q->n_requests went to or from 0: tell the owner */
	bool answered;    /* response bytes came from the backend */
	bool settled;     /* our own answer ended its requests */
	bool resume;      /* a response completed: the request side may go on */
	bool switching;   /* host routing: the held head is for another service */
	ev_timer kick;    /* fed: head / changed told from the loop, not a relay callback */
	char answer[CONN_HTTP_ANSWER_MAX]; /* our own answer, while closing */
	size_t answer_len, answer_off;
	int fd;          /* the client, while closing */
	ev_io io;        /* closing: writable until the answer is out, then readable */
	ev_timer linger; /* closing: at most this long */
	/* idle_ignore, loading_page, connections_ignored */
	bool spoke;         /* a byte came from the client */
	bool ignored;       /* the latest head matched idle_ignore */
	uint32_t ign_bits;  /* the requests in flight with a complete head, oldest
			     * first (bit 0): which of them matched idle_ignore */
	unsigned ign_heads; /* how many requests ign_bits describes */
	unsigned ign_live;  /* of them, matched: not in q->n_requests */
	char *page;         /* the unsent rest of a long answer of ours, or NULL */
	ev_timer loading;   /* pending: loading_page_after for a navigation */
};

/* Start c (reading, fd taken): tracker, and a relay without a backend. */
void conn_http_start(struct conn *c);

/* Stop c's watchers; its requests in flight leave q->n_requests (and the
 * meter counts them unanswered). */
void conn_http_free(struct conn *c);

/* Whether c is between requests and has nothing unwritten to its client. */
bool conn_http_idle(const struct conn *c);

/* The relay filter (relay_ops.filter). */
int conn_http_filter(struct relay *r, enum relay_dir d);

/* c's relay ended with err (c unlinked): log it, and answer when zeroproxy
 * has something to say (a bad head, the backend's garbage). true: c is
 * closing (conn.c links it there), false: free it. */
bool conn_http_relay_done(struct conn *c, int err);

/* Answer c (unlinked) with status, Retry-After retry_after when > 0, and a
 * one-line body, then close it lingering. true: closing, false: free it. */
bool conn_http_answer(struct conn *c, unsigned status, unsigned retry_after, const char *body);

/* Answer c (unlinked) with status and an empty body (idle_ignore), then
 * close it lingering. true: closing, false: free it. */
bool conn_http_answer_empty(struct conn *c, unsigned status);

/* Answer c (unlinked) with the loading page: 503, Retry-After: 1,
 * Refresh: 1, the built-in page or loading_page's file. As above. */
bool conn_http_answer_loading(struct conn *c);

/* conn.c: c went pending (its loading_page_after runs when it is a
 * navigation that felt a cold start), or leaves pending for its backend. */
void conn_http_pended(struct conn *c);
void conn_http_served(struct conn *c);

/* conn.c: answer pending c with the loading page (unlinked, then closing
 * or freed); the owner hears of the change. */
void conn_loading_page(struct conn *c);

/* Host routing: c's relay was detached from its backend (conn_detach()):
 * its held request head may go to the next one. */
void conn_http_detached(struct conn *c);

/* Host routing: c moved to another queue (conn_queue_move()) from the one
 * whose meter is from: its bytes are counted there from now on, and what
 * depends on the service's configuration (max_header_size, idle_ignore of
 * the head that moved it) is seen with the new one's. */
void conn_http_moved(struct conn *c, struct usage *from);

/* The relay wrote out what it held for the client. */
void conn_http_flushed(struct conn *c);

/* conn.c: the relay callbacks of every connection. */
extern const struct relay_ops conn_relay_ops;

/* conn.c: start c's relay on its client fd (taken) and backend_fd (-1: none
 * yet). */
void conn_relay_start(struct conn *c, int backend_fd, bool in_progress);

/* conn.c: a closing connection is done. */
void conn_closing_done(struct conn *c);

#endif
