/*
 * address — parsing of the address forms of the configuration (HOST:PORT,
 * [V6]:PORT, *:PORT, unix:/path, unix:@abstract, systemd:NAME) into socket
 * addresses, and the two socket operations on them every module needs:
 * listen (with stale unix socket replacement) and a non-blocking connect.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "address.h"
#include "util.h"

/* The generic reason, by which forms the caller accepts. */
static const char *addr_expected(bool allow_systemd, bool allow_any)
{
	if (allow_systemd && allow_any)
		return "expected HOST:PORT, [V6]:PORT, *:PORT, unix:/PATH or systemd:NAME";
	if (allow_systemd)
		return "expected HOST:PORT, [V6]:PORT, unix:/PATH or systemd:NAME";
	if (allow_any)
		return "expected HOST:PORT, [V6]:PORT, *:PORT or unix:/PATH";
	return "expected HOST:PORT, [V6]:PORT or unix:/PATH";
}

/* A decimal port 1..65535, nothing else. */
static int parse_port(const char *s, in_port_t *port)
{
	uint64_t v;

	if (parse_uint(s, 65535, &v) < 0 || v == 0)
		return -EINVAL;
	*port = htons((uint16_t)v);
	return 0;
}

static int parse_unix(const char *path, struct addr *a, const char **err)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
	size_t n = strlen(path);

	un->sun_family = AF_UNIX;
	if (path[0] == '/') {
		if (n >= sizeof(un->sun_path)) {
			*err = "unix socket path too long (at most 107 bytes)";
			return -EINVAL;
		}
		memcpy(un->sun_path, path, n + 1);
		a->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	if (path[0] == '@') {
		/* Abstract namespace: a leading NUL, then the name, no terminator. */
		if (n < 2 || n > sizeof(un->sun_path)) {
			*err = "abstract unix socket name must be 1 to 107 bytes after @";
			return -EINVAL;
		}
		un->sun_path[0] = '\0';
		memcpy(un->sun_path + 1, path + 1, n - 1);
		a->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
		return 0;
	}
	*err = "expected an absolute path (or @NAME) after unix:";
	return -EINVAL;
}

/* systemd's rule for FileDescriptorName=: printable ASCII without ':'. */
static int parse_systemd(const char *name, struct addr *a, const char **err)
{
	size_t n = strlen(name);

	if (n == 0 || n >= sizeof(a->name))
		goto bad;
	for (const char *p = name; *p; p++)
		if (*p < ' ' || *p > '~' || *p == ':')
			goto bad;
	memcpy(a->name, name, n + 1);
	return 0;
bad:
	*err = "expected systemd:NAME with a NAME of 1 to 63 printable characters without ':'";
	return -EINVAL;
}

static int parse_inet(const char *s, struct addr *a, const char **err)
{
	const char *colon;
	char host[INET6_ADDRSTRLEN + 1];

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		size_t n = close ? (size_t)(close - s - 1) : 0;
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;
		if (!close || n == 0 || n >= sizeof(host)) {
			*err = "expected an IPv6 address between [ and ]";
			return -EINVAL;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
			*err = "expected a numeric IPv6 address between [ and ]";
			return -EINVAL;
		}
		if (close[1] != ':') {
			*err = "expected :PORT after [V6]";
			return -EINVAL;
		}
		if (parse_port(close + 2, &in6->sin6_port) < 0) {
			*err = "expected a port from 1 to 65535";
			return -EINVAL;
		}
		in6->sin6_family = AF_INET6;
		a->salen = sizeof(*in6);
		return 0;
	}

	colon = strrchr(s, ':');
	if (!colon)
		return -EINVAL; /* the caller's generic reason */
	struct sockaddr_in *in = (struct sockaddr_in *)&a->sa;
	size_t n = (size_t)(colon - s);
	if (memchr(s, ':', n)) {
		*err = "an IPv6 address needs brackets: [V6]:PORT";
		return -EINVAL;
	}
	if (n == 0 || n >= sizeof(host)) {
		*err = "expected a numeric IPv4 address or localhost as HOST";
		return -EINVAL;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0) {
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
		*err = "expected a numeric IPv4 address or localhost as HOST";
		return -EINVAL;
	}
	if (parse_port(colon + 1, &in->sin_port) < 0) {
		*err = "expected a port from 1 to 65535";
		return -EINVAL;
	}
	in->sin_family = AF_INET;
	a->salen = sizeof(*in);
	return 0;
}

