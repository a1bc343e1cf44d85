/*
 * control — the control socket server inside the daemon; the protocol is in
 * control.h, the client that `zeroproxy status/start/stop/reload` run is
 * client.c. What it asks of the engine goes through a server_ops table.
 *
 * The server lives on the daemon's libev loop and must never let a client stall
 * it: every client fd is non-blocking, a request is read into a fixed 4096-byte
 * buffer (longer: "error request too long"), a client that stays silent is
 * dropped after a few seconds, the answer is written as the socket accepts it,
 * and the number of clients at once is capped. Memory per client is therefore
 * bounded by the request buffer plus one answer (bounded by what status
 * produces for the configured services).
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "status.h"
#include "strbuf.h"
#include "util.h"

#define CONTROL_MAX_CLIENTS    32  /* clients served at once; more are turned away */
#define CONTROL_TIMEOUT        5.0 /* s: silent client, or no write progress */
#define CONTROL_ACCEPT_BACKOFF 1.0 /* s: pause accepting after EMFILE and the like */

struct control_conn {
	struct control_server *srv;
	struct control_conn *prev, *next; /* in srv->conns */
	int fd;
	ev_io io;                     /* EV_READ for the request, then EV_WRITE */
	ev_timer timer;               /* silence while reading, no progress while writing */
	char in[CONTROL_MAX_REQUEST]; /* the request as read so far */
	size_t in_len;
	char *out; /* the whole answer once the request is handled */
	size_t out_len;
	size_t out_pos; /* bytes of out already written */
};

struct control_server {
	struct ev_loop *loop;
	const struct server_ops *ops;
	void *data; /* for ops */
	char *path; /* the socket file */
	int fd;     /* the listening socket */
	dev_t dev;  /* identity of the socket file we bound, so that */
	ino_t ino;  /* free never removes somebody else's */
	ev_io accept_io;
	ev_timer backoff; /* restarts accept_io after a resource shortage */
	struct control_conn *conns;
	size_t n_conns;
};

/* Read and drop what the client sent and we did not read: closing a unix
 * socket with unread data makes the peer's reads fail with ECONNRESET, and the
 * client would lose the answer it was given. Bounded, never blocks. */
static void drain_and_close(int fd)
{
	char buf[4096];
	for (int i = 0; i < 4; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
	close(fd);
}

static void control_conn_free(struct control_conn *c)
{
	struct control_server *srv = c->srv;
	ev_io_stop(srv->loop, &c->io);
	ev_timer_stop(srv->loop, &c->timer);
	if (c->fd >= 0)
		drain_and_close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	free(c->out);
	free(c);
}

/* Write as much of the answer as the socket takes: 0 when it is all out,
 * -EAGAIN when the rest must wait for EV_WRITE, or -errno when the client
 * went away (logged; it is done with either way). */
static int control_conn_flush(struct control_conn *c)
{
	while (c->out_pos < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_pos += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		int r = n < 0 ? -errno : -EPIPE;
		log_debug("control: client went away before its answer: %s",
			  n < 0 ? strerror(-r) : "short write");
		return r;
	}
	return 0;
}

static void append_errors(struct strbuf *sb, char *const *lines, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sb_puts(sb, lines[i]);
		sb_append(sb, "\n", 1);
	}
}

static void handle_status(const struct server_ops *ops, void *data, char **args, size_t n,
			  struct strbuf *out)
{
	bool json = false;
	size_t n_names = 0;

	/* Options and names may come in any order; names are compacted in place. */
	for (size_t i = 0; i < n; i++) {
		if (strcmp(args[i], "--json") == 0)
			json = true;
		else if (args[i][0] == '-') {
			sb_printf(out, "error unknown option %s\n", args[i]);
			return;
		} else
			args[n_names++] = args[i];
	}

