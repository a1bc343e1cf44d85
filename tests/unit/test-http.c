/*
 * test-http — the HTTP tracker (src/http.c) on its own.
 *
 * Each case is a script of steps (client bytes, backend bytes, backend EOF),
 * played by a stand-in for the daemon: it holds the bytes a call left
 * unconsumed (HTTP_FULL) and feeds them again after each response step,
 * forwards body bytes and holds head bytes as head_len says. Every case is
 * played whole, then with one step split at every byte boundary (every
 * step, every boundary), then byte by byte, and must give the same heads,
 * the same request_done calls (status, started_usec), the same in-flight /
 * between states after each step and the same end.
 *
 * The smuggling corpus (http-corpus.h) is played the same ways: each must
 * end in HTTP_ERROR 400 with no head reported (or, for bad chunked framing,
 * with nothing forwarded from the offending byte on).
 *
 * `test-http --write-corpus DIR` writes the corpus and the good streams as
 * seed files for the fuzz target (tests/fuzz/corpus-http/).
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http-corpus.h"
#include "http.h"
#include "tap.h"

#define MAXEV              64
#define ZP_ARRAY_SIZE_T(a) (sizeof(a) / sizeof((a)[0]))

enum step_kind { REQ, RESP, EOF_ };

struct step {
	enum step_kind kind;
	const char *data;
	size_t len;
	int in_flight; /* after the step (and the pump that follows it) */
	int between;   /* -1: not checked */
};

struct head_want {
	const char *method, *host, *path, *ua;
	int accept_html, keep_alive, upgrade;
};

struct done_want {
	unsigned status;
	uint64_t started;
};

struct tcase {
	const char *name;
	size_t max_header_size;
	struct step steps[24];
	struct head_want heads[12];
	struct done_want dones[12];
	bool tunnel;
	unsigned error_status; /* 0: none expected */
	int resp_err;          /* -EPROTO expected from a response step or EOF */
};

#define ST(k, s, f, b)                                                                             \
	{                                                                                          \
		k, s, sizeof(s) - 1, f, b                                                          \
	}

/* What one play recorded. */
struct play {
	struct http_track t;
	char req[8192]; /* the client bytes given so far, and the unconsumed tail */
	size_t req_total, req_consumed;
	size_t held;      /* consumed bytes held (a head not yet complete) */
	size_t forwarded; /* client bytes forwarded */
	uint64_t now;
	unsigned nheads, ndones, ntunnel;
	struct http_request heads[MAXEV];
	struct done_want dones[MAXEV];
	enum http_event last;
	bool error;
	int resp_err;
	char why[512];
};

static void on_done(void *data, unsigned status, uint64_t started)
{
	struct play *p = data;
	if (p->ndones < MAXEV)
		p->dones[p->ndones] = (struct done_want){status, started};
	p->ndones++;
}

static void on_tunnel(void *data)
{
	struct play *p = data;
	p->ntunnel++;
}

static const struct http_track_ops ops = {on_done, on_tunnel};

