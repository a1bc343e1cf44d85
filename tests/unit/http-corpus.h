/*
 * http-corpus — request streams that zeroproxy must refuse with 400 (request
 * smuggling and malformed heads), shared by tests/unit/test-http.c and, as
 * seeds, the fuzz target tests/fuzz/fuzz-http.c (`test-http --write-corpus
 * DIR` writes them out as files; tests/fuzz/corpus-http/ holds them).
 *
 * Each case is good + bad: the offending byte is the first one of bad. heads
 * is how many request heads come before the refusal: 0 when the head itself
 * is refused (nothing of the request may reach the backend), 1 when the
 * framing of a chunked body is (the head went, nothing from the bad byte
 * on may).
 */
#ifndef ZP_HTTP_CORPUS_H
#define ZP_HTTP_CORPUS_H

#include <stddef.h>

struct http_corpus_case {
	const char *name;
	const char *good; /* accepted bytes (a head, a valid body prefix) */
	size_t good_len;
	const char *bad; /* from the first offending byte on */
	size_t bad_len;
	unsigned heads; /* HTTP_HEAD before the HTTP_ERROR */
};

#define HC_S(x) x, sizeof(x) - 1
/* A refused head. */
#define HC_HEAD(name, data)                                                                        \
	{                                                                                          \
		name, HC_S(""), HC_S(data), 0                                                      \
	}
/* A refused chunked body after an accepted head. */
#define HC_BODY(name, good, bad)                                                                   \
	{                                                                                          \
		name, HC_S(good), HC_S(bad), 1                                                     \
	}

#define HC_POST    "POST / HTTP/1.1\r\nHost: a\r\n"
#define HC_CHUNKED HC_POST "Transfer-Encoding: chunked\r\n\r\n"