	struct service_status *st = NULL;
	size_t nst = 0;
	const char *unknown = NULL;
	int r = ops->status(data, args, n_names, &st, &nst, &unknown);
	if (r == -ENOENT) {
		sb_printf(out, "error unknown service %s\n", unknown ? unknown : "?");
		return;
	}
	if (r < 0) {
		sb_printf(out, "error cannot read status: %s\n", strerror(-r));
		return;
	}
	sb_puts(out, "ok\n");
	const char *reload_error = ops->reload_error(data);
	if (json)
		status_format_json_daemon(st, nst, reload_error, out);
	else
		status_format_table_daemon(st, nst, reload_error, out);
	for (size_t i = 0; i < nst; i++)
		service_status_free(&st[i]);
	free(st);
}

static void handle_start_stop(const struct server_ops *ops, void *data, const char *cmd,
			      char **args, size_t n, struct strbuf *out)
{
	bool start = strcmp(cmd, "start") == 0;
	if (n != 1) {
		sb_printf(out, "error usage: %s SERVICE\n", cmd);
		return;
	}
	log_info("control: %s %s requested", cmd, args[0]);
	int r = start ? ops->start(data, args[0]) : ops->stop(data, args[0]);
	if (r == -ENOENT)
		sb_printf(out, "error unknown service %s\n", args[0]);
	else if (r < 0)
		sb_printf(out, "error cannot %s %s: %s\n", cmd, args[0], strerror(-r));
	else
		sb_puts(out, "ok\n");
}

static void handle_reload(const struct server_ops *ops, void *data, size_t n, struct strbuf *out)
{
	if (n != 0) {
		sb_puts(out, "error usage: reload\n");
		return;
	}
	log_info("control: reload requested");
	struct diag diag = {0};
	int r = ops->reload(data, &diag);
	if (r == -EINVAL) {
		sb_puts(out, "error configuration invalid\n");
		append_errors(out, diag.errors, diag.n_errors);
	} else if (r < 0) {
		sb_printf(out, "error reload failed: %s\n", strerror(-r));
		append_errors(out, diag.errors, diag.n_errors);
	} else {
		sb_puts(out, "ok\n");
		append_errors(out, diag.warnings, diag.n_warnings);
	}
	diag_free(&diag);
}

void control_handle_request(const struct server_ops *ops, void *data, char *line,
			    struct strbuf *out)
{
	char *words[CONTROL_MAX_REQUEST / 2 + 1];
	size_t n = 0;
	char *save = NULL;

	for (char *w = strtok_r(line, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
		if (n == ZP_ARRAY_SIZE(words)) { /* only a caller other than the server */
			sb_puts(out, "error request too long\n");
			return;
		}
		words[n++] = w;
	}
	if (n == 0) {
		sb_puts(out, "error empty request\n");
		return;
	}
	if (strcmp(words[0], "status") == 0)
		handle_status(ops, data, words + 1, n - 1, out);
	else if (strcmp(words[0], "start") == 0 || strcmp(words[0], "stop") == 0)
		handle_start_stop(ops, data, words[0], words + 1, n - 1, out);
	else if (strcmp(words[0], "reload") == 0)
		handle_reload(ops, data, n - 1, out);
	else
		sb_printf(out, "error unknown command %.64s\n", words[0]);
}

static void control_conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);

/* Switch the client from reading to writing `out`, and write what fits now. */
static void control_conn_respond(struct control_conn *c, struct strbuf *out)
{
	struct control_server *srv = c->srv;
	c->out_len = out->len;
	c->out = sb_steal(out);
	c->out_pos = 0;
	ev_io_stop(srv->loop, &c->io);
	if (control_conn_flush(c) != -EAGAIN) {
		control_conn_free(c);
		return;
	}
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(srv->loop, &c->io);
	ev_timer_again(srv->loop, &c->timer);
}

