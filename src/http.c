/*
 * http — the HTTP tracker; see http.h for the contract.
 *
 * nodejs/http-parser does the parsing, but Debian builds it lenient
 * (HTTP_PARSER_STRICT=0): it takes obs-fold, whitespace in header names
 * ("Transfer-Encoding : chunked" counts as Transfer-Encoding), any byte
 * after a chunk's data or a chunk size's CR, a bare LF inside a chunk
 * extension, "5 " as a chunk size and HTTP/2.0 as a version. Each of those
 * is a way for zeroproxy and a stricter backend to disagree on where a
 * request ends. So before the library sees a byte of a request head or of
 * chunked framing, a small checker of our own scans it (scan_head,
 * scan_chunked): control bytes, bare CR, obs-fold, header name syntax, the
 * head's size, and the whole chunked framing. The library must then end the
 * head and the message on exactly the byte the checker did, or the request
 * is refused. On top of the library's own refusals (a second Content-Length,
 * CL with TE, TE not ending in chunked, bad URL and method characters,
 * control bytes in values), the head callbacks refuse several Host headers,
 * a bad Host, an HTTP/1.1 request without one, an absolute-form target
 * whose host is not Host's, TE in HTTP/1.0, chunked twice, and versions
 * other than 1.0 / 1.1.
 *
 * The request parser is paused at each head's end and each message's end,
 * so one http_parser_execute() never covers more than one phase (head,
 * body) and the checker sees every head byte before the library does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

enum phase {
	PH_HEAD,    /* a head (or the empty lines before one) */
	PH_BODY,    /* a Content-Length body: the library counts it */
	PH_CHUNKED, /* a chunked body: the library and scan_chunked */
};

/* scan_head's states: where in the head the last byte was. */
enum {
	H_MSG,        /* before a request line (empty lines are skipped) */
	H_MSG_CR,     /* ... after a CR */
	H_REQLINE,    /* in the request line */
	H_REQLINE_CR, /* ... after its CR */
	H_LINE,       /* at the start of a header line (or the blank line) */
	H_NAME,       /* in a header name */
	H_VALUE,      /* in a header value */
	H_VALUE_CR,   /* ... after its CR */
	H_END_CR,     /* the blank line's CR */
};

/* scan_chunked's states. */
enum {
	C_SIZE0,   /* a chunk size's first hex digit */
	C_SIZE,    /* more hex digits, or what follows them */
	C_BWS,     /* whitespace after the size: only ';' may follow */
	C_EXT,     /* a chunk extension, up to CR */
	C_SIZE_LF, /* the size line's LF */
	C_DATA,    /* chunk data */
	C_DATA_CR, /* the CR after the data */
	C_DATA_LF, /* the LF after the data */
	C_TRAILER, /* at the start of a trailer line (or the last blank line) */
	C_TNAME,   /* in a trailer field's name */
	C_TVALUE,  /* in its value */
	C_TVALUE_LF,
	C_END_LF, /* the last blank line's LF */
};

/* The headers that matter. */
enum { HDR_OTHER, HDR_HOST, HDR_CL, HDR_TE, HDR_UA, HDR_ACCEPT };

/* What a request in flight is, for its response. */
enum { KIND_PLAIN, KIND_HEAD, KIND_CONNECT, KIND_UPGRADE };

/* A chunk size line (size, extensions) longer than this is refused. */
#define CHUNK_LINE_MAX 4096
/* Hex digits of a chunk size at most (leading zeros included): 15 keep it
 * far below the library's overflow check. */
#define CHUNK_DIGITS_MAX 15

static const char accept_html[] = "text/html";

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Control bytes that may appear nowhere in a head: all of C0 but HTAB, CR
 * and LF (those have rules of their own), and DEL. */
static bool is_bad_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static void refuse(struct http_track *t, unsigned status, const char *why)
{
	if (t->failed)
		return;
	t->failed = true;
	t->error_status = status;
	t->error = why;
}

/* ---- the in-flight FIFO ---------------------------------------------------- */

static struct http_inflight *fifo_at(struct http_track *t, unsigned i)
{
	return &t->fifo[(t->fifo_first + i) % HTTP_PIPELINE_MAX];
}

