/*
 * http — what zeroproxy sees of HTTP/1.0 and 1.1 on one client connection,
 * with nodejs/http-parser (libhttp-parser-dev) doing the parsing.
 *
 * Pure: no fds, no loop, no clock of its own (times are passed in). One
 * struct http_track per client connection watches both byte streams: the
 * requests the client sends and the responses the backend sends back. It
 * never stores a message whole: bytes are fed as they arrive, in pieces of
 * any size, and only what routing and logging need of a head (bounded
 * copies of Host, the target's path, User-Agent, whether Accept has
 * text/html) is kept.
 *
 * Request side. http_track_request() consumes client bytes and stops right
 * after each complete request head (HTTP_HEAD): the caller holds the head's
 * bytes until then (a head is forwarded whole or not at all, so a refused
 * one never reaches the backend), decides (start the backend, route), then
 * feeds the rest. Body bytes may be forwarded as they are consumed. A head
 * that is malformed, ambiguous about where the request ends (request
 * smuggling: CL with TE, differing CLs, TE not ending in chunked, bad chunk
 * sizes, obs-fold, bare CR / NUL / control bytes in the head, several Host
 * headers, an absolute-form target whose host differs from Host) or larger
 * than max_header_size gives HTTP_ERROR with error_status 400 or 431;
 * nothing of that request may be forwarded, the caller answers it and
 * closes.
 *
 * Response side. http_track_response() consumes backend bytes; each final
 * response (status >= 200, or 101) completes the oldest request in flight
 * (pipelining: responses come in request order), reported through
 * ops->request_done. 1xx other than 101 (100-continue) completes nothing.
 * HEAD requests and 204/304 responses have no body. A 101 answer to an
 * Upgrade, or a 2xx answer to CONNECT, turns the connection into a tunnel
 * (ops->tunnel): from then on bytes pass untracked, and the tunnel counts as
 * one request in flight until the connection closes. A close-delimited
 * response ends at http_track_response_eof().
 *
 * A request is in flight from its first byte until its response is
 * complete: http_track_in_flight() counts them (a partial head included).
 */
#ifndef ZP_HTTP_H
#define ZP_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Requests in flight on one connection at most (pipelining): the request
 * side stops (HTTP_FULL) until a response completes one. */
#define HTTP_PIPELINE_MAX 16
/* Bounded copies kept of the current request head. Longer values are cut
 * (host: refused with 400, a Host name is at most 255 bytes). */
#define HTTP_HOST_MAX 256
#define HTTP_PATH_MAX 512
#define HTTP_UA_MAX 256
/* The largest max_header_size a config may give. */
#define HTTP_HEADER_SIZE_LIMIT (1024 * 1024)

enum http_event {
	HTTP_MORE,  /* every byte consumed; no head completed */
	HTTP_HEAD,  /* a request head is complete; *used ends right after it */
	HTTP_FULL,  /* HTTP_PIPELINE_MAX in flight: feed again after a request_done */
	HTTP_ERROR, /* refuse: t->error_status (400 or 431), t->error (why, for the log) */
};

/* The current request's head, valid from HTTP_HEAD until the next head. */
struct http_request {
	char method[16];           /* "GET", as sent */
	char host[HTTP_HOST_MAX];  /* lowercase, port removed; "" when none (HTTP/1.0) */
	char path[HTTP_PATH_MAX];  /* the target's path (absolute-form: its path part), cut */
	char user_agent[HTTP_UA_MAX];
	bool accept_html;          /* Accept includes text/html */
	bool upgrade;              /* asks for Upgrade (or is CONNECT) */
	bool keep_alive;           /* the connection may carry another request after this */
	unsigned http_minor;       /* 0 or 1 */
};

struct http_track_ops {
	/* A response completed the oldest request in flight: its status code
	 * and the started_usec given with the request's first byte. */
	void (*request_done)(void *data, unsigned status, uint64_t started_usec);
	/* The connection became a tunnel (101, or 2xx to CONNECT). */
	void (*tunnel)(void *data);
};

struct http_track {
	/* private to http.c */
	http_parser req_parser, resp_parser;
	/* ... the in-flight FIFO (method HEAD / CONNECT, started_usec),
	 * head size so far, raw-byte checks state, header being read ... */

	/* public, read-only */
	struct http_request req;
	unsigned error_status; /* with HTTP_ERROR: 400 or 431 */
	const char *error;     /* with HTTP_ERROR (or a -EPROTO response): why, static */
	bool tunnel;           /* see ops->tunnel */
};

/* max_header_size: bytes of a request head at most (<= HTTP_HEADER_SIZE_LIMIT). */
void http_track_init(struct http_track *t, size_t max_header_size,
		     const struct http_track_ops *ops, void *data);

/* Client bytes. Consumes at most len (*used), stopping after a complete
 * head. now_usec: the caller's clock, kept as a new request's start. */
enum http_event http_track_request(struct http_track *t, const char *buf, size_t len,
				   uint64_t now_usec, size_t *used);

/* Backend bytes, all consumed: 0, or -EPROTO when they are not a valid
 * response (or none was asked for); t->error says why. */
int http_track_response(struct http_track *t, const char *buf, size_t len);

/* The backend closed its side: completes a close-delimited response. 0 or
 * -EPROTO (a response cut short). */
int http_track_response_eof(struct http_track *t);

/* Requests in flight (a partially received one and a tunnel included). */
unsigned http_track_in_flight(const struct http_track *t);

/* Whether the connection is between requests: nothing in flight and no
 * partial head or body received (it may be closed at an idle stop). */
bool http_track_between(const struct http_track *t);

/* Nothing to free today; for symmetry and a later parser. */
void http_track_free(struct http_track *t);

/* The one-line reason phrase of a status zeroproxy answers itself (400,
 * 404, 431, 502, 503). */
const char *http_reason(unsigned status);

/* zeroproxy's own answer: "HTTP/1.1 STATUS REASON", Content-Type text/plain,
 * Content-Length, Connection: close, Retry-After when retry_after > 0, and a
 * one-line body. Returns its length, or -ENOSPC when it would not fit len. */
int http_format_answer(char *out, size_t len, unsigned status, unsigned retry_after,
		       const char *body_line);

#endif
