/*
 * control — the control socket: a unix stream socket on which `zeroproxy
 * status/start/stop/reload` talk to the daemon.
 *
 * Protocol: the client sends one request line (at most 4096 bytes, ending in
 * "\n"): "status [--json] [NAME...]", "start NAME", "stop NAME" or "reload".
 * The daemon answers with a first line "ok" or "error REASON", then a body (the
 * status table or JSON, or the configuration errors of a failed reload, one per
 * line), then closes the connection.
 */
#ifndef ZP_CONTROL_H
#define ZP_CONTROL_H

#include <ev.h>

#include "server_ops.h"

/* Bytes of one request line, "\n" included, at most (both sides). */
#define CONTROL_MAX_REQUEST 4096

struct control_server;

/* Listen on path (mode 0660, a stale socket replaced, its directory created);
 * requests are answered through ops, called with data. 0 or -errno (logged). */
int control_server_new(struct ev_loop *loop, const char *path, const struct server_ops *ops,
		       void *data, struct control_server **out);

/* Stop listening, close every client, remove the socket file. */
void control_server_free(struct control_server *c);

/* Answer one request line (NUL-terminated, without its "\n", so shorter than
 * CONTROL_MAX_REQUEST; the words are split in place) through ops with data:
 * the first line and the body, appended to out. The server calls it for each
 * request, and tests/fuzz/fuzz-control.c with whatever libFuzzer makes up. */
struct strbuf;
void control_handle_request(const struct server_ops *ops, void *data, char *line,
			    struct strbuf *out);

#endif