static struct http_inflight *fifo_newest(struct http_track *t)
{
	return t->fifo_count ? fifo_at(t, t->fifo_count - 1) : NULL;
}

/* ---- host[:port] ------------------------------------------------------------ */

/* Checks s (len bytes, no surrounding whitespace) as host[:port] and writes
 * the host, lowercase and without its port, to out. An empty s is an empty
 * host (allowed in Host). Returns false when it is not a valid authority. */
static bool parse_host(const char *s, size_t len, char out[HTTP_HOST_MAX])
{
	size_t i = 0, hlen;
	if (len == 0) {
		out[0] = '\0';
		return true;
	}
	if (s[0] == '[') {
		for (i = 1; i < len && s[i] != ']'; i++)
			if (hexval((unsigned char)s[i]) < 0 && s[i] != ':' && s[i] != '.')
				return false;
		if (i == len || i == 1)
			return false;
		i++;
	} else {
		for (; i < len && s[i] != ':'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
			      c == '~'))
				return false;
		}
		if (i == 0)
			return false;
	}
	hlen = i;
	if (hlen >= HTTP_HOST_MAX)
		return false;
	if (i < len) {
		unsigned port = 0, digits = 0;
		if (s[i] != ':')
			return false;
		for (i++; i < len; i++) {
			if (s[i] < '0' || s[i] > '9' || ++digits > 5)
				return false;
			port = port * 10 + (unsigned)(s[i] - '0');
		}
		if (port > 65535)
			return false;
	}
	for (i = 0; i < hlen; i++)
		out[i] = lower(s[i]);
	out[hlen] = '\0';
	return true;
}

/* ---- the raw-byte checkers ------------------------------------------------------- */

/* Scans head bytes; returns how many belong to the head (all of len, or up
 * to and including its last LF, *end then set). On a refusal t->failed. */
static size_t scan_head(struct http_track *t, const unsigned char *p, size_t len, bool *end)
{
	size_t i;
	*end = false;
	for (i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (++t->head_size > t->max_header_size) {
			refuse(t, 431, "request head larger than max_header_size");
			return i;
		}
		if (is_bad_ctl(c)) {
			refuse(t, 400,
			       c ? "control byte in the request head" : "NUL in the request head");
			return i;
		}
		switch (t->scan) {
		case H_MSG:
			if (c == '\r')
				t->scan = H_MSG_CR;
			else if (c == ' ' || c == '\t') {
				refuse(t, 400, "whitespace before the request line");
				return i;
			} else if (c != '\n')
				t->scan = H_REQLINE;
			break;
		case H_MSG_CR:
		case H_REQLINE_CR:
		case H_VALUE_CR:
			if (c != '\n') {
				refuse(t, 400, "bare CR in the request head");
				return i;
			}
			t->scan = t->scan == H_MSG_CR ? H_MSG : H_LINE;
			break;
		case H_REQLINE:
			if (c == '\r')
				t->scan = H_REQLINE_CR;
			else if (c == '\n')
				t->scan = H_LINE;
			else if (c == '\t') {
				refuse(t, 400, "tab in the request line");
				return i;
			}
			break;
		case H_LINE:
			if (c == '\r') {
				t->scan = H_END_CR;
			} else if (c == '\n') {
				*end = true;
				t->scan = H_MSG;
				return i + 1;
			} else if (c == ' ' || c == '\t') {
				refuse(t, 400, "obsolete line folding in the request head");
				return i;
			} else if (is_tchar(c)) {
				t->scan = H_NAME;
			} else {
				refuse(t, 400, "invalid header name");
				return i;
			}
			break;
		case H_NAME:
			if (c == ':')
				t->scan = H_VALUE;
			else if (!is_tchar(c)) {
				refuse(t, 400, "invalid character in a header name");
				return i;
			}
			break;
		case H_VALUE:
			if (c == '\r')
				t->scan = H_VALUE_CR;
			else if (c == '\n')
				t->scan = H_LINE;
			break;
		case H_END_CR:
			if (c != '\n') {
				refuse(t, 400, "bare CR in the request head");
				return i;
			}
			*end = true;
			t->scan = H_MSG;
			return i + 1;
		}
	}
	return len;
}

