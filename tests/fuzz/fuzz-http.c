/*
 * fuzz-http — libFuzzer target for the request side of the HTTP tracker
 * (src/http.c): the input is the whole byte stream a client sends. It is
 * played three times, whole, byte by byte and in pieces of 7 bytes, by a
 * stand-in for the daemon that answers each complete head with a response
 * built from the request's place in the stream (200 with a body, 100 then
 * 204, chunked, 304, 101 to an Upgrade or 200 to CONNECT, 500; no body for
 * HEAD) when the tracker says HTTP_FULL and at the end of the input, then
 * closes the backend side.
 *
 * What must hold for every input: no crash, leak or undefined behaviour;
 * *used never beyond the bytes given, head_len never beyond what was
 * consumed, no HTTP_MORE that consumes nothing, in flight at most
 * HTTP_PIPELINE_MAX + 1, every answer accepted by the response side; an
 * error is 400 or 431 with a reason; and the three plays agree on the heads
 * (method, host, path), the request_done statuses, the tunnel, the error
 * (status and reason) and the in-flight / between state at the end. A disagreement aborts.
 *
 * Built by ./configure --enable-fuzzing (clang); run by tests/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXHEADS 256

struct play {
	struct http_track t;
	const char *data;
	size_t size, avail, consumed;
	unsigned heads, answered, dones, tunnels;
	uint64_t heads_hash, dones_hash;
	uint8_t kind[MAXHEADS]; /* per head: 0 plain, 1 HEAD, 2 CONNECT, 3 Upgrade */
	bool error;
	unsigned in_flight; /* at the end, before the backend closes */
	bool between;
};

static void check(bool cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz-http: %s\n", what);
		abort();
	}
}

static uint64_t mix(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (h ^ 0xff) * 1099511628211ULL;
}

static void on_done(void *data, unsigned status, uint64_t started)
{
	struct play *p = data;
	char buf[32];
	snprintf(buf, sizeof(buf), "%u", status);
	p->dones++;
	p->dones_hash = mix(p->dones_hash, buf);
	(void)started;
}

static void on_tunnel(void *data)
{
	struct play *p = data;
	p->tunnels++;
}

static const struct http_track_ops ops = {on_done, on_tunnel};

/* Answers the oldest head not answered yet. */
static void answer(struct play *p)
{
	static const char *const kinds[] = {
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	    "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
	    NULL, /* 101 to an Upgrade, 200 to CONNECT, else 404 */
	    "HTTP/1.0 500 Oops\r\nContent-Length: 0\r\n\r\n",
	};
	unsigned i = p->answered++;
	uint8_t kind = i < MAXHEADS ? p->kind[i] : 0;
	const char *r = kinds[(i + p->size) % 6];
	if (!r)
		r = kind == 3   ? "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: "
				  "upgrade\r\n\r\nxx"
		    : kind == 2 ? "HTTP/1.1 200 Connection Established\r\n\r\nxx"
				: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	if (kind == 1) /* no body, whatever the head says */
		r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	check(http_track_response(&p->t, r, strlen(r)) == 0, "a valid answer refused");
}

/* Feeds the client bytes given so far; answers on HTTP_FULL. */
static void pump(struct play *p)
{
	while (!p->error && p->consumed < p->avail) {
		size_t left = p->avail - p->consumed, used = (size_t)-1;
		enum http_event ev =
		    http_track_request(&p->t, p->data + p->consumed, left, p->consumed, &used);
		check(http_track_in_flight(&p->t) <= HTTP_PIPELINE_MAX + 1, "too many in flight");
		if (ev == HTTP_ERROR) {
			check(p->t.error_status == 400 || p->t.error_status == 431, "error status");
			check(p->t.error != NULL, "error without a reason");
			p->error = true;
			return;
		}
		check(used <= left, "used beyond the bytes given");
		p->consumed += used;
		check(p->t.head_len <= p->consumed, "head_len beyond what was consumed");
		if (ev == HTTP_HEAD) {
			const struct http_request *r = &p->t.req;
			check(memchr(r->host, 0, sizeof(r->host)) &&
				  memchr(r->path, 0, sizeof(r->path)) &&
				  memchr(r->user_agent, 0, sizeof(r->user_agent)) &&
				  memchr(r->method, 0, sizeof(r->method)),
			      "unterminated field");
			if (p->heads < MAXHEADS)
				p->kind[p->heads] = !strcmp(r->method, "HEAD")      ? 1
						    : !strcmp(r->method, "CONNECT") ? 2
						    : r->upgrade                    ? 3
										    : 0;
			p->heads++;
			p->heads_hash = mix(mix(mix(p->heads_hash, r->method), r->host), r->path);
		} else if (ev == HTTP_FULL) {
			check(p->answered < p->heads, "HTTP_FULL with nothing to answer");
			answer(p);
		} else {
			check(used > 0, "HTTP_MORE consuming nothing");
		}
	}
}

static void play(struct play *p, const uint8_t *data, size_t size, size_t piece)
{
	memset(p, 0, sizeof(*p));
	http_track_init(&p->t, 2048, &ops, p);
	p->data = (const char *)data;
	p->size = size;
	while (p->avail < size && !p->error) {
		p->avail = piece && size - p->avail > piece ? p->avail + piece : size;
		pump(p);
	}
	while (!p->error && !p->t.tunnel && p->answered < p->heads) {
		answer(p);
		pump(p);
	}
	p->in_flight = http_track_in_flight(&p->t);
	p->between = http_track_between(&p->t);
	(void)http_track_response_eof(&p->t);
	http_track_free(&p->t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct play a, b;
	static const size_t pieces[] = {1, 7};
	size_t i;
	play(&a, data, size, 0);
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		play(&b, data, size, pieces[i]);
		check(a.heads == b.heads && a.heads_hash == b.heads_hash, "heads differ by pieces");
		check(a.dones == b.dones && a.dones_hash == b.dones_hash,
		      "answers differ by pieces");
		check(a.tunnels == b.tunnels && a.t.tunnel == b.t.tunnel,
		      "tunnel differs by pieces");
		check(a.error == b.error, "refusal differs by pieces");
		check(a.in_flight == b.in_flight && a.between == b.between,
		      "in flight / between differ by pieces");
		check(!a.error ||
			  (a.t.error_status == b.t.error_status && !strcmp(a.t.error, b.t.error)),
		      "refusal reason differs by pieces");
	}
	return 0;
}
