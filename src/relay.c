/*
 * relay — the byte pump; see relay.h for the contract.
 *
 * After every event, relay_update() recomputes which watchers should run from
 * the buffer state alone, so backpressure and half-close fall out of one place.
 */
/* splice, pipe2, F_GETPIPE_SZ: _GNU_SOURCE comes from config.h */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"
#include "util.h"

/* The fd a direction reads from, and the one it writes to. */
static int src_of(enum relay_dir d)
{
	return d == RELAY_UP ? 0 : 1;
}

static int dst_of(enum relay_dir d)
{
	return d == RELAY_UP ? 1 : 0;
}

static void watcher_set(struct relay *r, ev_io *w, bool on)
{
	if (on && !ev_is_active(w))
		ev_io_start(r->loop, w);
	else if (!on && ev_is_active(w))
		ev_io_stop(r->loop, w);
}

static void relay_finish(struct relay *r, int err)
{
	if (r->finished)
		return;
	r->finished = true;
	for (int i = 0; i < 2; i++) {
		watcher_set(r, &r->rio[i], false);
		watcher_set(r, &r->wio[i], false);
	}
	ev_timer_stop(r->loop, &r->idle);
	r->ops->done(r, err);
}

/* An error of the socket side, for done(). */
static int side_error(struct relay *r, int side, int err)
{
	r->err_side = (enum relay_side)side;
	return -err;
}

/* A write towards direction d's destination failed: 1 to retry (EINTR), 0 to
 * wait until it is writable, or -errno. */
static int write_failed(struct relay *r, enum relay_dir d)
{
	if (errno == EINTR)
		return 1;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 0;
	return side_error(r, dst_of(d), errno);
}

/* n bytes of direction d reached its destination. */
static void wrote(struct relay *r, enum relay_dir d, size_t n)
{
	if (r->count[d])
		*r->count[d] += (uint64_t)n;
	r->last_activity = ev_now(r->loop);
}

/* Give direction d's pipe back (it is empty). */
static void half_pipe_close(struct relay *r, enum relay_dir d)
{
	struct relay_half *h = &r->half[d];
	if (h->pipe[0] < 0)
		return;
	close(h->pipe[0]);
	close(h->pipe[1]);
	h->pipe[0] = h->pipe[1] = -1;
	h->piped = 0;
	h->pipe_full = false;
	if (r->ops->pipe_release)
		r->ops->pipe_release(r);
}

/* Direction d has shown it is bulk: take a pipe for it if the owner grants
 * one. false: keep copying (asked again after as many full reads). */
