/*
 * listener — listening sockets; see listener.h.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "util.h"

#define LISTEN_BACKLOG 4096
#define ACCEPT_BATCH   64
#define EMFILE_PAUSE   0.1

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	for (int i = 0; i < ACCEPT_BATCH && ev_is_active(&l->io); i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno_out_of_resources(errno)) {
				/* Out of fds: the socket stays readable, so waiting on it would
				 * spin. Pause; the kernel queue holds the clients meanwhile. */
				log_error("listen %s: accept: %s; pausing %.0f ms", l->addr.text,
					  strerror(errno), EMFILE_PAUSE * 1000);
				ev_io_stop(loop, &l->io);
				ev_timer_set(&l->pause, EMFILE_PAUSE, 0);
				ev_timer_start(loop, &l->pause);
				return;
			}
			log_error("listen %s: accept: %s", l->addr.text, strerror(errno));
			return;
		}
		/* The relay writes what it has as soon as it has it: Nagle would
		 * hold back a short write behind an unacknowledged one. */
		if (l->tcp)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
		char peer[128];
		sockaddr_format((struct sockaddr *)&ss, len, peer, sizeof(peer));
		if (!l->on_accept(l, fd, peer)) {
			/* The rest wait in the kernel's queue until resumed. */
			listener_throttle(l);
			return;
		}
	}
}

static void on_pause_end(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct listener *l = w->data;
	if (l->on_accept && !l->throttled)
		ev_io_start(loop, &l->io);
}

int listener_new(struct ev_loop *loop, const struct addr *addr, int fd, struct listener **out)
{
	bool from_systemd = fd >= 0;
	if (from_systemd) {
		/* systemd hands sockets over blocking; we want neither blocking nor
		 * leaking them into backends. */
		int r = fd_set_nonblock(fd, true);
		if (r == 0)
			r = fd_set_cloexec(fd, true);
		if (r < 0)
			return r;
	} else {
		fd = addr_listen(addr, LISTEN_BACKLOG);
		if (fd < 0)
			return fd;
	}
	struct listener *l = xcalloc(1, sizeof(*l));
	l->addr = *addr;
	l->loop = loop;
	l->fd = fd;
	l->from_systemd = from_systemd;
	l->unlink_on_close = !from_systemd && addr->kind == ZP_ADDR_UNIX &&
			     ((struct sockaddr_un *)&addr->sa)->sun_path[0] == '/';
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	l->tcp = getsockname(l->fd, (struct sockaddr *)&ss, &sslen) == 0 &&
		 (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	ev_io_init(&l->io, on_readable, l->fd, EV_READ);
	l->io.data = l;
	ev_init(&l->pause, on_pause_end);
	l->pause.data = l;
	*out = l;
	return 0;
}

static void on_queued(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	listener_queued_cb cb = l->on_queued;
	listener_stop(l);
	cb(l);
}

void listener_watch(struct listener *l, listener_queued_cb cb, void *data)
{
	if (l->on_queued && ev_is_active(&l->io))
		return;
	listener_stop(l);
	l->on_queued = cb;
	l->data = data;
	ev_set_cb(&l->io, on_queued);
	ev_io_start(l->loop, &l->io);
}

void listener_start(struct listener *l, listener_accept_cb cb, void *data)
{
	/* A backend it was handed to (relay = no) got it blocking: accept4()
	 * on it must not wait. */
	(void)fd_set_nonblock(l->fd, true);
	l->on_accept = cb;
	l->data = data;
	if (!ev_is_active(&l->pause))
		ev_io_start(l->loop, &l->io);
}

void listener_stop(struct listener *l)
{
	ev_io_stop(l->loop, &l->io);
	ev_timer_stop(l->loop, &l->pause);
	ev_set_cb(&l->io, on_readable);
	l->on_accept = NULL;
	l->on_queued = NULL;
	l->throttled = false;
}

void listener_throttle(struct listener *l)
{
	if (l->on_queued)
		return; /* nothing is accepted: no fd to budget */
	l->throttled = true;
	ev_io_stop(l->loop, &l->io);
}

void listener_resume(struct listener *l)
{
	if (!l->throttled)
		return;
	l->throttled = false;
	if (l->on_accept && !ev_is_active(&l->pause))
		ev_io_start(l->loop, &l->io);
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	listener_stop(l);
	if (l->unlink_on_close)
		(void)unlink(((struct sockaddr_un *)&l->addr.sa)->sun_path);
	/* A socket from systemd stays open: the daemon owns it (a reload may
	 * hand it to a service again), and its number must not be reused. */
	if (!l->from_systemd)
		close(l->fd);
	free(l);
}