/* Scans chunked framing (and skips chunk data); returns how many bytes
 * belong to this body (all of len, or up to and including the last LF of
 * its trailer section, *end then set). On a refusal t->failed. */
static size_t scan_chunked(struct http_track *t, const unsigned char *p, size_t len, bool *end)
{
	size_t i;
	*end = false;
	for (i = 0; i < len; i++) {
		unsigned char c = p[i];
		int h;
		if (t->scan == C_DATA) {
			size_t n = len - i;
			if (n > t->chunk_left)
				n = (size_t)t->chunk_left;
			t->chunk_left -= n;
			i += n - 1;
			if (!t->chunk_left)
				t->scan = C_DATA_CR;
			continue;
		}
		if (t->scan >= C_TRAILER && ++t->head_size > t->max_header_size) {
			refuse(t, 431, "trailer section larger than max_header_size");
			return i;
		}
		if (t->scan < C_DATA && ++t->chunk_line > CHUNK_LINE_MAX) {
			refuse(t, 400, "chunk size line too long");
			return i;
		}
		if (is_bad_ctl(c) || (c == '\t' && t->scan >= C_TRAILER && t->scan != C_TVALUE)) {
			refuse(t, 400, "control byte in chunked framing");
			return i;
		}
		switch (t->scan) {
		case C_SIZE0:
		case C_SIZE:
			h = hexval(c);
			if (h >= 0) {
				if (++t->chunk_digits > CHUNK_DIGITS_MAX) {
					refuse(t, 400, "chunk size too large");
					return i;
				}
				t->chunk_left = t->chunk_left * 16 + (uint64_t)h;
				t->scan = C_SIZE;
				break;
			}
			if (t->scan == C_SIZE0) {
				refuse(t, 400, "invalid chunk size");
				return i;
			}
			if (c == '\r')
				t->scan = C_SIZE_LF;
			else if (c == ';')
				t->scan = C_EXT;
			else if (c == ' ' || c == '\t')
				t->scan = C_BWS;
			else {
				refuse(t, 400, "invalid chunk size");
				return i;
			}
			break;
		case C_BWS:
			if (c == ';')
				t->scan = C_EXT;
			else if (c != ' ' && c != '\t') {
				refuse(t, 400, "invalid chunk size");
				return i;
			}
			break;
		case C_EXT:
			if (c == '\r')
				t->scan = C_SIZE_LF;
			else if (c == '\n') {
				refuse(t, 400, "bare LF in a chunk extension");
				return i;
			}
			break;
		case C_SIZE_LF:
			if (c != '\n') {
				refuse(t, 400, "bare CR in a chunk size line");
				return i;
			}
			t->chunk_line = 0;
			t->chunk_digits = 0;
			if (t->chunk_left) {
				t->scan = C_DATA;
			} else {
				t->scan = C_TRAILER;
				t->head_size = 0;
			}
			break;
		case C_DATA_CR:
			if (c != '\r') {
				refuse(t, 400, "chunk data longer than its size");
				return i;
			}
			t->scan = C_DATA_LF;
			break;
		case C_DATA_LF:
			if (c != '\n') {
				refuse(t, 400, "bare CR after chunk data");
				return i;
			}
			t->scan = C_SIZE0;
			break;
		case C_TRAILER:
			if (c == '\r')
				t->scan = C_END_LF;
			else if (is_tchar(c))
				t->scan = C_TNAME;
			else {
				refuse(t, 400, "invalid trailer field");
				return i;
			}
			break;
		case C_TNAME:
			if (c == ':')
				t->scan = C_TVALUE;
			else if (!is_tchar(c)) {
				refuse(t, 400, "invalid trailer field");
				return i;
			}
			break;
		case C_TVALUE:
			if (c == '\r')
				t->scan = C_TVALUE_LF;
			else if (c == '\n') {
				refuse(t, 400, "bare LF in a trailer field");
				return i;
			}
			break;
		case C_TVALUE_LF:
			if (c != '\n') {
				refuse(t, 400, "bare CR in a trailer field");
				return i;
			}
			t->scan = C_TRAILER;
			break;
		case C_END_LF:
			if (c != '\n') {
				refuse(t, 400, "bare CR at the end of a chunked body");
				return i;
			}
			*end = true;
			return i + 1;
		}
	}
	return len;
}

