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
 * feeds the rest. Body bytes may be forwarded as they are consumed: of the
 * bytes a call consumed, the last t->head_len belong to a head not yet
 * complete (hold them), the others to a body (one call may end a body and
 * begin the next head). On HTTP_ERROR none of that call's bytes may be
 * forwarded (a bad chunk size comes after the head was forwarded: the
 * caller closes both sides, the backend sees a request cut short). A head
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
 * HEAD requests and 204/304 responses have no body. A 101 answer (to an
 * Upgrade), or a 2xx answer to CONNECT, turns the connection into a tunnel
 * (ops->tunnel, right after the request_done of that 101 / 2xx): from then
 * on bytes pass untracked (both sides consume everything), and the tunnel
 * counts as one request in flight until the connection closes. A
 * close-delimited response ends at http_track_response_eof(). The callbacks
 * must not feed the response side again nor free the tracker (feeding the
 * request side from them is fine).
 *
 * A request is in flight from its first byte until its response is
 * complete: http_track_in_flight() counts them (a partial head included).
 */
#ifndef ZP_HTTP_H
#define ZP_HTTP_H

/* http-parser names its HEAD method HTTP_HEAD, like our event below: it is
 * HTTP_METHOD_HEAD here. Include http_parser.h only through this header. */
#define HTTP_HEAD HTTP_METHOD_HEAD
#include <http_parser.h>
#undef HTTP_HEAD
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
#define HTTP_UA_MAX   256
/* The largest max_header_size a config may give. */
#define HTTP_HEADER_SIZE_LIMIT (1024 * 1024)

enum http_event {
	HTTP_MORE,  /* every byte consumed; no head completed */
	HTTP_HEAD,  /* a request head is complete; *used ends right after it */
	HTTP_FULL,  /* HTTP_PIPELINE_MAX in flight, or an Upgrade / CONNECT request
		     * waits for its answer: *used consumed (body bytes, see head_len),
		     * feed the rest again after a request_done */
	HTTP_ERROR, /* refuse: t->error_status (400 or 431), t->error (why, for the log) */
};

/* The current request's head, valid from HTTP_HEAD until the next head. */
struct http_request {
	char method[16];          /* "GET", as sent */
	char host[HTTP_HOST_MAX]; /* lowercase, port removed; "" when none (HTTP/1.0) */
	char path[HTTP_PATH_MAX]; /* the target's path (absolute-form: its path part), cut */
	char user_agent[HTTP_UA_MAX];
	bool accept_html;    /* Accept includes text/html */
	bool upgrade;        /* asks for Upgrade (or is CONNECT) */
	bool keep_alive;     /* the connection may carry another request after this */
	unsigned http_minor; /* 0 or 1 */
};

struct http_track_ops {
	/* A response completed the oldest request in flight: its status code
	 * and the started_usec given with the request's first byte. */
	void (*request_done)(void *data, unsigned status, uint64_t started_usec);
	/* The connection became a tunnel (101, or 2xx to CONNECT). */
	void (*tunnel)(void *data);
};

/* One request in flight (private to http.c). */
struct http_inflight {
	uint64_t started_usec; /* the caller's clock at its first byte */
	uint8_t kind;          /* plain, HEAD, CONNECT or Upgrade (http.c) */
	bool head_done;        /* its head is complete: it may be answered */
};

struct http_track {
	/* private to http.c */
	http_parser req_parser, resp_parser;
	const struct http_track_ops *ops;
	void *data;
	size_t max_header_size;
	uint64_t now_usec;                            /* of the current request call */
	struct http_inflight fifo[HTTP_PIPELINE_MAX]; /* oldest at fifo_first */
	unsigned fifo_first, fifo_count;
	uint8_t phase;     /* request stream: head, Content-Length body, chunked body */
	uint8_t scan;      /* raw-byte checker's state (head or chunked framing) */
	bool req_open;     /* a request's first byte came, its last not yet */
	bool cur_answered; /* ... and it was answered already (early response) */
	bool await_answer; /* an Upgrade or CONNECT request waits for its answer */
	bool head_complete, msg_complete; /* set by the parser's callbacks */
	bool head_reported;               /* the last call returned HTTP_HEAD */
	bool failed;                      /* HTTP_ERROR given: sticky */
	size_t head_size;      /* bytes of the current head (or trailer section) so far */
	uint64_t chunk_left;   /* chunked body: data bytes left in this chunk */
	unsigned chunk_digits; /* ... hex digits of the size so far */
	unsigned chunk_line;   /* ... bytes of the size line so far */
	/* the header being read */
	uint8_t hdr;   /* which one matters (http.c) */
	bool in_value; /* its value is being read */
	bool name_cut, value_cut;
	unsigned name_len, value_len;
	char name[24];
	char value[HTTP_HOST_MAX + 16];
	unsigned host_count, cl_count, te_count;
	bool te_chunked;       /* the last coding so far is chunked */
	bool te_bad;           /* a coding after chunked, or not a token */
	unsigned accept_match; /* bytes of "text/html" matched so far */
	unsigned target_len;
	bool target_cut;
	char target[HTTP_HOST_MAX + HTTP_PATH_MAX + 16];
	struct http_request next; /* the head being read, copied to req when complete */
	/* response side */
	bool resp_open;   /* a response started and is not complete */
	bool resp_tunnel; /* the response being read makes a tunnel */
	bool resp_failed;

	/* public, read-only */
	struct http_request req;
	unsigned error_status; /* with HTTP_ERROR: 400 or 431 */
	const char *error;     /* with HTTP_ERROR (or a -EPROTO response): why, static */
	bool tunnel;           /* see ops->tunnel */
	/* Bytes at the end of what http_track_request() consumed so far that
	 * belong to a request head not yet complete (with HTTP_HEAD: the whole
	 * head just completed, empty lines before it included). The caller holds
	 * these; everything it was given before them is body and may be
	 * forwarded. 0 again from the call after an HTTP_HEAD until a new head
	 * begins. */
	size_t head_len;
};

/* max_header_size: bytes of a request head at most (<= HTTP_HEADER_SIZE_LIMIT;
 * 0 means that limit): from the end of the previous request (empty lines
 * before the request line count) to its blank line included. A chunked
 * body's trailer section has the same bound. */
void http_track_init(struct http_track *t, size_t max_header_size, const struct http_track_ops *ops,
		     void *data);

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