static __attribute__((format(printf, 2, 3))) void fail(struct play *p, const char *fmt, ...)
{
	va_list ap;
	if (p->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
}

/* Feeds what the client sent and the tracker has not taken yet. */
static void pump(struct play *p)
{
	while (!p->error && p->req_consumed < p->req_total) {
		size_t used = 9999999;
		const char *b = p->req + p->req_consumed;
		enum http_event ev =
		    http_track_request(&p->t, b, p->req_total - p->req_consumed, p->now, &used);
		p->last = ev;
		if (ev == HTTP_ERROR) {
			p->error = true;
			return;
		}
		if (used > p->req_total - p->req_consumed) {
			fail(p, "used %lld beyond %lld", (long long)used,
			     (long long)(p->req_total - p->req_consumed));
			p->error = true;
			return;
		}
		p->req_consumed += used;
		if (ev == HTTP_HEAD) {
			/* the head is the last head_len bytes: it starts (after
			 * empty lines) with its method and ends with LF */
			size_t start = p->req_consumed - p->t.head_len;
			if (p->t.head_len > p->held + used)
				fail(p, "head_len %lld > held+used %lld", (long long)p->t.head_len,
				     (long long)(p->held + used));
			while (start < p->req_consumed &&
			       (p->req[start] == '\r' || p->req[start] == '\n'))
				start++;
			if (strncmp(p->req + start, p->t.req.method, strlen(p->t.req.method)) ||
			    p->req[p->req_consumed - 1] != '\n')
				fail(p, "head bytes at %lld..%lld are not a head", (long long)start,
				     (long long)p->req_consumed);
			if (p->nheads < MAXEV)
				p->heads[p->nheads] = p->t.req;
			p->nheads++;
			p->forwarded += p->held + used;
			p->held = 0;
		} else {
			if (p->t.head_len > p->held + used)
				fail(p, "head_len %lld > held+used %lld", (long long)p->t.head_len,
				     (long long)(p->held + used));
			p->forwarded += p->held + used - p->t.head_len;
			p->held = p->t.head_len;
			if (ev == HTTP_FULL)
				return;
			if (used == 0) {
				fail(p, "HTTP_MORE with nothing used");
				return;
			}
		}
	}
}

static void give_req(struct play *p, const char *s, size_t len)
{
	if (p->req_total + len > sizeof(p->req)) {
		fail(p, "test stream too long");
		return;
	}
	memcpy(p->req + p->req_total, s, len);
	p->req_total += len;
	pump(p);
}

static void give_resp(struct play *p, const char *s, size_t len)
{
	int r = http_track_response(&p->t, s, len);
	if (r < 0)
		p->resp_err = r;
	pump(p);
}

/* Plays c: step `split` (or every step when split_all) cut at `at` (0: not
 * cut), or byte by byte when bytewise. Returns NULL or why it failed. */
static const char *play(const struct tcase *c, struct play *p, int split, size_t at, bool bytewise)
{
	unsigned i;
	memset(p, 0, sizeof(*p));
	http_track_init(&p->t, c->max_header_size ? c->max_header_size : 65536, &ops, p);
	for (i = 0; i < ZP_ARRAY_SIZE_T(c->steps) && c->steps[i].data; i++) {
		const struct step *s = &c->steps[i];
		size_t cuts[3] = {0, s->len, s->len}, k, n = 1;
		p->now = 1000 * (i + 1);
		if ((int)i == split && at > 0 && at < s->len) {
			cuts[1] = at;
			n = 2;
		}
		if (s->kind == EOF_) {
			int r = http_track_response_eof(&p->t);
			if (r < 0)
				p->resp_err = r;
			pump(p);
		} else if (bytewise) {
			for (k = 0; k < s->len; k++)
				(s->kind == REQ ? give_req : give_resp)(p, s->data + k, 1);
			if (s->kind == RESP && s->len == 0)
				give_resp(p, "", 0);
		} else {
			for (k = 0; k < n; k++)
				(s->kind == REQ ? give_req : give_resp)(p, s->data + cuts[k],
									cuts[k + 1] - cuts[k]);
		}
		if (p->why[0])
			return p->why;
		if (!c->error_status && p->error) {
			snprintf(p->why, sizeof(p->why), "step %u: HTTP_ERROR %u (%s)", i,
				 p->t.error_status, p->t.error);
			return p->why;
		}
		if (!c->resp_err && p->resp_err) {
			snprintf(p->why, sizeof(p->why), "step %u: response error (%s)", i,
				 p->t.error);
			return p->why;
		}
		if (s->in_flight >= 0 && (int)http_track_in_flight(&p->t) != s->in_flight) {
			snprintf(p->why, sizeof(p->why), "step %u: in flight %u, want %d", i,
				 http_track_in_flight(&p->t), s->in_flight);
			return p->why;
		}
		if (s->between >= 0 && http_track_between(&p->t) != (bool)s->between) {
			snprintf(p->why, sizeof(p->why), "step %u: between %d, want %d", i,
				 http_track_between(&p->t), s->between);
			return p->why;
		}
	}
	for (i = 0; i < ZP_ARRAY_SIZE_T(c->heads) && c->heads[i].method; i++) {
		const struct head_want *w = &c->heads[i];
		const struct http_request *h = &p->heads[i];
		if (i >= p->nheads) {
			snprintf(p->why, sizeof(p->why), "%u heads, want more", p->nheads);
			return p->why;
		}
		if (strcmp(h->method, w->method) || strcmp(h->host, w->host ? w->host : "") ||
		    strcmp(h->path, w->path) || strcmp(h->user_agent, w->ua ? w->ua : "") ||
		    (w->accept_html >= 0 && h->accept_html != (bool)w->accept_html) ||
		    (w->keep_alive >= 0 && h->keep_alive != (bool)w->keep_alive) ||
		    (w->upgrade >= 0 && h->upgrade != (bool)w->upgrade)) {
			snprintf(p->why, sizeof(p->why),
				 "head %u: %s host=%s path=%s ua=%s html=%d ka=%d up=%d", i,
				 h->method, h->host, h->path, h->user_agent, h->accept_html,
				 h->keep_alive, h->upgrade);
			return p->why;
		}
	}
	if (i != p->nheads) {
		snprintf(p->why, sizeof(p->why), "%u heads, want %u", p->nheads, i);
		return p->why;
	}
	for (i = 0; i < ZP_ARRAY_SIZE_T(c->dones) && c->dones[i].status; i++) {
		if (i >= p->ndones || p->dones[i].status != c->dones[i].status ||
		    p->dones[i].started != c->dones[i].started) {
			snprintf(p->why, sizeof(p->why), "done %u: %u started %llu, want %u %llu",
				 i, i < p->ndones ? p->dones[i].status : 0,
				 i < p->ndones ? (unsigned long long)p->dones[i].started : 0ULL,
				 c->dones[i].status, (unsigned long long)c->dones[i].started);
			return p->why;
		}
	}
	if (i != p->ndones) {
		snprintf(p->why, sizeof(p->why), "%u request_done, want %u", p->ndones, i);
		return p->why;
	}
	if (p->t.tunnel != c->tunnel || p->ntunnel != (c->tunnel ? 1u : 0u)) {
		snprintf(p->why, sizeof(p->why), "tunnel %d (%u calls), want %d", p->t.tunnel,
			 p->ntunnel, c->tunnel);
		return p->why;
	}
	if (c->error_status && (!p->error || p->t.error_status != c->error_status)) {
		snprintf(p->why, sizeof(p->why), "error %d status %u, want %u", p->error,
			 p->t.error_status, c->error_status);
		return p->why;
	}
	if (c->resp_err != p->resp_err) {
		snprintf(p->why, sizeof(p->why), "response error %d, want %d", p->resp_err,
			 c->resp_err);
		return p->why;
	}
	if (!c->error_status && !c->tunnel && p->forwarded + p->held != p->req_consumed) {
		snprintf(p->why, sizeof(p->why), "forwarded %zu + held %zu != consumed %zu",
			 p->forwarded, p->held, p->req_consumed);
		return p->why;
	}
	return NULL;
}

/* Whole, split at every boundary of every step, byte by byte. */
static void run_case(const struct tcase *c)
{
	static struct play p;
	const char *why;
	unsigned i, splits = 0;
	bool good = true;
	why = play(c, &p, -1, 0, false);
	ok(!why, "%s: whole", c->name);
	if (why)
		note("%s", why);
	for (i = 0; i < ZP_ARRAY_SIZE_T(c->steps) && c->steps[i].data && good; i++) {
		size_t at;
		for (at = 1; at < c->steps[i].len && good; at++, splits++) {
			why = play(c, &p, (int)i, at, false);
			if (why) {
				note("step %u split at %zu: %s", i, at, why);
				good = false;
			}
		}
	}
	ok(good, "%s: split at each of %u boundaries", c->name, splits);
	why = play(c, &p, -1, 0, true);
	ok(!why, "%s: byte by byte", c->name);
	if (why)
		note("%s", why);
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: a\r\n\r\n"
#define OK_EMPTY  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
#define H(m, h, p)                                                                                 \
	{                                                                                          \
		m, h, p, NULL, -1, -1, -1                                                          \
	}

/* One request on a kept-alive connection, and its answer. */
#define KA(n) ST(REQ, GET("/" n), 1, 0), ST(RESP, OK_EMPTY, 0, 1)

static const struct tcase cases[] = {
    {.name = "10 keep-alive requests",
     .steps = {KA("1"), KA("2"), KA("3"), KA("4"), KA("5"), KA("6"), KA("7"), KA("8"), KA("9"),
	       ST(REQ, GET("/10"), 1, 0),
	       ST(RESP, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend", 0, 1)},
     .heads = {H("GET", "a", "/1"), H("GET", "a", "/2"), H("GET", "a", "/3"), H("GET", "a", "/4"),
	       H("GET", "a", "/5"), H("GET", "a", "/6"), H("GET", "a", "/7"), H("GET", "a", "/8"),
	       H("GET", "a", "/9"), H("GET", "a", "/10")},
     .dones = {{200, 1000},
	       {200, 3000},
	       {200, 5000},
	       {200, 7000},
	       {200, 9000},
	       {200, 11000},
	       {200, 13000},
	       {200, 15000},
	       {200, 17000},
	       {200, 19000}}},
    {.name = "pipelined, answered in order",
     .steps = {ST(REQ, GET("/1") "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel", 2,
		  0),
	       ST(REQ, "lo\r\n" GET("/3"), 3, 0),
	       ST(RESP,
		  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 201 Created\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		  1, 0),
	       ST(RESP, "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx", 0, 1)},
     .heads = {H("GET", "a", "/1"), H("POST", "a", "/2"), H("GET", "a", "/3")},
     .dones = {{200, 1000}, {201, 1000}, {404, 2000}}},
    {.name = "chunked request and chunked response",
     .steps = {ST(REQ,
		  "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
		  "5;ext=1;q=\"a b\"\r\nhello\r\n10 ; x\r\n0123456789abcdef\r\n0\r\n"
		  "X-Trailer: y\r\n\r\n",
		  1, 0),
	       ST(RESP,
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
		  "000\r\n\r\n",
		  0, 1)},
     .heads = {H("POST", "a", "/up")},
     .dones = {{200, 1000}}},
    {.name = "Content-Length bodies both ways",
     .steps = {ST(REQ, "PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello", 1, 0),
	       ST(REQ, " world", 1, 0),
	       ST(RESP, "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndo", 1, 0),
	       ST(RESP, "ne", 0, 1)},
     .heads = {H("PUT", "a", "/f")},
     .dones = {{201, 1000}}},
    {.name = "close-delimited response ends at EOF",
     .steps = {ST(REQ, GET("/"), 1, 0),
	       ST(RESP, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nsome body", 1, 0),
	       ST(RESP, " and more", 1, 0),
	       {EOF_, "", 0, 0, 1}},
     .heads = {H("GET", "a", "/")},
     .dones = {{200, 1000}}},
    {.name = "HEAD response with Content-Length and no body",
     .steps = {ST(REQ, "HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n" GET("/next"), 2, 0),
	       ST(RESP,
		  "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
		  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		  0, 1)},
     .heads = {H("HEAD", "a", "/big"), H("GET", "a", "/next")},
     .dones = {{200, 1000}, {200, 1000}}},
    {.name = "204 and 304 without body",
     .steps = {ST(REQ, GET("/a") GET("/b") GET("/c"), 3, 0),
	       ST(RESP,
		  "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n"
		  "Content-Length: 50\r\nETag: \"x\"\r\n\r\n",
		  1, 0),
	       ST(RESP, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, 1)},
     .heads = {H("GET", "a", "/a"), H("GET", "a", "/b"), H("GET", "a", "/c")},
     .dones = {{204, 1000}, {304, 1000}, {200, 1000}}},
    {.name = "Expect: 100-continue, then 200",
     .steps =
	 {ST(REQ,
	     "POST /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", 1,
	     0),
	  ST(RESP, "HTTP/1.1 100 Continue\r\n\r\n", 1, 0), ST(REQ, "data", 1, 0),
	  ST(RESP, "HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n" OK_EMPTY, 0, 1)},
     .heads = {H("POST", "a", "/u")},
     .dones = {{200, 1000}}},
    {.name = "Upgrade answered by 101 becomes a tunnel",
     .steps =
	 {ST(REQ,
	     "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	     "\x81\x05hello",
	     1, 0),
	  ST(RESP,
	     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	     "\x82\x03"
	     "abc",
	     1, 0),
	  ST(REQ, GET("/not-tracked"), 1, 0), ST(RESP, "HTTP/1.1 200 garbage", 1, 0)},
     .heads = {{"GET", "a", "/chat", NULL, 0, 1, 1}},
     .dones = {{101, 1000}},
     .tunnel = true},
    {.name = "Upgrade refused: HTTP goes on",
     .steps = {ST(REQ,
		  "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: "
		  "Upgrade\r\n\r\n" GET("/after"),
		  1, 0),
	       ST(RESP, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n", 1, 0),
	       ST(RESP, OK_EMPTY, 0, 1)},
     .heads = {H("GET", "a", "/chat"), H("GET", "a", "/after")},
     .dones = {{426, 1000}, {200, 2000}}},
    {.name = "CONNECT answered by 200 becomes a tunnel",
     .steps = {ST(REQ,
		  "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01",
		  1, 0),
	       ST(RESP, "HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x03", 1, 0),
	       ST(REQ, "\x17\x03\x03 more", 1, 0)},
     .heads = {H("CONNECT", "example.com", "")},
     .dones = {{200, 1000}},
     .tunnel = true},
    {.name = "head fields",
     .steps = {ST(
	 REQ,
	 "GET http://Example.COM:8080/p/a?q=1 HTTP/1.1\r\nHost: EXAMPLE.com\r\n"
	 "User-Agent: Mozilla/5.0 (X11)\r\nAccept: application/xhtml+xml, tTEXT/HTML;q=0.9\r\n\r\n"
	 "GET /x?y HTTP/1.0\r\nAccept: text/plain\r\n\r\n"
	 "OPTIONS * HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent:\r\nConnection: close\r\n\r\n"
	 "GET /z#f HTTP/1.0\r\nHost: z:\r\nConnection: keep-alive\r\n\r\n"
	 "GET HTTP://b.example HTTP/1.0\r\n\r\n",
	 5, 0)},
     .heads = {{"GET", "example.com", "/p/a", "Mozilla/5.0 (X11)", 1, 1, 0},
	       {"GET", "", "/x", NULL, 0, 0, 0},
	       {"OPTIONS", "[::1]", "*", NULL, 0, 0, 0},
	       {"GET", "z", "/z", NULL, 0, 1, 0},
	       {"GET", "b.example", "/", NULL, 0, 0, 0}}},
    {.name = "in flight from the first byte; empty lines between requests",
     .steps = {ST(REQ, "\r\n", 0, 1), ST(REQ, "G", 1, 0),
	       ST(REQ, "ET / HTTP/1.1\r\nHost: a\r\n", 1, 0), ST(REQ, "\r\n", 1, 0),
	       ST(RESP, OK_EMPTY, 0, 1), ST(REQ, "\r\n\r\n", 0, 1),
	       ST(REQ, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n", 1, 0),
	       ST(RESP, OK_EMPTY, 1, 0), ST(REQ, "x", 1, 0), ST(REQ, "y", 0, 1)},
     .heads = {H("GET", "a", "/"), H("POST", "a", "/")},
     .dones = {{200, 2000}, {200, 7000}}},
    {.name = "head of exactly max_header_size",
     .max_header_size = 64,
     .steps = {ST(REQ, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 0123456789012345678901234567\r\n\r\n",
		  1, 0)},
     .heads = {H("GET", "a", "/")}},
    {.name = "head of max_header_size + 1",
     .max_header_size = 64,
     .steps = {ST(REQ, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 01234567890123456789012345678\r\n\r\n",
		  -1, -1)},
     .error_status = 431},
    {.name = "a response with nothing in flight",
     .steps = {ST(RESP, OK_EMPTY, 0, 1)},
     .resp_err = -EPROTO},
    {.name = "a garbage response",
     .steps = {ST(REQ, GET("/"), 1, 0), ST(RESP, "HTTP/1.1 2OO OK\r\n\r\n", 1, 0)},
     .heads = {H("GET", "a", "/")},
     .resp_err = -EPROTO},
    {.name = "a response cut short by EOF",
     .steps = {ST(REQ, GET("/"), 1, 0),
	       ST(RESP, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1, 0),
	       {EOF_, "", 0, 1, 0}},
     .heads = {H("GET", "a", "/")},
     .resp_err = -EPROTO},
};

/* 17 pipelined requests: the 17th waits (HTTP_FULL) until one is answered. */
static void test_pipeline_full(void)
{
	static struct play p;
	char buf[64];
	unsigned i;
	memset(&p, 0, sizeof(p));
	http_track_init(&p.t, 65536, &ops, &p);
	p.now = 1;
	for (i = 0; i < HTTP_PIPELINE_MAX + 1; i++) {
		int n = snprintf(buf, sizeof(buf), "GET /%u HTTP/1.1\r\nHost: a\r\n\r\n", i);
		give_req(&p, buf, (size_t)n);
	}
	is_int(p.nheads, HTTP_PIPELINE_MAX, "%d pipelined heads taken", HTTP_PIPELINE_MAX);
	is_int(p.last, HTTP_FULL, "the next one waits: HTTP_FULL");
	is_int(http_track_in_flight(&p.t), HTTP_PIPELINE_MAX, "in flight: %d", HTTP_PIPELINE_MAX);
	p.now = 2;
	give_resp(&p, OK_EMPTY, sizeof(OK_EMPTY) - 1);
	is_int(p.nheads, HTTP_PIPELINE_MAX + 1, "after one answer the 17th is taken");
	is_int(http_track_in_flight(&p.t), HTTP_PIPELINE_MAX, "in flight still %d",
	       HTTP_PIPELINE_MAX);
	is_int((long long)p.dones[0].started, 1, "the first answer's started_usec");
}

/* The smuggling corpus, whole, split everywhere and byte by byte: 400, no
 * head (or nothing forwarded from the offending byte on). */
static void test_corpus(void)
{
	static struct play p;
	unsigned i;
	for (i = 0; i < ZP_ARRAY_SIZE_T(http_corpus); i++) {
		const struct http_corpus_case *cc = &http_corpus[i];
		char data[1024];
		size_t len = cc->good_len + cc->bad_len, at;
		bool good = true;
		int mode;
		memcpy(data, cc->good, cc->good_len);
		memcpy(data + cc->good_len, cc->bad, cc->bad_len);
		/* mode 0: whole; 1: split at `at`; 2: byte by byte */
		for (mode = 0; mode < 3 && good; mode++) {
			for (at = mode == 1 ? 1 : 0; at < (mode == 1 ? len : 1) && good; at++) {
				size_t k;
				memset(&p, 0, sizeof(p));
				http_track_init(&p.t, 65536, &ops, &p);
				if (mode == 2)
					for (k = 0; k < len; k++)
						give_req(&p, data + k, 1);
				else if (mode == 1) {
					give_req(&p, data, at);
					give_req(&p, data + at, len - at);
				} else
					give_req(&p, data, len);
				if (!p.error || p.t.error_status != 400 || p.nheads != cc->heads ||
				    p.forwarded > cc->good_len || p.why[0]) {
					note("%s mode %d at %zu: error %d status %u heads %u "
					     "forwarded %zu %s",
					     cc->name, mode, at, p.error, p.t.error_status,
					     p.nheads, p.forwarded, p.why);
					good = false;
				}
			}
		}
		ok(good, "refused: %s (%s)", cc->name, p.t.error ? p.t.error : "-");
	}
}

static void test_answers(void)
{
	char out[256], small[20];
	int n = http_format_answer(out, sizeof(out), 503, 7, "web is starting");
	is_str(out,
	       "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
	       "Content-Length: 16\r\nConnection: close\r\nRetry-After: 7\r\n\r\nweb is starting\n",
	       "503 with Retry-After");
	is_int(n, (long long)strlen(out), "its length");
	http_format_answer(out, sizeof(out), 431, 0, NULL);
	is_str(out,
	       "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
	       "Content-Length: 32\r\nConnection: close\r\n\r\nRequest Header Fields Too Large\n",
	       "431 without Retry-After, the reason as body");
	is_int(http_format_answer(small, sizeof(small), 400, 0, "x"), -ENOSPC,
	       "-ENOSPC when short");
	is_str(http_reason(400), "Bad Request", "400");
	is_str(http_reason(404), "Not Found", "404");
	is_str(http_reason(502), "Bad Gateway", "502");
}

/* A response cut in a chunk, EOF: -EPROTO; after it, still -EPROTO. */
static void test_sticky(void)
{
	static struct play p;
	memset(&p, 0, sizeof(p));
	http_track_init(&p.t, 65536, &ops, &p);
	give_req(&p, GET("/"), sizeof(GET("/")) - 1);
	is_int(http_track_response(
		   &p.t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 53),
	       0, "a chunked response in part");
	is_int(http_track_response_eof(&p.t), -EPROTO, "EOF inside it: -EPROTO");
	ok(p.t.error != NULL, "with a reason: %s", p.t.error ? p.t.error : "(none)");
	is_int(http_track_response(&p.t, "cd", 2), -EPROTO, "and -EPROTO after");
	http_track_free(&p.t);
}

static int write_corpus(const char *dir)
{
	unsigned i;
	char path[4096];
	for (i = 0; i < ZP_ARRAY_SIZE_T(http_corpus) + ZP_ARRAY_SIZE_T(cases); i++) {
		FILE *f;
		snprintf(path, sizeof(path), "%s/%s", dir,
			 i < ZP_ARRAY_SIZE_T(http_corpus) ? http_corpus[i].name : "");
		if (i >= ZP_ARRAY_SIZE_T(http_corpus)) {
			const struct tcase *c = &cases[i - ZP_ARRAY_SIZE_T(http_corpus)];
			unsigned k;
			char *s;
			char *o;
			snprintf(path, sizeof(path), "%s/good-%s", dir, c->name);
			/* a file name of lowercase words and dashes */
			for (s = o = path + strlen(dir) + 1; *s; s++) {
				char ch = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
				if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
					ch = '-';
				if (ch != '-' || o[-1] != '-')
					*o++ = ch;
			}
			*o = '\0';
			f = fopen(path, "wb");
			if (!f)
				return 1;
			for (k = 0; k < ZP_ARRAY_SIZE_T(c->steps) && c->steps[k].data; k++)
				if (c->steps[k].kind == REQ)
					fwrite(c->steps[k].data, 1, c->steps[k].len, f);
		} else {
			f = fopen(path, "wb");
			if (!f)
				return 1;
			fwrite(http_corpus[i].good, 1, http_corpus[i].good_len, f);
			fwrite(http_corpus[i].bad, 1, http_corpus[i].bad_len, f);
		}
		if (fclose(f))
			return 1;
	}
	return 0;
}

/* Reads a whole (small) file; returns its length or -1. */
static long slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	if (!f)
		return -1;
	n = fread(buf, 1, len, f);
	fclose(f);
	return (long)n;
}

/* The fuzz seeds in the source tree are what --write-corpus writes now. */
static void test_seeds(void)
{
	const char *srcdir = getenv("srcdir");
	char tmp[] = "/tmp/test-http.XXXXXX", a[4096], b[4096];
	static char da[8192], db[8192];
	struct dirent *e;
	unsigned n = 0, same = 0;
	DIR *d;
	if (!srcdir || !mkdtemp(tmp)) {
		ok(true, "# SKIP the fuzz seeds: no srcdir");
		return;
	}
	ok(write_corpus(tmp) == 0, "the seeds written");
	d = opendir(tmp);
	while (d && (e = readdir(d))) {
		long la, lb;
		if (e->d_name[0] == '.')
			continue;
		snprintf(a, sizeof(a), "%s/%s", tmp, e->d_name);
		snprintf(b, sizeof(b), "%s/tests/fuzz/corpus-http/%s", srcdir, e->d_name);
		la = slurp(a, da, sizeof(da));
		lb = slurp(b, db, sizeof(db));
		n++;
		if (la >= 0 && la == lb && !memcmp(da, db, (size_t)la))
			same++;
		else
			note("tests/fuzz/corpus-http/%s differs: run test-http --write-corpus",
			     e->d_name);
		unlink(a);
	}
	if (d)
		closedir(d);
	rmdir(tmp);
	is_int(same, n, "tests/fuzz/corpus-http holds the %u seeds as they are now", n);
}

int main(int argc, char **argv)
{
	unsigned i;
	if (argc == 3 && !strcmp(argv[1], "--write-corpus"))
		return write_corpus(argv[2]);
	for (i = 0; i < ZP_ARRAY_SIZE_T(cases); i++)
		run_case(&cases[i]);
	test_pipeline_full();
	test_corpus();
	test_answers();
	test_sticky();
	test_seeds();
	return done_testing();
}