/* ---- request callbacks -------------------------------------------------------- */

static struct http_track *track_of(http_parser *p)
{
	return p->data;
}

static int req_message_begin(http_parser *p)
{
	struct http_track *t = track_of(p);
	struct http_inflight *f;
	if (t->fifo_count == HTTP_PIPELINE_MAX) {
		/* http_track_request() stops before a new request when full. */
		refuse(t, 400, "too many requests in flight");
		return -1;
	}
	f = fifo_at(t, t->fifo_count++);
	f->started_usec = t->now_usec;
	f->kind = KIND_PLAIN;
	f->head_done = false;
	t->req_open = true;
	t->cur_answered = false;
	t->hdr = HDR_OTHER;
	t->in_value = false;
	t->name_len = t->value_len = 0;
	t->name_cut = t->value_cut = false;
	t->host_count = t->cl_count = t->te_count = 0;
	t->te_chunked = t->te_bad = false;
	t->accept_match = 0;
	t->target_len = 0;
	t->target_cut = false;
	memset(&t->next, 0, sizeof(t->next));
	return 0;
}

static int req_url(http_parser *p, const char *at, size_t len)
{
	struct http_track *t = track_of(p);
	size_t room = sizeof(t->target) - 1 - t->target_len;
	if (len > room) {
		len = room;
		t->target_cut = true;
	}
	memcpy(t->target + t->target_len, at, len);
	t->target_len += (unsigned)len;
	t->target[t->target_len] = '\0';
	return 0;
}

/* Trims OWS off both ends of t->value. */
static void value_trim(struct http_track *t, const char **s, size_t *len)
{
	const char *v = t->value;
	size_t n = t->value_len;
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*s = v;
	*len = n;
}

/* Transfer-Encoding: a list of codings; chunked must be the last one and
 * come once. Sets te_chunked (the last coding so far is chunked) and te_bad. */
static void te_parse(struct http_track *t, const char *s, size_t len)
{
	size_t i = 0;
	while (i <= len) {
		size_t a, b;
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		a = i;
		while (i < len && s[i] != ',')
			i++;
		b = i;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		if (b > a) {
			size_t k;
			for (k = a; k < b; k++)
				if (!is_tchar((unsigned char)s[k]))
					t->te_bad = true;
			if (t->te_chunked)
				t->te_bad = true; /* something after chunked, or chunked twice */
			t->te_chunked = b - a == 7 && strncasecmp(s + a, "chunked", 7) == 0;
		}
		i++;
	}
}

/* The header just read is complete: check and keep what matters. */
static int header_end(struct http_track *t)
{
	const char *v;
	size_t n;
	if (!t->in_value)
		return 0;
	t->in_value = false;
	value_trim(t, &v, &n);
	switch (t->hdr) {
	case HDR_HOST:
		if (++t->host_count > 1)
			refuse(t, 400, "several Host headers");
		else if (t->value_cut || !parse_host(v, n, t->next.host))
			refuse(t, 400, "invalid Host header");
		break;
	case HDR_CL: {
		size_t i;
		t->cl_count++;
		if (t->value_cut || n == 0)
			refuse(t, 400, "invalid Content-Length");
		for (i = 0; i < n; i++)
			if (v[i] < '0' || v[i] > '9')
				refuse(t, 400, "invalid Content-Length");
		if (t->cl_count > 1)
			refuse(t, 400, "several Content-Length headers");
		break;
	}
	case HDR_TE:
		t->te_count++;
		if (t->value_cut)
			refuse(t, 400, "Transfer-Encoding too long");
		if (n == 0)
			t->te_bad = true;
		te_parse(t, v, n);
		break;
	default: break;
	}
	t->name_len = t->value_len = 0;
	t->name_cut = t->value_cut = false;
	return t->failed ? -1 : 0;
}