static bool half_pipe_open(struct relay *r, enum relay_dir d)
{
	struct relay_half *h = &r->half[d];
	h->full_reads = 0;
	if (!r->ops->pipe_take || !r->ops->pipe_take(r))
		return false;
	if (pipe2(h->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		h->pipe[0] = h->pipe[1] = -1;
		if (r->ops->pipe_release)
			r->ops->pipe_release(r);
		return false; /* EMFILE and the like: copying works without */
	}
	/* EPERM past the user's pipe-user-pages-soft: the default will do. */
	(void)fcntl(h->pipe[0], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
	int cap = fcntl(h->pipe[0], F_GETPIPE_SZ);
	h->pipe_cap = cap > 0 ? (size_t)cap : 65536;
	h->piped = 0;
	h->pipe_full = false;
	return true;
}

/* Write what direction d's pipe holds. Returns 0, or -errno. */
static int pipe_flush(struct relay *r, enum relay_dir d)
{
	struct relay_half *h = &r->half[d];
	int fd = r->fd[dst_of(d)];
	while (h->piped > 0) {
		ssize_t n =
		    splice(h->pipe[0], NULL, fd, NULL, h->piped, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0) {
			int err = write_failed(r, d);
			if (err > 0)
				continue;
			return err;
		}
		h->piped -= (size_t)n;
		h->pipe_full = false;
		wrote(r, d, (size_t)n);
	}
	return 0;
}

/* Whether direction d's destination can be written to: the backend exists
 * and is connected. */
static bool dst_open(const struct relay *r, enum relay_dir d)
{
	return d == RELAY_DOWN || (r->fd[1] >= 0 && !r->connecting);
}

/* The fixed buffer again, once a grown one is empty. */
static void half_shrink(struct relay_half *h)
{
	if (!h->big)
		return;
	free(h->big);
	h->big = NULL;
	h->data = h->buf;
	h->cap = sizeof(h->buf);
}

/* Held bytes that start after written ones move to the front, so that the
 * buffer has room for the rest of them; a buffer that they fill grows once
 * to hold_max. */
static void half_compact(struct relay *r, struct relay_half *h)
{
	if (h->start > 0 && h->start == h->ready) {
		memmove(h->data, h->data + h->start, h->end - h->start);
		h->ready -= h->start;
		h->seen -= h->start;
		h->end -= h->start;
		h->start = 0;
	}
	if (h->end == h->cap && h->start == 0 && h->ready == 0 && !h->big && r->hold_max > h->cap) {
		h->big = xmalloc(r->hold_max);
		memcpy(h->big, h->buf, h->end);
		h->data = h->big;
		h->cap = r->hold_max;
	}
}

/* Write what direction d holds. Returns 0, or -errno on a hard error. */
static int half_flush(struct relay *r, enum relay_dir d)
{
	struct relay_half *h = &r->half[d];
	int fd = r->fd[dst_of(d)];
	if (!dst_open(r, d))
		return 0;
	if (h->pipe[0] >= 0) {
		int err = pipe_flush(r, d);
		if (err < 0 || h->piped > 0)
			return err;
		if (h->eof)
			half_pipe_close(r, d); /* nothing more will come */
	}
	while (h->start < h->ready) {
		ssize_t n = send(fd, h->data + h->start, h->ready - h->start, MSG_NOSIGNAL);
		if (n < 0) {
			int err = write_failed(r, d);
			if (err > 0)
				continue;
			return err;
		}
		h->start += (size_t)n;
		wrote(r, d, (size_t)n);
	}
	if (h->ready == h->end) {
		h->start = h->ready = h->seen = h->end = 0;
		half_shrink(h);
	} else if (h->eof && !h->paused) {
		/* Held bytes that the EOF left unfinished (a partial head) are
		 * never written. */
		h->start = h->ready = h->seen = h->end = 0;
		half_shrink(h);
	} else {
		return 0;
	}
	if (h->eof && !h->shut) {
		/* Everything before the EOF is out: pass the EOF on. When the
		 * other direction is finished as well, the relay closes both
		 * sockets right away and close() sends the FIN itself (nothing
		 * is left unread), so the shutdown() would be a wasted call. */
		h->shut = true;
		if (!r->half[!d].shut && shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
			return side_error(r, dst_of(d), errno);
	}
	return 0;
}

/* Whether direction d may read: its buffer, or its pipe, has room. */
static bool half_room(const struct relay_half *h)
{
	if (h->eof || h->paused)
		return false;
	if (h->pipe[0] >= 0)
		return !h->pipe_full && h->piped < h->pipe_cap;
	return h->end < h->cap;
}

/* Whether direction d holds bytes for its destination. */
static bool half_pending(const struct relay_half *h)
{
	return h->ready > h->start || h->piped > 0;
}

/* half_pump() for a splicing direction: source -> pipe -> destination. */
static int pipe_pump(struct relay *r, enum relay_dir d)
{
	struct relay_half *h = &r->half[d];
	int fd = r->fd[src_of(d)];
	while (half_room(h)) {
		size_t room = h->pipe_cap - h->piped;
		ssize_t n =
		    splice(fd, NULL, h->pipe[1], NULL, room, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* With bytes in it the pipe may be out of slots
				 * (a partly filled page takes one whole): wait for
				 * the destination, not the (readable) source. */
				if (h->piped > 0)
					h->pipe_full = true;
				break;
			}
			if ((errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) &&
			    h->piped == 0) {
				/* These sockets do not splice: copy, for good. */
				h->no_splice = true;
				half_pipe_close(r, d);
				return 1;
			}
			return side_error(r, src_of(d), errno);
		}
		if (n == 0) {
			h->eof = true;
			break;
		}
		h->piped += (size_t)n;
		r->last_activity = ev_now(r->loop);
		int err = pipe_flush(r, d);
		if (err < 0)
			return err;
		if (h->piped > 0 || (size_t)n < room)
			break; /* the destination is full, or the source drained */
	}
	return half_flush(r, d);
}

/* A byte came from the backend. */
static void backend_spoke(struct relay *r)
{
	if (r->backend_spoke)
		return;
	r->backend_spoke = true;
	if (r->ops->first_byte)
		r->ops->first_byte(r);
}

/* One recv() from direction d's source into buf (room bytes): the count
 * read (> 0; the activity is noted), 0 at EOF (h->eof set), -EAGAIN when
 * nothing is there, or another -errno of the source side. */
static ssize_t half_recv(struct relay *r, enum relay_dir d, char *buf, size_t room)
{
	for (;;) {
		ssize_t n = recv(r->fd[src_of(d)], buf, room, 0);
		if (n > 0) {
			r->last_activity = ev_now(r->loop);
			if (d == RELAY_DOWN)
				backend_spoke(r);
			return n;
		}
		if (n == 0) {
			r->half[d].eof = true;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		return side_error(r, src_of(d), errno);
	}
}

/* half_pump() for a filtered direction: every byte read goes to the filter
 * before any is written; held bytes stay in the buffer. */
static int filtered_pump(struct relay *r, enum relay_dir d)
{
	struct relay_half *h = &r->half[d];
	bool drained = false;
	for (;;) {
		if (h->filter && (h->seen < h->end || (h->eof && !h->eof_told)) && !h->paused) {
			h->eof_told = h->eof;
			int err = r->ops->filter(r, d);
			if (err < 0)
				return side_error(r, src_of(d), -err);
		}
		if (!h->filter) {
			h->seen = h->ready = h->end; /* a tunnel now: no more holding */
			h->eof_told = h->eof;
		}
		int err = half_flush(r, d);
		if (err < 0)
			return err;
		half_compact(r, h);
		if (drained || !half_room(h) || (h->ready > h->start && !dst_open(r, d)))
			break;
		size_t room = h->cap - h->end;
		ssize_t n = half_recv(r, d, h->data + h->end, room);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		if (n == 0)
			continue; /* EOF: the filter hears of it */
		h->end += (size_t)n;
		/* A short read drained the socket (level-triggered watcher): no
		 * recv() that would only say EAGAIN. */
		drained = (size_t)n < room;
	}
	return 0;
}

/* Read into direction d while there is room, writing out as we go so one
 * wake-up moves as much as the kernel allows. Returns 0 or -errno. */
static int half_pump(struct relay *r, enum relay_dir d)
{
	struct relay_half *h = &r->half[d];
	if (h->filter || h->big || h->ready < h->end)
		return filtered_pump(r, d);
	if (h->pipe[0] >= 0) {
		int err = pipe_pump(r, d);
		if (err <= 0)
			return err;
		/* 1: splice does not apply; go on copying */
	}
	while (!h->eof && h->end < sizeof(h->buf)) {
		size_t room = sizeof(h->buf) - h->end;
		ssize_t n = half_recv(r, d, h->buf + h->end, room);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		if (n == 0)
			break; /* EOF */
		h->end += (size_t)n;
		h->ready = h->seen = h->end;
		if (!dst_open(r, d))
			break; /* keep it until the backend is connected */
		int err = half_flush(r, d);
		if (err < 0)
			return err;
		if (h->end > h->start)
			break; /* the destination is full: wait for it */
		/* A short read drained the socket: the watcher is level-triggered,
		 * so skip the recv() that would only say EAGAIN. */
		if ((size_t)n < room) {
			h->full_reads = 0;
			break;
		}
		/* A whole buffer, and the destination took it all: after a few of
		 * those in a row this is a bulk stream, which splices. */
		if (room == sizeof(h->buf) && !h->no_splice &&
		    ++h->full_reads >= RELAY_SPLICE_AFTER && half_pipe_open(r, d)) {
			int perr = pipe_pump(r, d);
			return perr > 0 ? half_pump(r, d) : perr;
		}
	}
	return half_flush(r, d);
}

/* Which watchers run follows from the buffers: read a source only while its
 * buffer has room, write a destination only while it has data to take. */
static void relay_update(struct relay *r)
{
	struct relay_half *up = &r->half[RELAY_UP], *down = &r->half[RELAY_DOWN];
	bool backend = r->fd[1] >= 0;
	if ((up->shut && down->shut) || (!backend && up->eof)) {
		relay_finish(r, 0);
		return;
	}
	watcher_set(r, &r->rio[0], half_room(up));
	watcher_set(r, &r->rio[1], backend && !r->connecting && half_room(down));
	watcher_set(r, &r->wio[1], backend && (r->connecting || half_pending(up)));
	watcher_set(r, &r->wio[0], half_pending(down));
}

/* The backend connect() completed: 0, or -errno when it failed (the caller
 * then finishes the relay). */
static int on_connected(struct relay *r)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(r->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		return side_error(r, RELAY_BACKEND, err);
	r->connecting = false;
	return 0;
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct relay *r = w->data;
	int err = 0;
	if (w == &r->wio[1] && r->connecting) {
		/* relay_finish() may free r: nothing touches it after. */
		err = on_connected(r);
		if (err == 0)
			err = half_flush(r, RELAY_UP);
	} else if (w == &r->rio[0]) {
		err = half_pump(r, RELAY_UP);
	} else if (w == &r->rio[1]) {
		err = half_pump(r, RELAY_DOWN);
	} else if (w == &r->wio[1]) {
		err = half_flush(r, RELAY_UP);
	} else {
		err = half_flush(r, RELAY_DOWN);
		if (err == 0 && r->ops->flushed && !relay_holds(r, RELAY_DOWN))
			r->ops->flushed(r, RELAY_DOWN);
	}
	if (err < 0) {
		relay_finish(r, err);
		return;
	}
	relay_update(r);
}

static void on_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct relay *r = w->data;
	ev_tstamp left = r->last_activity + r->idle_timeout - ev_now(loop);
	if (left > 0) {
		/* Bytes moved since the timer was set: sleep for the rest. */
		w->repeat = left;
		ev_timer_again(loop, w);
		return;
	}
	relay_finish(r, -ETIMEDOUT);
}

void relay_start(struct relay *r, struct ev_loop *loop, int client_fd, int backend_fd,
		 bool connecting, uint64_t idle_timeout_ms, const struct relay_ops *ops, void *data)
{
	assert(r && loop && ops && ops->done && client_fd >= 0);
	r->loop = loop;
	r->fd[0] = client_fd;
	r->fd[1] = backend_fd;
	r->connecting = connecting;
	r->finished = false;
	r->backend_spoke = false;
	r->err_side = RELAY_CLIENT;
	r->ops = ops;
	r->data = data;
	r->hold_max = 0;
	for (int i = 0; i < 2; i++) {
		r->half[i].data = r->half[i].buf;
		r->half[i].big = NULL;
		r->half[i].cap = sizeof(r->half[i].buf);
		r->half[i].ready = r->half[i].seen = 0;
		r->half[i].filter = r->half[i].paused = r->half[i].eof_told = false;
		r->half[i].start = r->half[i].end = 0;
		r->half[i].eof = r->half[i].shut = false;
		r->half[i].no_splice = r->half[i].pipe_full = false;
		r->half[i].full_reads = 0;
		r->half[i].pipe[0] = r->half[i].pipe[1] = -1;
		r->half[i].piped = r->half[i].pipe_cap = 0;
		ev_io_init(&r->rio[i], on_io, r->fd[i], EV_READ);
		ev_io_init(&r->wio[i], on_io, r->fd[i], EV_WRITE);
		r->rio[i].data = r->wio[i].data = r;
	}
	r->last_activity = ev_now(loop);
	ev_init(&r->idle, on_idle);
	r->idle.data = r;
	r->idle_timeout = 0;
	if (idle_timeout_ms && idle_timeout_ms != ZP_INFINITY) {
		r->idle_timeout = (ev_tstamp)idle_timeout_ms / 1000.0;
		r->idle.repeat = r->idle_timeout;
		ev_timer_again(loop, &r->idle);
	}
	relay_update(r);
}

void relay_set_filter(struct relay *r, size_t hold_max)
{
	r->hold_max = hold_max;
	r->half[RELAY_UP].filter = r->half[RELAY_DOWN].filter = true;
	r->half[RELAY_UP].no_splice = r->half[RELAY_DOWN].no_splice = true;
}

void relay_attach(struct relay *r, int backend_fd, bool connecting)
{
	assert(r->fd[1] < 0 && backend_fd >= 0);
	r->fd[1] = backend_fd;
	r->connecting = connecting;
	ev_io_set(&r->rio[1], backend_fd, EV_READ);
	ev_io_set(&r->wio[1], backend_fd, EV_WRITE);
	r->last_activity = ev_now(r->loop);
	relay_resume(r, RELAY_UP);
}

void relay_detach(struct relay *r)
{
	struct relay_half *down = &r->half[RELAY_DOWN], *up = &r->half[RELAY_UP];
	assert(r->fd[1] >= 0 && !r->connecting && !relay_holds(r, RELAY_DOWN));
	assert(!up->eof && !down->eof && up->pipe[0] < 0);
	ev_io_stop(r->loop, &r->rio[1]);
	ev_io_stop(r->loop, &r->wio[1]);
	close(r->fd[1]);
	r->fd[1] = -1;
	down->start = down->ready = down->seen = down->end = 0;
	down->eof_told = down->shut = false;
	down->full_reads = 0;
	up->shut = false;
	r->backend_spoke = false;
}

void relay_resume(struct relay *r, enum relay_dir d)
{
	struct relay_half *h = &r->half[d];
	h->paused = false;
	/* Bytes read past what paused it wait for the filter, and the watchers
	 * are set again: from the loop, where an error may finish the relay
	 * (so this may be called from the filter). */
	ev_feed_event(r->loop, &r->rio[src_of(d)], EV_READ);
}

void relay_end_input(struct relay *r, enum relay_dir d)
{
	struct relay_half *h = &r->half[d];
	h->eof = h->eof_told = true;
	h->paused = false;
	if (r->fd[dst_of(d)] >= 0)
		ev_feed_event(r->loop, &r->wio[dst_of(d)], EV_WRITE);
}

bool relay_holds(const struct relay *r, enum relay_dir d)
{
	const struct relay_half *h = &r->half[d];
	return h->end > h->start || h->piped > 0;
}

int relay_take_client(struct relay *r)
{
	int fd = r->fd[0];
	/* ev_io_stop() also drops an event relay_resume() fed. */
	ev_io_stop(r->loop, &r->rio[0]);
	ev_io_stop(r->loop, &r->wio[0]);
	r->fd[0] = -1;
	return fd;
}

void relay_close(struct relay *r)
{
	for (int i = 0; i < 2; i++) {
		if (r->loop)
			half_pipe_close(r, (enum relay_dir)i);
		if (r->loop) {
			/* ev_io_stop() also drops an event relay_resume() fed. */
			ev_io_stop(r->loop, &r->rio[i]);
			ev_io_stop(r->loop, &r->wio[i]);
		}
		if (r->fd[i] >= 0) {
			close(r->fd[i]);
			r->fd[i] = -1;
		}
		half_shrink(&r->half[i]);
	}
	if (r->loop)
		ev_timer_stop(r->loop, &r->idle);
}
