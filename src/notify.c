/*
 * notify — sd_notify in both directions; see notify.h.
 */
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "util.h"

struct notify_server {
	int fd; /* the datagram socket */
	ev_io io;
	struct ev_loop *loop;
	char path[64]; /* "@" and the kernel-chosen abstract name */
	notify_cb cb;
	void *data;
};

void notify_systemd(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* unset_environment=0: reloads and shutdown notify too. */
	int r = sd_notify(0, msg);
	if (r < 0)
		log_debug("sd_notify: %s", strerror(-r));
}

static void on_message(struct ev_loop *loop, ev_io *w, int revents)
{
	struct notify_server *n = w->data;
	/* A bounded number per wake-up, so a chatty backend cannot starve the loop. */
	for (int i = 0; i < 32; i++) {
		char buf[4096];
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
		} ctl;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = &ctl,
				    .msg_controllen = sizeof(ctl)};
		ssize_t len = recvmsg(n->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
		if (len < 0)
			return;
		struct ucred *cred = NULL;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET)
				continue;
			if (c->cmsg_type == SCM_CREDENTIALS &&
			    c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
				cred = (struct ucred *)CMSG_DATA(c);
			else if (c->cmsg_type == SCM_RIGHTS) {
				/* fd-store messages: we keep no fds for backends. */
				int nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
				int *fds = (int *)CMSG_DATA(c);
				for (int k = 0; k < nfd; k++)
					close(fds[k]);
			}
		}
		if (!cred || (size_t)len >= sizeof(buf) || (mh.msg_flags & MSG_TRUNC))
			continue;
		buf[len] = '\0';
		n->cb(n->data, cred->pid, buf);
	}
}

int notify_server_new(struct ev_loop *loop, notify_cb cb, void *data, struct notify_server **out)
{
	struct notify_server *n = xcalloc(1, sizeof(*n));
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		int err = -errno;
		free(n);
		return err;
	}
	int one = 1;
	(void)setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)); /* AF_UNIX takes it */
	/* Abstract, and named by the kernel (autobind): nothing to clean up in
	 * the file system, and no other local user can take the name first. */
	sa_family_t family = AF_UNIX;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t len = sizeof(sun);
	if (bind(n->fd, (struct sockaddr *)&family, sizeof(family)) < 0 ||
	    getsockname(n->fd, (struct sockaddr *)&sun, &len) < 0 ||
	    len <= offsetof(struct sockaddr_un, sun_path) + 1) {
		int err = errno ? -errno : -EINVAL;
		close(n->fd);
		free(n);
		return err;
	}
	size_t plen = len - offsetof(struct sockaddr_un, sun_path); /* with the leading NUL */
	if (plen >= sizeof(n->path))
		plen = sizeof(n->path) - 1;
	n->path[0] = '@';
	memcpy(n->path + 1, sun.sun_path + 1, plen - 1);
	n->path[plen] = '\0';
	n->loop = loop;
	n->cb = cb;
	n->data = data;
	ev_io_init(&n->io, on_message, n->fd, EV_READ);
	n->io.data = n;
	ev_io_start(loop, &n->io);
	*out = n;
	return 0;
}

const char *notify_server_path(const struct notify_server *n)
{
	return n->path;
}

void notify_server_free(struct notify_server *n)
{
	if (!n)
		return;
	ev_io_stop(n->loop, &n->io);
	close(n->fd);
	free(n);
}

const char *notify_field(const char *msg, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	for (const char *p = msg; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			const char *v = p + klen + 1;
			size_t vlen = strcspn(v, "\n");
			if (vlen >= len)
				vlen = len - 1;
			memcpy(buf, v, vlen);
			buf[vlen] = '\0';
			return buf;
		}
	}
	return NULL;
}