static const struct http_corpus_case http_corpus[] = {
    /* CL.TE and TE.CL: both framings at once */
    HC_HEAD("cl-te", HC_POST "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
			     "0\r\n\r\nG"),
    HC_HEAD("te-cl", HC_POST "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
			     "8\r\nSMUGGLED\r\n0\r\n\r\n"),
    HC_HEAD("cl-te-identity", HC_POST "Content-Length: 4\r\nTransfer-Encoding: identity\r\n\r\n"
				      "abcd"),
    /* TE.TE: a Transfer-Encoding one side does not take */
    HC_HEAD("te-te-second-x", HC_POST "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n"
				      "0\r\n\r\n"),
    HC_HEAD("te-te-second-chunked",
	    HC_POST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-space-before-colon", HC_POST "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-tab-before-colon", HC_POST "Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-xchunked", HC_POST "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-chunkedx", HC_POST "Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-chunked-identity", HC_POST "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-chunked-chunked", HC_POST "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-identity", HC_POST "Transfer-Encoding: identity\r\n\r\nabc"),
    HC_HEAD("te-empty", HC_POST "Transfer-Encoding: \r\n\r\n"),
    HC_HEAD("te-leading-space-line", HC_POST " Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-vtab", HC_POST "Transfer-Encoding:\vchunked\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-trailing-vtab", HC_POST "Transfer-Encoding: chunked\v\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-obs-fold", HC_POST "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-quoted", HC_POST "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n"),
    HC_HEAD("te-http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    /* Content-Length */
    HC_HEAD("cl-two-differ", HC_POST "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    HC_HEAD("cl-two-same", HC_POST "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    HC_HEAD("cl-list", HC_POST "Content-Length: 5, 6\r\n\r\nhello!"),
    HC_HEAD("cl-plus", HC_POST "Content-Length: +5\r\n\r\nhello"),
    HC_HEAD("cl-minus", HC_POST "Content-Length: -5\r\n\r\nhello"),
    HC_HEAD("cl-space-inside", HC_POST "Content-Length: 1 2\r\n\r\nhello"),
    HC_HEAD("cl-hex", HC_POST "Content-Length: 0x5\r\n\r\nhello"),
    HC_HEAD("cl-empty", HC_POST "Content-Length:\r\n\r\n"),
    HC_HEAD("cl-overflow", HC_POST "Content-Length: 99999999999999999999999\r\n\r\n"),
    HC_HEAD("cl-obs-fold", HC_POST "Content-Length: 1\r\n 2\r\n\r\nhello"),
    HC_HEAD("cl-space-before-colon", HC_POST "Content-Length : 5\r\n\r\nhello"),
    /* line structure and bytes */
    HC_HEAD("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n"),
    HC_HEAD("obs-fold-tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n"),
    HC_HEAD("ws-before-first-header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
    HC_HEAD("ws-before-request-line", " GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    HC_HEAD("bare-cr-value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n"),
    HC_HEAD("bare-cr-line-end", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n"),
    HC_HEAD("bare-cr-request-line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"),
    HC_HEAD("bare-cr-head-end", "GET / HTTP/1.1\r\nHost: a\r\n\rX"),
    HC_HEAD("nul-value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n"),
    HC_HEAD("nul-name", "GET / HTTP/1.1\r\nHost: a\r\nX-\0A: b\r\n\r\n"),
    HC_HEAD("nul-request-line", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"),
    HC_HEAD("ctl-01", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x01\r\n\r\n"),
    HC_HEAD("ctl-del", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x7f\r\n\r\n"),
    HC_HEAD("ctl-esc", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \x1b[0m\r\n\r\n"),
    HC_HEAD("tab-request-line", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
    HC_HEAD("name-space", "GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n"),
    HC_HEAD("name-empty", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"),
    HC_HEAD("name-no-colon", "GET / HTTP/1.1\r\nHost: a\r\nFoo\r\n\r\n"),
    HC_HEAD("version-2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
    HC_HEAD("version-1-2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
    HC_HEAD("bad-method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
    /* Host */
    HC_HEAD("host-two", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    HC_HEAD("host-two-same", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"),
    HC_HEAD("host-none-11", "GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n"),
    HC_HEAD("host-list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"),
    HC_HEAD("host-userinfo", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"),
    HC_HEAD("host-space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
    HC_HEAD("host-bad-port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"),
    HC_HEAD("host-big-port", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n"),
    HC_HEAD("host-slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
    HC_HEAD("host-ipv6-open", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
    HC_HEAD("absolute-vs-host", "GET http://evil.example/ HTTP/1.1\r\nHost: good.example\r\n\r\n"),
    HC_HEAD("absolute-userinfo",
	    "GET http://good.example@evil.example/ HTTP/1.1\r\nHost: good.example\r\n\r\n"),
    HC_HEAD("absolute-no-host-11", "GET http://a.example/ HTTP/1.1\r\n\r\n"),
    HC_HEAD("connect-with-body",
	    "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 3\r\n\r\n"
	    "abc"),
    /* chunked framing, after a good head */
    HC_BODY("chunk-data-longer", HC_CHUNKED "5\r\nhello", "XY0\r\n\r\n"),
    HC_BODY("chunk-size-letters", HC_CHUNKED, "zz\r\nhello\r\n0\r\n\r\n"),
    HC_BODY("chunk-size-empty", HC_CHUNKED, "\r\nhello\r\n0\r\n\r\n"),
    HC_BODY("chunk-size-minus", HC_CHUNKED, "-5\r\nhello\r\n0\r\n\r\n"),
    HC_BODY("chunk-size-0x", HC_CHUNKED "0", "x5\r\nhello\r\n0\r\n\r\n"),
    HC_BODY("chunk-size-space", HC_CHUNKED "5 ", "\r\nhello\r\n0\r\n\r\n"),
    HC_BODY("chunk-size-overflow", HC_CHUNKED "fffffffffffffff", "f1\r\nhello\r\n0\r\n\r\n"),
    HC_BODY("chunk-size-leading-space", HC_CHUNKED, " 5\r\nhello\r\n0\r\n\r\n"),
    HC_BODY("chunk-ext-bare-lf", HC_CHUNKED "5;a", "\nb\r\nhello\r\n0\r\n\r\n"),
    HC_BODY("chunk-size-bare-cr", HC_CHUNKED "5\r", "Xhello\r\n0\r\n\r\n"),
    HC_BODY("chunk-size-bare-lf", HC_CHUNKED "5", "\nhello\r\n0\r\n\r\n"),
    HC_BODY("chunk-data-bare-lf", HC_CHUNKED "5\r\nhello", "\n0\r\n\r\n"),
    HC_BODY("chunk-ext-nul", HC_CHUNKED "5;a", "\0\r\nhello\r\n0\r\n\r\n"),
    HC_BODY("trailer-obs-fold", HC_CHUNKED "0\r\nX-T: a\r\n", " b\r\n\r\n"),
    HC_BODY("trailer-nul", HC_CHUNKED "0\r\nX-T: a", "\0\r\n\r\n"),
    HC_BODY("trailer-bare-cr", HC_CHUNKED "0\r\n\r", "X"),
    HC_BODY("trailer-no-colon", HC_CHUNKED "0\r\nX-T", "\r\n\r\n"),
};

#endif
