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
 *
 * Filtered directions (protocol = http): the owner's ops->filter sees every
 * byte a direction reads before any of it is written, and says how much may
 * go (h->ready): a request head is held until it is complete and valid, and
 * is forwarded whole or not at all. A filtered direction never splices (the
 * tracker must see its bytes); the owner clears h->filter when the
 * connection becomes a tunnel, and splicing may start from then on. While
 * held bytes fill the buffer, it grows once to hold_max bytes (a long head),
 * and shrinks back to the fixed buffer once everything is written.
 *
 * A relay may start before its backend exists (backend_fd -1, http mode:
 * the client's first request head decides whether a backend is needed):
 * the client is read through the filter, nothing is written, and
 * relay_attach() gives it the backend later.
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

enum relay_dir {
	RELAY_UP = 0,   /* client -> backend */
	RELAY_DOWN = 1, /* backend -> client */
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
	/* Optional: bytes were read into a direction with h->filter set, or its
	 * EOF came (h->eof, once): [h->seen, h->end) are new. The callee
	 * consumes them (h->seen), sets h->ready (bytes before it may be
	 * written, never less than before), and may set h->paused (read no more
	 * until relay_resume()). Returns 0, or -errno to finish the relay with
	 * (done() is called; err_side is the direction's source). The callee
	 * must not close or free r. */
	int (*filter)(struct relay *r, enum relay_dir d);
	/* Optional: direction d's buffer, full while its destination was not
	 * writable, has been written out. The callee must not close or free r. */
	void (*flushed)(struct relay *r, enum relay_dir d);
};

struct relay_half {
	char buf[RELAY_BUFSIZE]; /* bytes read from the source, not yet written */
	char *data;              /* buf, or big */
	char *big;               /* malloc'd hold_max bytes while a long head is held, or NULL */
	size_t cap;              /* bytes of data */
	size_t start;            /* first unwritten byte */
	size_t ready;            /* one past the last byte that may be written */
	size_t seen;             /* one past the last byte the filter has seen */
	size_t end;              /* one past the last read byte */
	bool filter;             /* ops->filter sees these bytes first (no splicing) */
	bool paused;             /* the filter stopped reading until relay_resume() */
	bool eof_told;           /* the filter was told of the EOF */
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
	size_t hold_max;             /* filtered: the largest buffer held bytes may grow to */
	const struct relay_ops *ops; /* see above */
	void *data;                  /* the owner's */
};

/* Start relaying between client_fd and backend_fd (both non-blocking; the
 * backend connect may still be in progress when connecting is set; -1: no
 * backend yet, see relay_attach()). Takes ownership of both fds.
 * idle_timeout_ms: 0 or ZP_INFINITY for none. */
void relay_start(struct relay *r, struct ev_loop *loop, int client_fd, int backend_fd,
		 bool connecting, uint64_t idle_timeout_ms, const struct relay_ops *ops,
		 void *data);

/* Set before the first event: filter both directions (see ops->filter), held
 * bytes growing the buffer up to hold_max. */
void relay_set_filter(struct relay *r, size_t hold_max);

/* Give a relay started without a backend its backend (as relay_start), and
 * resume its client direction. */
void relay_attach(struct relay *r, int backend_fd, bool connecting);

/* Close the backend of a relay that holds nothing towards the client, is
 * not connecting, and whose directions have seen no EOF: the client side
 * stays as it is (a held request head included) for relay_attach() to
 * give it another backend. */
void relay_detach(struct relay *r);

/* Read direction d again after the filter paused it; bytes it holds unseen
 * are given to the filter from the loop, not from this call (the filter
 * may call it). */
void relay_resume(struct relay *r, enum relay_dir d);

/* Read no more of direction d's source, as if it had sent its EOF: what was
 * read is written, then the destination gets its shutdown (from the loop). */
void relay_end_input(struct relay *r, enum relay_dir d);

/* Whether direction d holds bytes its destination has not taken yet. */
bool relay_holds(const struct relay *r, enum relay_dir d);

/* Take the client fd out of the relay (the caller closes it); -1 if none. */
int relay_take_client(struct relay *r);

/* Stop every watcher and close both fds. Safe to call twice. */
void relay_close(struct relay *r);

#endif