int addr_parse(const char *s, bool allow_systemd, bool allow_any, struct addr *a, const char **err)
{
	const char *reason = NULL;
	int r;

	memset(a, 0, sizeof(*a));
	if (strlen(s) >= sizeof(a->text)) {
		reason = "expected an address of at most 127 characters";
		r = -EINVAL;
	} else if (strncmp(s, "unix:", 5) == 0) {
		a->kind = ZP_ADDR_UNIX;
		r = parse_unix(s + 5, a, &reason);
	} else if (strncmp(s, "systemd:", 8) == 0) {
		a->kind = ZP_ADDR_SYSTEMD;
		if (!allow_systemd) {
			reason = "systemd:NAME is only allowed for listen";
			r = -EINVAL;
		} else {
			r = parse_systemd(s + 8, a, &reason);
		}
	} else if (s[0] == '*' && s[1] == ':') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;
		a->kind = ZP_ADDR_ANY;
		if (!allow_any) {
			reason = "*:PORT is only allowed for listen";
			r = -EINVAL;
		} else if (parse_port(s + 2, &in6->sin6_port) < 0) {
			reason = "expected a port from 1 to 65535";
			r = -EINVAL;
		} else {
			in6->sin6_family = AF_INET6;
			in6->sin6_addr = in6addr_any;
			a->salen = sizeof(*in6);
			r = 0;
		}
	} else {
		a->kind = ZP_ADDR_INET;
		r = parse_inet(s, a, &reason);
	}
	if (r < 0) {
		if (err)
			*err = reason ? reason : addr_expected(allow_systemd, allow_any);
		memset(a, 0, sizeof(*a));
		return -EINVAL;
	}
	memcpy(a->text, s, strlen(s) + 1);
	return 0;
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case ZP_ADDR_SYSTEMD: return strcmp(a->name, b->name) == 0;
	case ZP_ADDR_ANY:
		return ((const struct sockaddr_in6 *)&a->sa)->sin6_port ==
		       ((const struct sockaddr_in6 *)&b->sa)->sin6_port;
	case ZP_ADDR_UNIX: return a->salen == b->salen && memcmp(&a->sa, &b->sa, a->salen) == 0;
	case ZP_ADDR_INET:
		if (a->sa.ss_family != b->sa.ss_family)
			return false;
		if (a->sa.ss_family == AF_INET) {
			const struct sockaddr_in *x = (const struct sockaddr_in *)&a->sa;
			const struct sockaddr_in *y = (const struct sockaddr_in *)&b->sa;
			return x->sin_port == y->sin_port &&
			       x->sin_addr.s_addr == y->sin_addr.s_addr;
		} else {
			const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->sa;
			const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->sa;
			return x->sin6_port == y->sin6_port &&
			       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
		}
	}
	return false;
}

bool addr_clash(const struct addr *a, const struct addr *b)
{
	if (addr_equal(a, b))
		return true;
	if ((a->kind != ZP_ADDR_INET && a->kind != ZP_ADDR_ANY) ||
	    (b->kind != ZP_ADDR_INET && b->kind != ZP_ADDR_ANY))
		return false;
	/* The port sits at the same offset in sockaddr_in and sockaddr_in6. */
	if (((const struct sockaddr_in *)&a->sa)->sin_port !=
	    ((const struct sockaddr_in *)&b->sa)->sin_port)
		return false;
	if (a->kind == ZP_ADDR_ANY || b->kind == ZP_ADDR_ANY)
		return true; /* dual-stack wildcard (or its 0.0.0.0 fallback) */
	if (a->sa.ss_family != b->sa.ss_family)
		return false; /* explicit v6 sockets are V6ONLY */
	if (a->sa.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == INADDR_ANY ||
		       ((const struct sockaddr_in *)&b->sa)->sin_addr.s_addr == INADDR_ANY;
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr) ||
	       IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&b->sa)->sin6_addr);
}

void sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (size == 0)
		return;
	if (!sa || len < sizeof(sa_family_t)) {
		snprintf(buf, size, "?");
		return;
	}
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
		return;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
		return;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = len > off ? len - off : 0;
		if (n == 0)
			snprintf(buf, size, "unix:"); /* an unnamed peer */
		else if (un->sun_path[0] == '\0')
			snprintf(buf, size, "unix:@%.*s", (int)(n - 1), un->sun_path + 1);
		else
			snprintf(buf, size, "unix:%.*s", (int)strnlen(un->sun_path, n),
				 un->sun_path);
		return;
	}
	default: snprintf(buf, size, "?");
	}
}

static int set_int_opt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) < 0 ? -errno : 0;
}

/* Socket, options, bind, listen for an INET or ANY address. */
static int listen_inet(const struct sockaddr *sa, socklen_t salen, bool v6only, int backlog)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return -errno;
	r = set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (r == 0 && sa->sa_family == AF_INET6)
		r = set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
	if (r == 0 && bind(fd, sa, salen) < 0)
		r = -errno;
	if (r == 0 && listen(fd, backlog) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* A unix socket file left behind by a dead process is replaced; one that
 * someone still listens on, or a file that is not a socket, is left alone. */
static int unix_remove_stale(const struct sockaddr_un *un, socklen_t salen)
{
	struct stat st;
	int fd, r;

	if (lstat(un->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)un, salen) < 0 ? -errno : 0;
	close(fd);
	if (r == -ECONNREFUSED) {
		if (unlink(un->sun_path) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	if (r == 0 || r == -EAGAIN || r == -EINPROGRESS)
		return -EADDRINUSE;
	return r == -ENOENT ? 0 : r;
}

int addr_listen(const struct addr *a, int backlog)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->sa;

	switch (a->kind) {
	case ZP_ADDR_INET: return listen_inet(sa, a->salen, true, backlog);
	case ZP_ADDR_ANY: {
		int fd = listen_inet(sa, a->salen, false, backlog);
		/* No IPv6 on this host (ipv6.disable=1, or no address for ::):
		 * fall back to IPv4 only. */
		if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
			struct sockaddr_in in = {
			    .sin_family = AF_INET,
			    .sin_port = ((const struct sockaddr_in6 *)&a->sa)->sin6_port,
			    .sin_addr.s_addr = htonl(INADDR_ANY),
			};
			fd = listen_inet((struct sockaddr *)&in, sizeof(in), false, backlog);
		}
		return fd;
	}
	case ZP_ADDR_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&a->sa;
		int fd, r = 0;
		if (un->sun_path[0] != '\0') {
			r = unix_remove_stale(un, a->salen);
			if (r < 0)
				return r;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (bind(fd, sa, a->salen) < 0 || listen(fd, backlog) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		return fd;
	}
	case ZP_ADDR_SYSTEMD: break;
	}
	return -EINVAL;
}

int addr_connect(const struct addr *a, bool *in_progress)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->sa;
	int fd, r;

	*in_progress = false;
	if (a->kind != ZP_ADDR_INET && a->kind != ZP_ADDR_UNIX)
		return -EINVAL;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (a->kind == ZP_ADDR_INET) {
		r = set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
		if (r < 0)
			goto fail;
	}
	if (connect(fd, sa, a->salen) < 0) {
		if (errno != EINPROGRESS) {
			r = -errno;
			goto fail;
		}
		*in_progress = true;
	}
	return fd;
fail:
	close(fd);
	return r;
}