static int req_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_track *t = track_of(p);
	size_t i;
	if (t->phase != PH_HEAD)
		return 0; /* a trailer field: scan_chunked checked it */
	if (t->in_value && header_end(t) < 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (t->name_len + 1 >= sizeof(t->name)) {
			t->name_cut = true;
			break;
		}
		t->name[t->name_len++] = lower(at[i]);
	}
	t->name[t->name_len] = '\0';
	return 0;
}

static int req_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_track *t = track_of(p);
	size_t i;
	if (t->phase != PH_HEAD)
		return 0;
	if (!t->in_value) {
		const char *nm = t->name;
		t->in_value = true;
		t->value_len = 0;
		t->hdr = HDR_OTHER;
		if (t->name_cut)
			;
		else if (!strcmp(nm, "host"))
			t->hdr = HDR_HOST;
		else if (!strcmp(nm, "content-length"))
			t->hdr = HDR_CL;
		else if (!strcmp(nm, "transfer-encoding"))
			t->hdr = HDR_TE;
		else if (!strcmp(nm, "user-agent"))
			t->hdr = HDR_UA;
		else if (!strcmp(nm, "accept"))
			t->hdr = HDR_ACCEPT;
	}
	switch (t->hdr) {
	case HDR_HOST:
	case HDR_CL:
	case HDR_TE:
		if (len > sizeof(t->value) - 1 - t->value_len) {
			len = sizeof(t->value) - 1 - t->value_len;
			t->value_cut = true;
		}
		memcpy(t->value + t->value_len, at, len);
		t->value_len += (unsigned)len;
		break;
	case HDR_UA: {
		size_t have = strlen(t->next.user_agent);
		size_t room = sizeof(t->next.user_agent) - 1 - have;
		memcpy(t->next.user_agent + have, at, len < room ? len : room);
		t->next.user_agent[have + (len < room ? len : room)] = '\0';
		break;
	}
	case HDR_ACCEPT:
		/* "text/html" has no prefix that is also its suffix but "t", so
		 * on a mismatch the match restarts with this byte alone. */
		for (i = 0; i < len && !t->next.accept_html; i++) {
			char c = lower(at[i]);
			if (c == accept_html[t->accept_match])
				t->accept_match++;
			else
				t->accept_match = c == 't' ? 1 : 0;
			if (t->accept_match == sizeof(accept_html) - 1)
				t->next.accept_html = true;
		}
		break;
	default: break;
	}
	return 0;
}

/* The target: origin-form, asterisk-form, authority-form (CONNECT) or
 * absolute-form. Fills next.path, and for absolute-form checks the host
 * against Host (or takes it when there is no Host, in HTTP/1.0). */
static int target_check(struct http_track *t, http_parser *p)
{
	const char *s = t->target, *path;
	size_t i = 0, a;
	char host[HTTP_HOST_MAX];
	if (p->method == HTTP_CONNECT) {
		t->next.path[0] = '\0';
		return 0;
	}
	if (s[0] == '/' || (s[0] == '*' && s[1] == '\0')) {
		path = s;
	} else {
		while (s[i] && s[i] != ':' && s[i] != '/')
			i++;
		if (i == 0 || strncmp(s + i, "://", 3) != 0) {
			refuse(t, 400, "invalid request target");
			return -1;
		}
		i += 3;
		a = i;
		while (s[i] && s[i] != '/' && s[i] != '?' && s[i] != '#')
			i++;
		if (!s[i] && t->target_cut) {
			refuse(t, 400, "request target's authority too long");
			return -1;
		}
		if (!parse_host(s + a, i - a, host) || !host[0]) {
			refuse(t, 400, "invalid host in the request target");
			return -1;
		}
		if (t->host_count && strcmp(host, t->next.host) != 0) {
			refuse(t, 400, "the request target's host differs from Host");
			return -1;
		}
		if (!t->host_count)
			memcpy(t->next.host, host, sizeof(host));
		path = s[i] == '/' ? s + i : "/";
	}
	for (i = 0; path[i] && path[i] != '?' && path[i] != '#' && i + 1 < HTTP_PATH_MAX; i++)
		t->next.path[i] = path[i];
	t->next.path[i] = '\0';
	return 0;
}