static void control_conn_read(struct control_conn *c)
{
	struct strbuf out = {0};
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			log_debug("control: read from client: %s", strerror(errno));
			control_conn_free(c);
			return;
		}
		if (n == 0) {
			/* EOF: a request without its final newline still counts. */
			if (c->in_len == 0) {
				control_conn_free(c);
				return;
			}
			break;
		}
		char *nl = memchr(c->in + c->in_len, '\n', (size_t)n);
		c->in_len += (size_t)n;
		if (nl) {
			c->in_len = (size_t)(nl - c->in);
			break;
		}
		if (c->in_len == sizeof(c->in)) {
			log_warning("control: request longer than %d bytes refused",
				    CONTROL_MAX_REQUEST);
			sb_puts(&out, "error request too long\n");
			control_conn_respond(c, &out);
			return;
		}
	}

	/* The line fits: its "\n" was inside the buffer, or EOF came before it
	 * filled. Make it a C string (a stray NUL only shortens it). */
	char line[CONTROL_MAX_REQUEST + 1];
	memcpy(line, c->in, c->in_len);
	line[c->in_len] = '\0';
	control_handle_request(c->srv->ops, c->srv->data, line, &out);
	control_conn_respond(c, &out);
}

static void control_conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_conn *c = w->data;
	(void)loop;
	if (c->out) {
		size_t before = c->out_pos;
		if (control_conn_flush(c) != -EAGAIN) {
			control_conn_free(c);
			return;
		}
		if (c->out_pos != before)
			ev_timer_again(c->srv->loop, &c->timer);
		return;
	}
	if (revents & EV_READ)
		control_conn_read(c);
}

static void control_conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control_conn *c = w->data;
	(void)loop;
	(void)revents;
	log_debug("control: client %s, dropped", c->out ? "stopped reading" : "sent no request");
	control_conn_free(c);
}

static void control_conn_new(struct control_server *srv, int fd)
{
	struct control_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	ev_io_init(&c->io, control_conn_io_cb, fd, EV_READ);
	c->io.data = c;
	/* Reading: one deadline for the whole request (a trickle cannot extend
	 * it); writing: restarted by ev_timer_again on every bit of progress. */
	ev_timer_init(&c->timer, control_conn_timer_cb, CONTROL_TIMEOUT, CONTROL_TIMEOUT);
	c->timer.data = c;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	ev_io_start(srv->loop, &c->io);
	ev_timer_start(srv->loop, &c->timer);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_server *srv = w->data;
	(void)revents;

	/* A bounded batch, so that a flood of clients cannot starve the loop. */
	for (int i = 0; i < 16; i++) {
		int fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno_out_of_resources(errno)) {
				/* The listener would stay readable and spin the loop:
				 * pause it and try again later. */
				log_warning("control: accept: %s; pausing for %.0fs",
					    strerror(errno), CONTROL_ACCEPT_BACKOFF);
				ev_io_stop(loop, &srv->accept_io);
				ev_timer_set(&srv->backoff, CONTROL_ACCEPT_BACKOFF, 0.);
				ev_timer_start(loop, &srv->backoff);
				return;
			}
			log_error("control: accept: %s", strerror(errno));
			return;
		}
		if (srv->n_conns >= CONTROL_MAX_CLIENTS) {
			static const char busy[] = "error too many clients\n";
			ssize_t r = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)r;
			drain_and_close(fd);
			log_warning("control: more than %d clients at once, one turned away",
				    CONTROL_MAX_CLIENTS);
			continue;
		}
		control_conn_new(srv, fd);
	}
}

static void backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control_server *srv = w->data;
	(void)revents;
	ev_io_start(loop, &srv->accept_io);
}

/* mkdir -p for the socket's folder; 0 or -errno. */
static int make_parent_dirs(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int r = 0;
	if (slash && slash != dir) {
		*slash = '\0';
		r = mkdir_p(dir, 0755);
		struct stat st;
		if (r == 0 && stat(dir, &st) < 0)
			r = -errno;
		else if (r == 0 && !S_ISDIR(st.st_mode))
			r = -ENOTDIR;
	}
	free(dir);
	return r;
}

/* Whether a daemon answers at path. A socket file nobody listens on (a crashed
 * run's) is removed; anything that is not a socket is left alone. 0 when the
 * path is free now, else -errno (logged). */
