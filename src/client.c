/*
 * client — `zeroproxy status/start/stop/reload`: connect to the control
 * socket, send one line, read until EOF and print.
 *
 * Blocking on purpose (it is a command, not the daemon), but never forever:
 * a receive and send timeout keep a hung daemon from hanging the command, and
 * the answer is bounded.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "control.h"
#include "strbuf.h"

#define CLIENT_TIMEOUT      10          /* s: for an answer from the daemon */
#define CLIENT_MAX_RESPONSE (64u << 20) /* bytes of an answer, at most */

static int client_fail_connect(const char *path, int err)
{
	if (err == ENOENT || err == ECONNREFUSED)
		fprintf(stderr, "zeroproxy: cannot reach %s: %s \u2014 is zeroproxy running?\n",
			path, strerror(err));
	else
		fprintf(stderr, "zeroproxy: cannot reach %s: %s\n", path, strerror(err));
	return 1;
}

/* Build "WORD WORD...\n"; words must be non-empty and free of blanks. */
static int client_request(int argc, char **argv, struct strbuf *req)
{
	if (argc < 1) {
		fprintf(stderr, "zeroproxy: no command given\n");
		return -EINVAL;
	}
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] == '\0' || strpbrk(argv[i], " \t\r\n")) {
			fprintf(stderr, "zeroproxy: invalid argument \"%s\"\n", argv[i]);
			return -EINVAL;
		}
		if (i)
			sb_append(req, " ", 1);
		sb_puts(req, argv[i]);
	}
	sb_append(req, "\n", 1);
	if (req->len > CONTROL_MAX_REQUEST) {
		fprintf(stderr, "zeroproxy: request longer than %d bytes\n", CONTROL_MAX_REQUEST);
		return -E2BIG;
	}
	return 0;
}

int client_run(const char *socket_path, int argc, char **argv)
{
	struct strbuf req = {0}, resp = {0};
	int fd = -1, ret = 1;

	if (client_request(argc, argv, &req) < 0)
		goto out;

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(socket_path);
	if (len == 0 || len >= sizeof(sa.sun_path)) {
		fprintf(stderr, "zeroproxy: cannot reach %s: %s\n", socket_path,
			strerror(ENAMETOOLONG));
		goto out;
	}
	memcpy(sa.sun_path, socket_path, len + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		client_fail_connect(socket_path, errno);
		goto out;
	}
	struct timeval tv = {.tv_sec = CLIENT_TIMEOUT};
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1)) < 0) {
		client_fail_connect(socket_path, errno);
		goto out;
	}

	for (size_t off = 0; off < req.len;) {
		ssize_t n = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "zeroproxy: cannot send to %s: %s\n", socket_path,
				strerror(errno == EAGAIN ? ETIMEDOUT : errno));
			goto out;
		}
		off += (size_t)n;
	}

	for (;;) {
		char buf[16384];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			fprintf(stderr, "zeroproxy: no answer from %s within %ds\n", socket_path,
				CLIENT_TIMEOUT);
			goto out;
		}
		/* A reset after the answer began (the daemon closed with bytes of
		 * ours unread) still leaves a complete answer: the daemon writes
		 * all of it before it closes. */
		if (n < 0 && errno == ECONNRESET && resp.len > 0)
			break;
		if (n < 0) {
			fprintf(stderr, "zeroproxy: reading from %s: %s\n", socket_path,
				strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (resp.len + (size_t)n > CLIENT_MAX_RESPONSE) {
			fprintf(stderr, "zeroproxy: answer from %s too long\n", socket_path);
			goto out;
		}
		sb_append(&resp, buf, (size_t)n);
	}

	if (resp.len == 0) {
		fprintf(stderr, "zeroproxy: %s closed the connection without an answer\n",
			socket_path);
		goto out;
	}
	char *nl = memchr(resp.data, '\n', resp.len);
	size_t head_len = nl ? (size_t)(nl - resp.data) : resp.len;
	const char *body = nl ? nl + 1 : resp.data + resp.len;
	size_t body_len = resp.len - (size_t)(body - resp.data);

	if (head_len == 2 && memcmp(resp.data, "ok", 2) == 0) {
		fwrite(body, 1, body_len, stdout);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "zeroproxy: writing the answer: %s\n", strerror(errno));
			goto out;
		}
		ret = 0;
	} else if (head_len > 6 && memcmp(resp.data, "error ", 6) == 0) {
		fprintf(stderr, "zeroproxy: %.*s\n", (int)(head_len - 6), resp.data + 6);
		fwrite(body, 1, body_len, stderr);
	} else {
		fprintf(stderr, "zeroproxy: unexpected answer from %s: %.*s\n", socket_path,
			(int)(head_len > 80 ? 80 : head_len), resp.data);
	}

out:
	if (fd >= 0)
		close(fd);
	sb_free(&req);
	sb_free(&resp);
	return ret;
}