static int req_headers_complete(http_parser *p)
{
	struct http_track *t = track_of(p);
	struct http_inflight *f = fifo_newest(t);
	if (header_end(t) < 0)
		return -1;
	if (p->http_major != 1 || p->http_minor > 1)
		refuse(t, 400, "unsupported HTTP version");
	else if (t->te_count && t->cl_count)
		refuse(t, 400, "both Content-Length and Transfer-Encoding");
	else if (t->te_count && (t->te_bad || !t->te_chunked))
		refuse(t, 400, "Transfer-Encoding does not end in chunked (once)");
	else if (t->te_count && p->http_minor == 0)
		refuse(t, 400, "Transfer-Encoding in an HTTP/1.0 request");
	else if (p->http_minor == 1 && !t->host_count)
		refuse(t, 400, "HTTP/1.1 request without Host");
	else if (p->method == HTTP_CONNECT && (t->te_count || (t->cl_count && p->content_length)))
		refuse(t, 400, "CONNECT with a body");
	if (t->failed || target_check(t, p) < 0)
		return -1;
	snprintf(t->next.method, sizeof(t->next.method), "%s",
		 http_method_str((enum http_method)p->method));
	t->next.upgrade = p->upgrade;
	t->next.keep_alive = http_should_keep_alive(p);
	t->next.http_minor = p->http_minor;
	t->req = t->next;
	if (f && !t->cur_answered) {
		f->head_done = true;
		if (p->method == HTTP_METHOD_HEAD)
			f->kind = KIND_HEAD;
		else if (p->method == HTTP_CONNECT)
			f->kind = KIND_CONNECT;
		else if (p->upgrade)
			f->kind = KIND_UPGRADE;
	}
	t->head_complete = true;
	http_parser_pause(p, 1);
	return 0;
}

