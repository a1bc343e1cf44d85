/*
 * relay — the byte pump between a client and a backend connection.
 *
 * Each direction has one fixed buffer. A side is read only while the buffer
 * towards the other side has room, and written only while that buffer holds
 * data: memory per connection is bounded whatever the peers do. EOF is passed
 * on per direction (half-close): once everything read before the EOF has been
 * written, the other side gets shutdown(SHUT_WR). The relay ends when both
 * directions are finished, on an error, or after idle_timeout without a byte in
 * either direction.
 */
#ifndef ZP_RELAY_H
#define ZP_RELAY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAY_BUFSIZE (16 * 1024)

struct relay;

/* The two sockets of a relay, as indexes of fd[]. */
enum relay_side {
	RELAY_CLIENT = 0,
	RELAY_BACKEND = 1,
};

struct relay_ops {
	/* Called once when the relay is finished: err 0 (both directions
	 * done), -ETIMEDOUT (idle), or a socket error of the socket r->err_side
	 * names; r->connecting is still set when the backend connect() had not
	 * completed (a backend-side error then means the connect failed). The
	 * callee calls relay_close() and may free r: the relay never touches r
	 * after calling it. */
	void (*done)(struct relay *r, int err);
	/* Optional: the first byte from the backend has arrived (once per
	 * relay). The callee must not close or free r. */
	void (*first_byte)(struct relay *r);
};

enum relay_dir {
	RELAY_UP = 0,   /* client -> backend */
	RELAY_DOWN = 1, /* backend -> client */
};

struct relay_half {
	char buf[RELAY_BUFSIZE]; /* bytes read from the source, not yet written */
	size_t start;            /* first unwritten byte */
	size_t end;              /* one past the last read byte */
	bool eof;                /* the source sent EOF */
	bool shut;               /* shutdown(SHUT_WR) sent to the destination */
};

struct relay {
	struct ev_loop *loop;
	int fd[2];                   /* [0] client, [1] backend; -1 once closed */
	ev_io rio[2];                /* readable, per fd */
	ev_io wio[2];                /* writable, per fd */
	ev_timer idle;               /* connection_idle_timeout */
	ev_tstamp idle_timeout;      /* seconds; 0: none */
	ev_tstamp last_activity;     /* ev_now() of the last byte moved */
	bool connecting;             /* the backend connect() is in progress */
	bool finished;               /* done was called */
	bool backend_spoke;          /* a byte came from the backend */
	enum relay_side err_side;    /* where the error given to done() came from */
	struct relay_half half[2];   /* indexed by enum relay_dir */
	uint64_t *count[2];          /* optional byte counters per direction */
	const struct relay_ops *ops; /* see above */
	void *data;                  /* the owner's */
};

/* Start relaying between client_fd and backend_fd (both non-blocking; the
 * backend connect may still be in progress when connecting is set). Takes
 * ownership of both fds. idle_timeout_ms: 0 or ZP_INFINITY for none. */
void relay_start(struct relay *r, struct ev_loop *loop, int client_fd, int backend_fd,
		 bool connecting, uint64_t idle_timeout_ms, const struct relay_ops *ops,
		 void *data);

/* Stop every watcher and close both fds. Safe to call twice. */
void relay_close(struct relay *r);

#endif