static int clear_stale_socket(const char *path, const struct sockaddr_un *sa, socklen_t salen)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		int r = -errno;
		log_error("control socket %s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("control socket %s: exists and is not a socket; not touching it", path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int r = -errno;
		log_error("control socket %s: socket: %s", path, strerror(-r));
		return r;
	}
	int r = connect(fd, (const struct sockaddr *)sa, salen) < 0 ? -errno : 0;
	close(fd);
	if (r == 0) {
		log_error("control socket %s: another zeroproxy is running and listening there",
			  path);
		return -EADDRINUSE;
	}
	if (r != -ECONNREFUSED) {
		log_error("control socket %s: cannot tell whether it is in use: %s", path,
			  strerror(-r));
		return r;
	}
	log_info("control socket %s: removing the stale socket of an earlier run", path);
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		log_error("control socket %s: cannot remove stale socket: %s", path, strerror(-r));
		return r;
	}
	return 0;
}

int control_server_new(struct ev_loop *loop, const char *path, const struct server_ops *ops,
		       void *data, struct control_server **out)
{
	assert(loop);
	assert(path);
	assert(ops);
	assert(out);

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(sa.sun_path)) {
		log_error("control socket %s: path empty or longer than %zu bytes", path,
			  sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, len + 1);
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);

	int r = make_parent_dirs(path);
	if (r < 0) {
		log_error("control socket %s: cannot create its directory: %s", path, strerror(-r));
		return r;
	}
	r = clear_stale_socket(path, &sa, salen);
	if (r < 0)
		return r;

	struct control_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->loop = loop;
	srv->ops = ops;
	srv->data = data;
	srv->fd = -1;
	srv->path = strdup(path);
	if (!srv->path) {
		r = -ENOMEM;
		goto fail;
	}

	srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->fd < 0) {
		r = -errno;
		log_error("control socket %s: socket: %s", path, strerror(-r));
		goto fail;
	}
	/* The file gets its mode from the umask at bind time: make it 0660 from
	 * the start rather than open for a moment (one thread, so the process-wide
	 * umask change is safe), then chmod in case the umask was stricter. */
	mode_t old_umask = umask(0117);
	r = bind(srv->fd, (const struct sockaddr *)&sa, salen) < 0 ? -errno : 0;
	umask(old_umask);
	if (r < 0) {
		log_error("control socket %s: bind: %s", path, strerror(-r));
		goto fail;
	}
	struct stat st;
	if (chmod(path, 0660) < 0 || stat(path, &st) < 0) {
		r = -errno;
		log_error("control socket %s: chmod: %s", path, strerror(-r));
		(void)unlink(path);
		goto fail;
	}
	srv->dev = st.st_dev;
	srv->ino = st.st_ino;
	if (listen(srv->fd, 64) < 0) {
		r = -errno;
		log_error("control socket %s: listen: %s", path, strerror(-r));
		(void)unlink(path);
		goto fail;
	}

	ev_io_init(&srv->accept_io, accept_cb, srv->fd, EV_READ);
	srv->accept_io.data = srv;
	ev_timer_init(&srv->backoff, backoff_cb, CONTROL_ACCEPT_BACKOFF, 0.);
	srv->backoff.data = srv;
	ev_io_start(loop, &srv->accept_io);
	log_debug("control socket %s: listening", path);
	*out = srv;
	return 0;

fail:
	if (srv->fd >= 0)
		close(srv->fd);
	free(srv->path);
	free(srv);
	return r;
}

void control_server_free(struct control_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		control_conn_free(srv->conns);
	ev_io_stop(srv->loop, &srv->accept_io);
	ev_timer_stop(srv->loop, &srv->backoff);
	if (srv->fd >= 0)
		close(srv->fd);
	/* Remove the file only if it is still ours: a second daemon started by
	 * mistake must not take the first one's socket away. */
	struct stat st;
	if (lstat(srv->path, &st) == 0 && st.st_dev == srv->dev && st.st_ino == srv->ino)
		(void)unlink(srv->path); /* at exit: nobody to tell */
	free(srv->path);
	free(srv);
}
