/*
 * address — the addresses zeroproxy listens on and connects to, as written in
 * the configuration: HOST:PORT, [V6]:PORT, *:PORT, unix:/path and systemd:NAME.
 */
#ifndef ZP_ADDRESS_H
#define ZP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum addr_kind {
	ZP_ADDR_INET,    /* IPv4 or IPv6 host and port (sa holds it) */
	ZP_ADDR_ANY,     /* *:PORT: IPv6 wildcard with V6ONLY=0, or 0.0.0.0 without IPv6 */
	ZP_ADDR_UNIX,    /* unix:/path (sa holds it) */
	ZP_ADDR_SYSTEMD, /* systemd:NAME, a socket passed by systemd */
};

struct addr {
	enum addr_kind kind;        /* which form it was written in */
	char text[128];             /* as written in the config, for logs and status */
	struct sockaddr_storage sa; /* INET, ANY (port in sin6_port) and UNIX */
	socklen_t salen;            /* length of sa */
	char name[64];              /* SYSTEMD: the FileDescriptorName */
};

/* Parse one address. allow_systemd / allow_any select the forms a key accepts
 * (listen takes all; a backend address only HOST:PORT, [V6]:PORT and unix:).
 * Hosts are numeric IPs or "localhost". On error returns -EINVAL and sets
 * *err to a static reason such as "expected HOST:PORT, [V6]:PORT, ...". */
int addr_parse(const char *s, bool allow_systemd, bool allow_any, struct addr *a, const char **err);

/* Whether two parsed addresses name the same socket (for duplicate detection
 * and for keeping listeners across a reload). */
bool addr_equal(const struct addr *a, const struct addr *b);

/* Whether binding one would fail because of the other: equal, or TCP on the
 * same port where one side is a wildcard covering the other. */
bool addr_clash(const struct addr *a, const struct addr *b);

/* Format a socket address ("127.0.0.1:80", "[::1]:80", "unix:/p") for logs. */
void sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* Create a non-blocking, close-on-exec listening socket for a (INET, ANY or
 * UNIX; a stale unix socket file is replaced). Returns the fd or -errno. */
int addr_listen(const struct addr *a, int backlog);

/* Start a non-blocking connect to a; returns the fd (connect may be in
 * progress: *in_progress is set) or -errno (e.g. -ECONNREFUSED, -ENOENT). */
int addr_connect(const struct addr *a, bool *in_progress);

#endif
