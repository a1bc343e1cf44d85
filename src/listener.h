/*
 * listener — one listening socket of a service: bound by zeroproxy or adopted
 * from systemd. Accepts in batches; on EMFILE/ENFILE it pauses and retries
 * from a timer instead of spinning on a readable socket it cannot accept.
 */
#ifndef ZP_LISTENER_H
#define ZP_LISTENER_H

#include <ev.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "address.h"

struct listener;

/* A new client: fd is non-blocking and close-on-exec and now belongs to the
 * callee; peer is its address, formatted. Returns false to stop accepting
 * (the listener is then throttled until listener_resume()). */
typedef bool (*listener_accept_cb)(struct listener *l, int fd, const char *peer);

/* A connection waits in the queue of a watched listener (not accepted). The
 * watch has ended: watch again to hear of the next one. */
typedef void (*listener_queued_cb)(struct listener *l);

struct listener {
	struct addr addr;     /* as configured */
	int fd;               /* the listening socket */
	bool from_systemd;    /* adopted: never unlink or re-bind */
	bool unlink_on_close; /* a unix socket file we created */
	bool tcp;             /* TCP: clients get TCP_NODELAY */
	ev_io io;             /* readable: connections to accept */
	ev_timer pause;       /* EMFILE back-off */
	bool throttled;       /* the owner asked to stop accepting */
	struct ev_loop *loop;
	listener_accept_cb on_accept;
	listener_queued_cb on_queued; /* watched, not accepting (relay = no) */
	void *data;                   /* the owning service */
	unsigned front;               /* host routing: its route table's id (reload.c), 0: none */
	size_t front_max_header;      /* ... the largest max_header_size of its services */
};

/* A listener for addr: a socket systemd passed (fd >= 0) or a new one bound
 * now (fd < 0). Not yet accepting. 0 with it in *out, or -errno (not logged:
 * the caller knows which service it is for). */
int listener_new(struct ev_loop *loop, const struct addr *addr, int fd, struct listener **out);

/* Start/stop accepting. */
void listener_start(struct listener *l, listener_accept_cb cb, void *data);
void listener_stop(struct listener *l);

/* Watch instead of accepting: cb once when a connection is queued; the
 * owner's backend accepts it. listener_stop() ends the watch. */
void listener_watch(struct listener *l, listener_queued_cb cb, void *data);

/* Stop accepting until listener_resume(), as when the callback returned
 * false (the owner's budget is used up). */
void listener_throttle(struct listener *l);

/* Accept again after the callback throttled the listener. */
void listener_resume(struct listener *l);

/* Stop, close (not a socket from systemd: the daemon keeps those), and
 * remove a unix socket file we created. */
void listener_free(struct listener *l);

#endif