static int req_message_complete(http_parser *p)
{
	struct http_track *t = track_of(p);
	struct http_inflight *f = fifo_newest(t);
	t->req_open = false;
	if (!t->cur_answered && f && (f->kind == KIND_CONNECT || f->kind == KIND_UPGRADE))
		t->await_answer = true;
	t->cur_answered = false;
	t->msg_complete = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings req_settings = {
    .on_message_begin = req_message_begin,
    .on_url = req_url,
    .on_header_field = req_header_field,
    .on_header_value = req_header_value,
    .on_headers_complete = req_headers_complete,
    .on_message_complete = req_message_complete,
};

/* ---- response callbacks ------------------------------------------------------ */

static int resp_fail(struct http_track *t, const char *why)
{
	if (!t->resp_failed) {
		t->resp_failed = true;
		t->error = why;
	}
	return -1;
}

static int resp_message_begin(http_parser *p)
{
	struct http_track *t = track_of(p);
	if (!t->fifo_count || !fifo_at(t, 0)->head_done)
		return resp_fail(t, "a response with no request in flight");
	t->resp_open = true;
	t->resp_tunnel = false;
	return 0;
}

/* Returns 1 for no body, 2 for "the rest is another protocol". */
static int resp_headers_complete(http_parser *p)
{
	struct http_track *t = track_of(p);
	unsigned status = p->status_code;
	uint8_t kind = fifo_at(t, 0)->kind;
	if (status == 101) {
		t->resp_tunnel = true;
		return 2;
	}
	if (status < 200)
		return 1;
	if (kind == KIND_CONNECT && status < 300) {
		t->resp_tunnel = true;
		return 2;
	}
	if (kind == KIND_HEAD || status == 204 || status == 304)
		return 1;
	return 0;
}

static int resp_message_complete(http_parser *p)
{
	struct http_track *t = track_of(p);
	unsigned status = p->status_code;
	struct http_inflight f;
	t->resp_open = false;
	if (status < 200 && status != 101)
		return 0; /* 100-continue, 102, 103: the final response is still to come */
	f = *fifo_at(t, 0);
	t->fifo_first = (t->fifo_first + 1) % HTTP_PIPELINE_MAX;
	t->fifo_count--;
	if (!t->fifo_count && t->req_open)
		t->cur_answered = true; /* answered before it was all received */
	if (f.kind == KIND_CONNECT || f.kind == KIND_UPGRADE)
		t->await_answer = false;
	if (t->resp_tunnel)
		t->tunnel = true;
	if (t->ops && t->ops->request_done)
		t->ops->request_done(t->data, status, f.started_usec);
	if (t->resp_tunnel && t->ops && t->ops->tunnel)
		t->ops->tunnel(t->data);
	return 0;
}

static const http_parser_settings resp_settings = {
    .on_message_begin = resp_message_begin,
    .on_headers_complete = resp_headers_complete,
    .on_message_complete = resp_message_complete,
};

/* ---- the public side ---------------------------------------------------------- */

void http_track_init(struct http_track *t, size_t max_header_size, const struct http_track_ops *ops,
		     void *data)
{
	memset(t, 0, sizeof(*t));
	/* The library's limit is process-wide: every tracker sets the same
	 * value, the largest a config may give, so ours always comes first. */
	http_parser_set_max_header_size(HTTP_HEADER_SIZE_LIMIT);
	http_parser_init(&t->req_parser, HTTP_REQUEST);
	http_parser_init(&t->resp_parser, HTTP_RESPONSE);
	t->req_parser.data = t;
	t->resp_parser.data = t;
	t->ops = ops;
	t->data = data;
	if (!max_header_size || max_header_size > HTTP_HEADER_SIZE_LIMIT)
		max_header_size = HTTP_HEADER_SIZE_LIMIT;
	t->max_header_size = max_header_size;
	t->phase = PH_HEAD;
	t->scan = H_MSG;
}

/* Runs the request parser over len bytes; returns how many it took. A pause
 * (head or message end) is lifted; an error refuses the request. */
static size_t req_execute(struct http_track *t, const char *buf, size_t len)
{
	http_parser *p = &t->req_parser;
	size_t n = http_parser_execute(p, &req_settings, buf, len);
	enum http_errno e = HTTP_PARSER_ERRNO(p);
	if (e == HPE_PAUSED)
		http_parser_pause(p, 0);
	else if (e != HPE_OK)
		refuse(t, 400, http_errno_description(e));
	return n;
}

/* A checker refused the byte at k: the library still gets the k bytes
 * before it, and when it refuses one of those, its reason stands. So the
 * first offending byte decides, whoever finds it, however the bytes came in
 * pieces. */
static enum http_event library_first(struct http_track *t, const char *buf, size_t k)
{
	unsigned status = t->error_status;
	const char *why = t->error;
	t->failed = false;
	t->head_complete = t->msg_complete = false;
	if (k) /* (0 bytes would tell the library the stream ended) */
		(void)req_execute(t, buf, k);
	if (!t->failed)
		refuse(t, status, why);
	return HTTP_ERROR;
}

static void message_done(struct http_track *t)
{
	t->msg_complete = false;
	t->phase = PH_HEAD;
	t->scan = H_MSG;
	t->head_size = 0;
}

enum http_event http_track_request(struct http_track *t, const char *buf, size_t len,
				   uint64_t now_usec, size_t *used)
{
	size_t off = 0;
	*used = 0;
	if (t->failed)
		return HTTP_ERROR;
	if (t->head_reported) {
		t->head_reported = false;
		t->head_len = 0;
	}
	if (t->tunnel) {
		*used = len;
		return HTTP_MORE;
	}
	t->now_usec = now_usec;
	while (off < len && !t->tunnel) {
		const char *b = buf + off;
		size_t k, n;
		bool end;
		switch (t->phase) {
		case PH_HEAD:
			if (!t->req_open &&
			    (t->fifo_count == HTTP_PIPELINE_MAX || t->await_answer)) {
				*used = off;
				return HTTP_FULL;
			}
			k = scan_head(t, (const unsigned char *)b, len - off, &end);
			if (t->failed)
				return library_first(t, b, k);
			t->head_complete = false;
			n = req_execute(t, b, k);
			if (!t->failed && end) {
				/* The library pauses on the head's last LF, unread. */
				if (!t->head_complete || n != k - 1)
					refuse(t, 400, "request head framing is ambiguous");
				else
					n += req_execute(t, b + n, 1);
			}
			if (!t->failed && n != k)
				refuse(t, 400, "request head framing is ambiguous");
			if (t->failed)
				return HTTP_ERROR;
			off += k;
			t->head_len += k;
			if (!end)
				break;
			if (t->msg_complete)
				message_done(t);
			else if (t->req_parser.flags & F_CHUNKED) {
				t->phase = PH_CHUNKED;
				t->scan = C_SIZE0;
				t->chunk_left = 0;
				t->chunk_digits = t->chunk_line = 0;
			} else {
				t->phase = PH_BODY;
			}
			t->head_size = 0;
			t->head_reported = true;
			*used = off;
			return HTTP_HEAD;
		case PH_BODY:
			n = req_execute(t, b, len - off);
			if (t->failed)
				return HTTP_ERROR;
			off += n;
			if (t->msg_complete)
				message_done(t);
			else if (off < len) {
				refuse(t, 400, "request body framing is ambiguous");
				return HTTP_ERROR;
			}
			break;
		case PH_CHUNKED:
			k = scan_chunked(t, (const unsigned char *)b, len - off, &end);
			if (t->failed)
				return library_first(t, b, k);
			n = req_execute(t, b, k);
			if (!t->failed && (n != k || end != t->msg_complete))
				refuse(t, 400, "chunked framing is ambiguous");
			if (t->failed)
				return HTTP_ERROR;
			off += k;
			if (end)
				message_done(t);
			break;
		}
	}
	*used = t->tunnel ? len : off;
	return HTTP_MORE;
}

int http_track_response(struct http_track *t, const char *buf, size_t len)
{
	http_parser *p = &t->resp_parser;
	size_t n;
	enum http_errno e;
	if (t->resp_failed)
		return -EPROTO;
	if (t->tunnel || !len)
		return 0;
	n = http_parser_execute(p, &resp_settings, buf, len);
	e = HTTP_PARSER_ERRNO(p);
	if (e != HPE_OK) {
		resp_fail(t, http_errno_description(e));
		return -EPROTO;
	}
	if (n != len && !t->tunnel) {
		resp_fail(t, "response framing is ambiguous");
		return -EPROTO;
	}
	return 0;
}

int http_track_response_eof(struct http_track *t)
{
	http_parser *p = &t->resp_parser;
	if (t->resp_failed)
		return -EPROTO;
	if (t->tunnel || !t->resp_open)
		return 0;
	(void)http_parser_execute(p, &resp_settings, NULL, 0);
	if (HTTP_PARSER_ERRNO(p) != HPE_OK || t->resp_open) {
		resp_fail(t, "the backend closed in the middle of a response");
		return -EPROTO;
	}
	return 0;
}

unsigned http_track_in_flight(const struct http_track *t)
{
	if (t->tunnel)
		return 1;
	return t->fifo_count + (t->req_open && t->cur_answered ? 1 : 0);
}

bool http_track_between(const struct http_track *t)
{
	return !t->failed && !t->tunnel && !t->fifo_count && !t->req_open;
}

void http_track_free(struct http_track *t)
{
	(void)t;
}

const char *http_reason(unsigned status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Service Unavailable";
	}
}

int http_format_answer(char *out, size_t len, unsigned status, unsigned retry_after,
		       const char *body_line)
{
	char retry[40] = "";
	const char *reason = http_reason(status);
	int n;
	if (!body_line)
		body_line = reason;
	if (retry_after)
		snprintf(retry, sizeof(retry), "Retry-After: %u\r\n", retry_after);
	n = snprintf(out, len,
		     "HTTP/1.1 %u %s\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: %zu\r\n"
		     "Connection: close\r\n"
		     "%s"
		     "\r\n"
		     "%s\n",
		     status, reason, strlen(body_line) + 1, retry, body_line);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}
