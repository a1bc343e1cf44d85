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
 *
 * Bulk directions splice: once a direction has filled its buffer
 * RELAY_SPLICE_AFTER times in a row, and the owner grants it a pipe (two fds,
 * see relay_ops.pipe_take), its bytes go source -> pipe -> destination inside
 * the kernel, never through the buffer. The same rules hold: the source is
 * read only while the pipe has room (at most one pipe's capacity,
 * RELAY_PIPE_SIZE, in flight), the EOF is passed on once the pipe is empty,
 * counts are of bytes written.
 * The pipe is released at that direction's EOF or when the relay closes. Where
 * a pipe cannot be had (EMFILE, no grant) or splice does not apply (EINVAL),
 * the direction keeps copying.
 */
#ifndef ZP_RELAY_H
#define ZP_RELAY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAY_BUFSIZE (16 * 1024)
/* Full-buffer reads in a row after which a direction asks for a pipe. */
#define RELAY_SPLICE_AFTER 4
/* The pipe size asked for (F_SETPIPE_SZ; the kernel's default of 64 KiB where
 * it refuses): at most this much kernel memory in flight per direction, and
 * 12-15% less CPU per GiB than 64 KiB in tests/bench/bulk.sh. */
#define RELAY_PIPE_SIZE (256 * 1024)

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
	/* Optional: may r take a pipe (two more fds) for a bulk direction?
	 * true: it is counted until pipe_release(). Without it, no splicing. */
	bool (*pipe_take)(struct relay *r);
	void (*pipe_release)(struct relay *r);
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
	bool no_splice;          /* splice does not apply to these sockets */
	bool pipe_full;          /* splice into the pipe said EAGAIN with bytes in it */
	unsigned full_reads;     /* reads in a row that filled the whole buffer */
	int pipe[2];             /* splicing: [0] read end, [1] write end; else -1 */
	size_t piped;            /* bytes in the pipe, not yet written */
	size_t pipe_cap;         /* the pipe's capacity */
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
