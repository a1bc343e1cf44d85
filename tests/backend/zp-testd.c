/*
 * zp-testd — the small backend that zeroproxy's integration tests, `make demo`
 * and the benchmarks put behind zeroproxy. One process, one thread, one poll()
 * loop, any number of clients; it starts with a handful of system calls so that
 * a cold start through zeroproxy measures zeroproxy, not the backend.
 *
 * Usage: zp-testd [OPTIONS]
 *   --listen ADDR        listen on HOST:PORT, [V6]:PORT or unix:/path (repeatable).
 *                        When LISTEN_FDS is set and LISTEN_PID is our pid, the
 *                        passed sockets (fd 3 ...) are used as well (socket
 *                        activation); --listen is then optional.
 *   --mode echo|http     echo: echo every byte, honour half-close (client EOF ->
 *                        finish writing -> shutdown(SHUT_WR)).
 *                        http (default): HTTP/1.1 keep-alive; every request gets
 *                        a text/plain body of key=value lines (see below).
 *   --notify-delay MS    after listening wait MS, then send READY=1 and STATUS=
 *                        to $NOTIFY_SOCKET (path or "@abstract"); default 0.
 *                        Connections are accepted during the wait and counted
 *                        (accepted_before_ready).
 *   --start-delay MS     sleep MS before listening.
 *   --ignore-term        ignore SIGTERM (otherwise SIGTERM/SIGINT exit 0).
 *   --term-delay MS      on SIGTERM close the listeners, keep serving, exit 0
 *                        after MS.
 *   --exit-code N        exit at once with status N, before listening.
 *   --exit-if PATH       make --exit-code apply only while PATH exists.
 *   --burn-cpu-child MS  at start-up fork a child that burns MS of CPU time and
 *                        wait for it.
 *   --pidfile PATH       write our pid to PATH first thing (after --daemonize).
 *   --report PATH        then write what we were started with to PATH, one
 *                        key=value a line: pid, ppid, pgid, uid, gid, groups
 *                        (supplementary, comma separated), cwd, inherited_fds and the variables
 * NOTIFY_SOCKET, LISTEN_FDS, LISTEN_PID and ZP_TEST ("-" when unset). With --exit-code 0, a program
 * for ready_command.
 *   --ready-file PATH    remove PATH at start and create it at the ready
 *                        moment (when READY=1 is due), for a ready_command
 *                        such as "test -e PATH".
 *   --workers N          master/worker, like gunicorn or nginx: once listening,
 *                        fork N workers that serve the listeners; the master
 *                        serves nothing. On SIGTERM/SIGINT the master sends
 *                        SIGTERM to each worker (after --term-delay MS when
 *                        given), waits for them, logs how each ended ("worker
 *                        W exited with status 0" / "worker W killed by signal
 *                        N") and exits 0. Workers with --term-delay log every
 *                        signal that reaches them during the delay.
 *   --orphan-workers     with --workers: the master exits 0 at once on SIGTERM,
 *                        leaving its workers running.
 *   --daemonize          fork at once; the parent exits 0, the child calls
 *                        setsid() and goes on (a server that forks into the
 *                        background, as redis with --daemonize yes does).
 *   --worker MS          once listening, fork a worker that keeps every
 *                        listening socket open without accepting, ignores
 *                        SIGTERM and exits MS after the main process has
 *                        exited (a multi-process server whose workers outlive
 *                        their master).
 *   --worker-pidfile PATH  the worker writes its pid to PATH.
 *   --backlog N          listen(2) backlog of --listen sockets (default SOMAXCONN).
 *   --accept-delay MS    listen at once but accept nothing for MS (connections
 *                        queue in the kernel; with a small --backlog, further
 *                        connects stay in progress).
 *   --tick MS            while running, wake every MS and burn about 1 ms of CPU
 *                        (a backend with timers of its own: its /proc/PID/stat
 *                        CPU times grow while it runs, and stand still while it
 *                        is frozen or stopped).
 *   --unavailable-for MS listen and accept at once, but answer every HTTP
 *                        request of the first MS with "503 Service Unavailable"
 *                        (a web app that listens before it can serve; they
 *                        are counted as unavailable in the info body).
 *   --quiet              no start message on stderr.
 *
 * HTTP paths: "/" or anything else: the info body; "/bytes/N": N bytes of the
 * pattern byte[i] = i % 251; "/sleep/MS": the info body after MS; "/crash":
 * abort() (the connection is left mid-request); "/exit": the info body, then
 * exit 0; "/chunked/N": the pattern's N bytes as a chunked body, in chunks of
 * changing sizes; "/sum": after the whole request body (Content-Length or
 * chunked), "length=N" and "crc32=HEX" (zlib's CRC-32) of it; "/not-modified": a 304
 * Not Modified that carries a Content-Length but, as 304s do, no body;
 * "/upgrade": 101 Switching Protocols (Upgrade: websocket), then every byte
 * is echoed; "/garbage": bytes that are no HTTP response, then close. A HEAD
 * request gets the headers of its GET and no body. Request bodies may be
 * chunked (they are read and dropped unless summed).
 *
 * The info body, one key=value per line:
 *   pid, ppid, uptime_ms, mode, path, listen_fds (passed by LISTEN_FDS),
 *   listen_fdnames, inherited_fds (fds open at exec, e.g. "0,1,2,3"),
 *   notify_socket, notified (READY=1 sent), ready (ready state reached),
 *   accepted_before_ready, connections (accepted so far), requests (so far),
 *   unavailable (requests answered 503 by --unavailable-for),
 *   peer (the client's address as this process sees it: HOST:PORT or "unix").
 *
 * Every process says on stderr which signal ended it and who sent it:
 * "zp-testd[PID]: signal 15 from pid P, exiting" (P is the master for a worker
 * stopped by its master, zeroproxy for one signalled directly).
 *
 * The exit status is 0 on SIGTERM/SIGINT and /exit, 2 on a usage or set-up error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define MAX_LISTENERS 16
#define ECHO_BUF      (64 * 1024)
#define HTTP_IN       (64 * 1024) /* a request head, at most (zeroproxy tests send long ones) */
#define PATTERN_MOD   251
#define CHUNK         (64 * 1024)

enum mode { MODE_HTTP, MODE_ECHO };

/* One client connection. */
struct conn {
	int fd;               /* -1: slot free */
	char *in;             /* echo: the echo buffer; http: request bytes */
	size_t in_len;        /* bytes in in */
	size_t in_off;        /* echo: bytes of in already written back */
	bool rd_eof;          /* the client shut its write side */
	char *out;            /* http: response bytes to write */
	size_t out_len;       /* bytes in out */
	size_t out_off;       /* bytes of out written */
	uint64_t stream_left; /* http /bytes/N: pattern bytes still to send */
	uint64_t stream_pos;  /* http /bytes/N: pattern offset */
	uint64_t body_skip;   /* http: request body bytes still to discard */
	int64_t sleep_until;  /* http /sleep: reply at this monotonic ms, or 0 */
	bool sleep_close;     /* http /sleep: close after that reply */
	bool close_after;     /* http: close once out and stream are done */
	bool exit_after;      /* http /exit: exit 0 once the reply is written */
	bool head_req;        /* http: the request is HEAD: headers only */
	bool echo;            /* http /upgrade: echo every byte once out is written */
	bool stream_chunked;  /* http /chunked/N: stream_left goes as chunks */
	bool sum;             /* http /sum: answer length and CRC of the body at its end */
	bool body_chunked;    /* http: the request body is chunked (decoded below) */
	int chunk_state;      /* ... where in the chunked framing (enum chunk_state) */
	uint64_t chunk_size;  /* ... the size being read */
	uint64_t body_len;    /* http /sum: body bytes so far */
	uint32_t crc;         /* http /sum: their CRC-32 so far (inverted) */
};

/* The chunked request body decoder's states. */
enum chunk_state { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_TRAILER, CH_TRAILER_LINE };

/* The whole server state. */
struct server {
	enum mode mode;
	int lfd[MAX_LISTENERS]; /* listening sockets */
	size_t n_lfd;
	int n_passed;              /* how many came from LISTEN_FDS */
	const char *fdnames;       /* LISTEN_FDNAMES or "" */
	char inherited[256];       /* fds open at exec, comma separated */
	const char *notify_socket; /* $NOTIFY_SOCKET or "" */
	int sfd;                   /* signalfd for SIGTERM/SIGINT, or -1 */
	int64_t t0;                /* monotonic ms*1000 at start (usec) */
	int64_t ready_at;          /* monotonic ms when READY is due; -1 once done */
	bool ready;                /* the ready moment has passed */
	bool notified;             /* READY=1 was sent */
	unsigned long accepted_before_ready;
	unsigned long connections;
	unsigned long requests;
	unsigned long unavailable; /* requests answered 503 (--unavailable-for) */
	int64_t unavailable_until; /* monotonic ms before which requests get 503 */
	const char *ready_file;    /* --ready-file, or NULL */
	int64_t term_delay;        /* --term-delay in ms */
	int64_t exit_at;           /* monotonic ms to exit after SIGTERM, or -1 */
	int64_t accept_at;         /* monotonic ms before which nothing is accepted */
	int backlog;               /* listen(2) backlog */
	int64_t tick_ms;           /* --tick, or 0 */
	int64_t tick_at;           /* monotonic ms of the next tick, or -1 */
	struct conn *conns;
	size_t n_conns;     /* slots allocated */
	struct pollfd *pfd; /* rebuilt every loop */
	size_t *pfd_conn;   /* pfd index -> conn slot */
	char pattern[CHUNK + PATTERN_MOD];
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "zp-testd[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static int64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
	return now_usec() / 1000;
}

static long parse_num(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		die("%s: expected a non-negative number, got \"%s\"", opt, s);
	return v;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Record the fds open at exec ("0,1,2,3"), before we open any of our own. */
static void scan_inherited(struct server *s)
{
	DIR *d = opendir("/proc/self/fd");
	s->inherited[0] = 0;
	if (!d) {
		snprintf(s->inherited, sizeof(s->inherited), "?");
		return;
	}
	int self = dirfd(d);
	int fds[64];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		int fd = atoi(e->d_name);
		if (fd != self)
			fds[n++] = fd;
	}
	closedir(d);
	/* readdir order is ascending in practice; sort to be sure */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
			int t = fds[j];
			fds[j] = fds[j - 1];
			fds[j - 1] = t;
		}
	size_t len = 0;
	for (size_t i = 0; i < n && len < sizeof(s->inherited) - 12; i++)
		len += (size_t)snprintf(s->inherited + len, sizeof(s->inherited) - len, "%s%d",
					i ? "," : "", fds[i]);
}

/* Parse ADDR into a sockaddr; returns the family's length or dies. */
static socklen_t parse_addr(const char *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strncmp(a, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		const char *p = a + 5;
		size_t len = strlen(p);
		if (len == 0 || len >= sizeof(un->sun_path))
			die("--listen %s: bad unix path", a);
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, p, len);
		if (p[0] == '@')
			un->sun_path[0] = 0;
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (p[0] != '@'));
	}
	char host[256];
	const char *port;
	if (a[0] == '[') {
		const char *close = strchr(a, ']');
		if (!close || close[1] != ':' || (size_t)(close - a - 1) >= sizeof(host))
			die("--listen %s: expected [V6]:PORT", a);
		memcpy(host, a + 1, (size_t)(close - a - 1));
		host[close - a - 1] = 0;
		port = close + 2;
	} else {
		const char *colon = strrchr(a, ':');
		if (!colon || (size_t)(colon - a) >= sizeof(host))
			die("--listen %s: expected HOST:PORT", a);
		memcpy(host, a, (size_t)(colon - a));
		host[colon - a] = 0;
		port = colon + 1;
	}
	long p = parse_num("--listen port", port);
	if (p > 65535)
		die("--listen %s: bad port", a);
	if (strcmp(host, "*") == 0 || host[0] == 0)
		strcpy(host, "::");
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		return sizeof(*in4);
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		return sizeof(*in6);
	}
	die("--listen %s: not a numeric address", a);
}

static void add_listener(struct server *s, int fd)
{
	if (s->n_lfd == MAX_LISTENERS)
		die("too many listeners");
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die("fd %d: %s", fd, strerror(errno));
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	s->lfd[s->n_lfd++] = fd;
}

static void listen_on(struct server *s, const char *a)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_addr(a, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	if (ss.ss_family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;
		if (un->sun_path[0])
			unlink(un->sun_path);
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		die("bind %s: %s", a, strerror(errno));
	if (listen(fd, s->backlog) < 0)
		die("listen %s: %s", a, strerror(errno));
	add_listener(s, fd);
}

/* Adopt the sockets of LISTEN_FDS when LISTEN_PID names us. */
static void adopt_passed(struct server *s)
{
	const char *fds = getenv("LISTEN_FDS");
	const char *pid = getenv("LISTEN_PID");
	const char *names = getenv("LISTEN_FDNAMES");
	s->fdnames = names ? names : "";
	if (!fds)
		return;
	if (!pid || atol(pid) != (long)getpid()) {
		fprintf(stderr, "zp-testd[%d]: LISTEN_FDS ignored: LISTEN_PID=%s is not us\n",
			(int)getpid(), pid ? pid : "(unset)");
		s->fdnames = "";
		return;
	}
	int n = atoi(fds);
	for (int i = 0; i < n; i++)
		add_listener(s, 3 + i);
	s->n_passed = n;
}

/* --report: what this process was started with. */
static void write_report(const struct server *s, const char *path)
{
	static const char *const vars[] = {"NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "ZP_TEST"};
	char cwd[512];
	FILE *f = fopen(path, "we");
	if (!f)
		die("%s: %s", path, strerror(errno));
	fprintf(f, "pid=%d\nppid=%d\npgid=%d\nuid=%d\ngid=%d\ncwd=%s\ninherited_fds=%s\n",
		(int)getpid(), (int)getppid(), (int)getpgid(0), (int)getuid(), (int)getgid(),
		getcwd(cwd, sizeof(cwd)) ? cwd : "?", s->inherited);
	gid_t groups[64];
	int n = getgroups(64, groups);
	fprintf(f, "groups=");
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%d", i ? "," : "", (int)groups[i]);
	fprintf(f, "\n");
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		fprintf(f, "%s=%s\n", vars[i], getenv(vars[i]) ? getenv(vars[i]) : "-");
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

/* Send READY=1 (and STATUS=) to $NOTIFY_SOCKET, written by hand. */
static void send_ready(struct server *s)
{
	const char *p = s->notify_socket;
	s->ready = true;
	s->ready_at = -1;
	if (s->ready_file) {
		int fd = open(s->ready_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			die("%s: %s", s->ready_file, strerror(errno));
		close(fd);
	}
	if (!p[0])
		return;
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	size_t len = strlen(p);
	if (len >= sizeof(un.sun_path) || (p[0] != '/' && p[0] != '@')) {
		fprintf(stderr, "zp-testd[%d]: bad NOTIFY_SOCKET %s\n", (int)getpid(), p);
		return;
	}
	memcpy(un.sun_path, p, len);
	if (p[0] == '@')
		un.sun_path[0] = 0;
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (p[0] == '/'));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	char msg[256];
	int n = snprintf(msg, sizeof(msg),
			 "READY=1\nSTATUS=serving, %lu connections so far\nMAINPID=%d\n",
			 s->connections, (int)getpid());
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&un, alen) == n)
		s->notified = true;
	else
		fprintf(stderr, "zp-testd[%d]: notify %s: %s\n", (int)getpid(), p, strerror(errno));
	close(fd);
}

static void conn_close(struct server *s, struct conn *c)
{
	(void)s;
	close(c->fd);
	c->fd = -1;
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
}

/* Whether c echoes (--mode echo, or upgraded once its 101 is written). */
static bool echoing(const struct server *s, const struct conn *c)
{
	return s->mode == MODE_ECHO || (c->echo && c->out_off == c->out_len);
}

/* zlib's CRC-32, bit by bit (the test bodies are a few MiB). */
static uint32_t crc32_add(uint32_t crc, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return crc;
}

static void do_accept(struct server *s, int lfd)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				fprintf(stderr, "zp-testd[%d]: accept: %s\n", (int)getpid(),
					strerror(errno));
			return;
		}
		s->connections++;
		if (!s->ready)
			s->accepted_before_ready++;
		size_t slot = 0;
		while (slot < s->n_conns && s->conns[slot].fd >= 0)
			slot++;
		if (slot == s->n_conns) {
			size_t nn = s->n_conns ? s->n_conns * 2 : 64;
			struct conn *nc = realloc(s->conns, nn * sizeof(*nc));
			if (!nc)
				die("out of memory");
			for (size_t k = s->n_conns; k < nn; k++)
				nc[k].fd = -1;
			s->conns = nc;
			s->n_conns = nn;
		}
		struct conn *c = &s->conns[slot];
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->in = malloc(s->mode == MODE_ECHO ? ECHO_BUF : HTTP_IN);
		if (!c->in)
			die("out of memory");
	}
}

/* The client's address as this process sees it: HOST:PORT, [V6]:PORT, or
 * "unix" (relayed by zeroproxy, it is zeroproxy's own). */
static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	snprintf(buf, len, "?");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "unix");
	}
}

/* Append raw bytes to c->out. */
static void out_add(struct conn *c, const void *p, size_t n)
{
	char *o = realloc(c->out, c->out_len + n + 1);
	if (!o)
		die("out of memory");
	memcpy(o + c->out_len, p, n);
	c->out = o;
	c->out_len += n;
}

/* Append the info body's response to c->out. */
static void reply_info(struct server *s, struct conn *c, const char *path, bool close_conn)
{
	char body[1024], peer[80];
	peer_name(c->fd, peer, sizeof(peer));
	int n =
	    snprintf(body, sizeof(body),
		     "pid=%d\nppid=%d\nuptime_ms=%.3f\nmode=%s\npath=%s\nlisten_fds=%d\n"
		     "listen_fdnames=%s\ninherited_fds=%s\nnotify_socket=%s\nnotified=%d\n"
		     "ready=%d\naccepted_before_ready=%lu\nconnections=%lu\nrequests=%lu\n"
		     "unavailable=%lu\npeer=%s\n",
		     (int)getpid(), (int)getppid(), (double)(now_usec() - s->t0) / 1000.0,
		     s->mode == MODE_ECHO ? "echo" : "http", path, s->n_passed, s->fdnames,
		     s->inherited, s->notify_socket, s->notified, s->ready,
		     s->accepted_before_ready, s->connections, s->requests, s->unavailable, peer);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)strlen(body);
	char head[256];
	int h = snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
			 "Connection: %s\r\n\r\n",
			 n, close_conn ? "close" : "keep-alive");
	out_add(c, head, (size_t)h);
	if (!c->head_req)
		out_add(c, body, (size_t)n);
}

/* /chunked/N: the next chunk of the pattern into c->out, and the last chunk
 * after the data. */
static void fill_chunk(struct server *s, struct conn *c)
{
	size_t k = 1 + (size_t)((c->stream_pos * 7 + 4093) % (CHUNK - 1));
	if (k > c->stream_left)
		k = (size_t)c->stream_left;
	char head[32];
	int h = snprintf(head, sizeof(head), "%zx\r\n", k);
	out_add(c, head, (size_t)h);
	out_add(c, s->pattern + c->stream_pos % PATTERN_MOD, k);
	out_add(c, "\r\n", 2);
	c->stream_left -= k;
	c->stream_pos += k;
	if (!c->stream_left)
		out_add(c, "0\r\n\r\n", 5);
}

/* Consume chunked body bytes from c->in (summing them for /sum). true: the
 * body is complete. */
static bool chunked_body(struct conn *c)
{
	size_t i = 0;
	bool done = false;
	while (i < c->in_len && !done) {
		char ch = c->in[i];
		switch (c->chunk_state) {
		case CH_SIZE:
			if (ch == ';' || ch == '\r' || ch == '\n') {
				c->chunk_state =
				    ch == '\n' ? (c->chunk_size ? CH_DATA : CH_TRAILER) : CH_EXT;
			} else {
				int v = ch >= '0' && ch <= '9'   ? ch - '0'
					: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
					: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
								 : 0;
				c->chunk_size = c->chunk_size * 16 + (uint64_t)v;
			}
			i++;
			break;
		case CH_EXT:
			if (ch == '\n')
				c->chunk_state = c->chunk_size ? CH_DATA : CH_TRAILER;
			i++;
			break;
		case CH_DATA: {
			size_t k = c->in_len - i;
			if (k > c->chunk_size)
				k = (size_t)c->chunk_size;
			c->crc = crc32_add(c->crc, (unsigned char *)c->in + i, k);
			c->body_len += k;
			c->chunk_size -= k;
			i += k;
			if (!c->chunk_size)
				c->chunk_state = CH_DATA_END;
			break;
		}
		case CH_DATA_END: /* the CRLF after the data */
			if (ch == '\n')
				c->chunk_state = CH_SIZE;
			i++;
			break;
		case CH_TRAILER: /* at a line's start: an empty one ends the body */
			if (ch == '\n')
				done = true;
			else if (ch != '\r')
				c->chunk_state = CH_TRAILER_LINE;
			i++;
			break;
		case CH_TRAILER_LINE:
			if (ch == '\n')
				c->chunk_state = CH_TRAILER;
			i++;
			break;
		}
	}
	memmove(c->in, c->in + i, c->in_len - i);
	c->in_len -= i;
	return done;
}

/* /sum: the body's length and CRC-32. */
static void reply_sum(struct conn *c, bool close_conn)
{
	char body[128], head[256];
	int n = snprintf(body, sizeof(body), "length=%llu\ncrc32=%08x\n",
			 (unsigned long long)c->body_len, ~c->crc);
	int h = snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
			 "Connection: %s\r\n\r\n",
			 n, close_conn ? "close" : "keep-alive");
	out_add(c, head, (size_t)h);
	out_add(c, body, (size_t)n);
	c->sum = false;
}

static void reply_head(struct conn *c, int code, const char *reason, uint64_t len, bool close_conn)
{
	char head[256];
	int h =
	    snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: application/octet-stream\r\n"
		     "Content-Length: %llu\r\nConnection: %s\r\n\r\n",
		     code, reason, (unsigned long long)len, close_conn ? "close" : "keep-alive");
	char *o = realloc(c->out, c->out_len + (size_t)h);
	if (!o)
		die("out of memory");
	memcpy(o + c->out_len, head, (size_t)h);
	c->out = o;
	c->out_len += (size_t)h;
}

/* Does the header block (NUL-terminated) say "Name: value" (case-insensitive)? */
static const char *find_header(const char *hdrs, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = hdrs; p && *p; p = strstr(p, "\r\n"), p = p ? p + 2 : NULL) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
	}
	return NULL;
}

/* Handle complete requests in c->in while no response is in flight. Returns
 * false when the connection was closed. */
static bool http_process(struct server *s, struct conn *c)
{
	for (;;) {
		if (c->out_off < c->out_len || c->stream_left || c->sleep_until || c->close_after ||
		    c->echo)
			return true;
		if (c->body_chunked) {
			if (!chunked_body(c))
				return true;
			c->body_chunked = false;
			if (c->sum) {
				reply_sum(c, c->close_after);
				continue;
			}
		}
		if (c->body_skip) {
			size_t k = c->in_len < c->body_skip ? c->in_len : (size_t)c->body_skip;
			if (c->sum) {
				c->crc = crc32_add(c->crc, (unsigned char *)c->in, k);
				c->body_len += k;
			}
			memmove(c->in, c->in + k, c->in_len - k);
			c->in_len -= k;
			c->body_skip -= k;
			if (c->body_skip)
				return true;
			if (c->sum) {
				reply_sum(c, c->close_after);
				continue;
			}
		}
		char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
		if (!end) {
			if (c->in_len == HTTP_IN) {
				const char *r = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
						"Content-Length: 0\r\nConnection: close\r\n\r\n";
				free(c->out);
				c->out = strdup(r);
				c->out_len = strlen(r);
				c->out_off = 0;
				c->close_after = true;
				return true;
			}
			if (c->rd_eof && c->out_off == c->out_len) {
				conn_close(s, c);
				return false;
			}
			return true;
		}
		size_t reqlen = (size_t)(end - c->in) + 4;
		char req[HTTP_IN + 1];
		memcpy(req, c->in, reqlen);
		req[reqlen] = 0;
		memmove(c->in, c->in + reqlen, c->in_len - reqlen);
		c->in_len -= reqlen;
		s->requests++;

		char *line_end = strstr(req, "\r\n");
		*line_end = 0;
		const char *hdrs = line_end + 2;
		char method[16] = "", path[1024] = "", version[16] = "";
		sscanf(req, "%15s %1023s %15s", method, path, version);
		bool http10 = strcmp(version, "HTTP/1.0") == 0;
		const char *conn_hdr = find_header(hdrs, "Connection");
		bool close_conn = http10
				      ? !(conn_hdr && strncasecmp(conn_hdr, "keep-alive", 10) == 0)
				      : (conn_hdr && strncasecmp(conn_hdr, "close", 5) == 0);
		const char *cl = find_header(hdrs, "Content-Length");
		if (cl)
			c->body_skip = strtoull(cl, NULL, 10);
		const char *te = find_header(hdrs, "Transfer-Encoding");
		if (te && strncasecmp(te, "chunked", 7) == 0) {
			c->body_chunked = true;
			c->chunk_state = CH_SIZE;
			c->chunk_size = 0;
			c->body_skip = 0;
		}
		c->close_after = close_conn;
		c->head_req = strcmp(method, "HEAD") == 0;

		if (now_ms() < s->unavailable_until) {
			static const char body[] = "starting\n";
			s->unavailable++;
			reply_head(c, 503, "Service Unavailable", sizeof(body) - 1, close_conn);
			char *o = realloc(c->out, c->out_len + sizeof(body) - 1);
			if (!o)
				die("out of memory");
			memcpy(o + c->out_len, body, sizeof(body) - 1);
			c->out = o;
			c->out_len += sizeof(body) - 1;
		} else if (strcmp(path, "/crash") == 0) {
			struct rlimit no_core = {0, 0};
			setrlimit(RLIMIT_CORE, &no_core);
			fprintf(stderr, "zp-testd[%d]: /crash: aborting\n", (int)getpid());
			abort();
		} else if (strcmp(path, "/exit") == 0) {
			reply_info(s, c, path, true);
			c->exit_after = true;
		} else if (strncmp(path, "/bytes/", 7) == 0) {
			uint64_t n = strtoull(path + 7, NULL, 10);
			reply_head(c, 200, "OK", n, close_conn);
			c->stream_left = c->head_req ? 0 : n;
			c->stream_pos = 0;
		} else if (strncmp(path, "/chunked/", 9) == 0) {
			char head[256];
			int h =
			    snprintf(head, sizeof(head),
				     "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
				     "Transfer-Encoding: chunked\r\nConnection: %s\r\n\r\n",
				     close_conn ? "close" : "keep-alive");
			out_add(c, head, (size_t)h);
			c->stream_left = c->head_req ? 0 : strtoull(path + 9, NULL, 10);
			c->stream_pos = 0;
			c->stream_chunked = c->stream_left > 0;
			if (!c->stream_left && !c->head_req)
				out_add(c, "0\r\n\r\n", 5);
		} else if (strcmp(path, "/sum") == 0) {
			c->sum = true;
			c->crc = 0xFFFFFFFFu;
			c->body_len = 0;
			if (!c->body_chunked && !c->body_skip)
				reply_sum(c, close_conn);
		} else if (strcmp(path, "/not-modified") == 0) {
			const char *r = "HTTP/1.1 304 Not Modified\r\nETag: \"zp\"\r\n"
					"Content-Length: 42\r\n\r\n";
			out_add(c, r, strlen(r));
		} else if (strcmp(path, "/upgrade") == 0) {
			const char *r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
					"Connection: Upgrade\r\n\r\n";
			out_add(c, r, strlen(r));
			c->echo = true;
			c->close_after = false;
			return true;
		} else if (strcmp(path, "/garbage") == 0) {
			const char *r = "THIS IS NOT HTTP\r\n\r\n";
			out_add(c, r, strlen(r));
			c->close_after = true;
		} else if (strncmp(path, "/sleep/", 7) == 0) {
			c->sleep_until = now_ms() + atol(path + 7);
			c->sleep_close = close_conn;
			c->close_after = false;
			return true;
		} else {
			reply_info(s, c, path, close_conn);
		}
	}
}

/* Write what is pending. Returns false when the connection was closed. */
static bool conn_write(struct server *s, struct conn *c)
{
	if (echoing(s, c)) {
		while (c->in_off < c->in_len) {
			ssize_t n =
			    send(c->fd, c->in + c->in_off, c->in_len - c->in_off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return true;
				conn_close(s, c);
				return false;
			}
			c->in_off += (size_t)n;
		}
		c->in_off = c->in_len = 0;
		if (c->rd_eof) {
			shutdown(c->fd, SHUT_WR);
			conn_close(s, c);
			return false;
		}
		return true;
	}
	for (;;) {
		while (c->out_off < c->out_len) {
			ssize_t n =
			    send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return true;
				conn_close(s, c);
				return false;
			}
			c->out_off += (size_t)n;
		}
		c->out_off = c->out_len = 0;
		if (!c->stream_chunked || !c->stream_left)
			break;
		fill_chunk(s, c);
	}
	c->stream_chunked = false;
	if (c->echo)
		return conn_write(s, c); /* the 101 is out: echo from now on */
	while (c->stream_left) {
		size_t k = c->stream_left < CHUNK ? (size_t)c->stream_left : CHUNK;
		ssize_t n = send(c->fd, s->pattern + c->stream_pos % PATTERN_MOD, k, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			conn_close(s, c);
			return false;
		}
		c->stream_left -= (uint64_t)n;
		c->stream_pos += (uint64_t)n;
	}
	if (c->exit_after) {
		fprintf(stderr, "zp-testd[%d]: /exit: exiting\n", (int)getpid());
		exit(0);
	}
	if (c->close_after) {
		shutdown(c->fd, SHUT_WR);
		conn_close(s, c);
		return false;
	}
	return http_process(s, c);
}

static void conn_read(struct server *s, struct conn *c)
{
	size_t cap = s->mode == MODE_ECHO ? ECHO_BUF : HTTP_IN;
	while (c->in_len < cap && !c->rd_eof) {
		ssize_t n = recv(c->fd, c->in + c->in_len, cap - c->in_len, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(s, c);
			return;
		}
		if (n == 0)
			c->rd_eof = true;
		c->in_len += (size_t)n;
		if (echoing(s, c))
			break; /* write back before reading more */
	}
	if (echoing(s, c))
		conn_write(s, c);
	else if (http_process(s, c))
		conn_write(s, c);
}

static void on_signal(struct server *s)
{
	struct signalfd_siginfo si;
	if (read(s->sfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (s->term_delay <= 0) {
		fprintf(stderr, "zp-testd[%d]: signal %d from pid %d, exiting\n", (int)getpid(),
			(int)si.ssi_signo, (int)si.ssi_pid);
		exit(0);
	}
	for (size_t i = 0; i < s->n_lfd; i++)
		close(s->lfd[i]);
	s->n_lfd = 0;
	s->exit_at = now_ms() + s->term_delay;
	/* Said once the listeners are closed: a test may then count on new
	 * connections not reaching this process. */
	fprintf(stderr,
		"zp-testd[%d]: signal %d from pid %d, exiting in %lld ms, listeners closed\n",
		(int)getpid(), (int)si.ssi_signo, (int)si.ssi_pid, (long long)s->term_delay);
}

/* --tick: about 1 ms of CPU. */
static void burn_tick(void)
{
	struct timespec a, b;
	volatile unsigned long x = 0;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	do {
		for (int i = 0; i < 10000; i++)
			x += (unsigned long)i;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 1000000L);
}

static void loop(struct server *s)
{
	for (;;) {
		int64_t now = now_ms();
		if (s->ready_at >= 0 && now >= s->ready_at)
			send_ready(s);
		if (s->tick_at >= 0 && now >= s->tick_at) {
			burn_tick();
			now = now_ms();
			s->tick_at = now + s->tick_ms;
		}
		if (s->exit_at >= 0 && now >= s->exit_at)
			exit(0);
		int64_t deadline = s->ready_at;
		if (s->exit_at >= 0 && (deadline < 0 || s->exit_at < deadline))
			deadline = s->exit_at;
		if (s->tick_at >= 0 && (deadline < 0 || s->tick_at < deadline))
			deadline = s->tick_at;
		bool accepting = now >= s->accept_at;
		if (!accepting && (deadline < 0 || s->accept_at < deadline))
			deadline = s->accept_at;

		size_t cap = s->n_lfd + 1 + s->n_conns;
		s->pfd = realloc(s->pfd, cap * sizeof(*s->pfd));
		s->pfd_conn = realloc(s->pfd_conn, cap * sizeof(*s->pfd_conn));
		if (!s->pfd || !s->pfd_conn)
			die("out of memory");
		size_t n = 0;
		for (size_t i = 0; i < s->n_lfd; i++)
			s->pfd[n++] =
			    (struct pollfd){.fd = s->lfd[i], .events = accepting ? POLLIN : 0};
		if (s->sfd >= 0)
			s->pfd[n++] = (struct pollfd){.fd = s->sfd, .events = POLLIN};
		size_t first_conn = n;
		for (size_t i = 0; i < s->n_conns; i++) {
			struct conn *c = &s->conns[i];
			if (c->fd < 0)
				continue;
			if (c->sleep_until) {
				if (now >= c->sleep_until) {
					c->sleep_until = 0;
					reply_info(s, c, "/sleep", c->sleep_close);
					c->close_after = c->sleep_close;
					if (!conn_write(s, c))
						continue;
				} else if (deadline < 0 || c->sleep_until < deadline) {
					deadline = c->sleep_until;
				}
			}
			short ev = 0;
			size_t incap = s->mode == MODE_ECHO ? ECHO_BUF : HTTP_IN;
			bool pending_out = echoing(s, c)
					       ? c->in_off < c->in_len
					       : (c->out_off < c->out_len || c->stream_left);
			if (!c->rd_eof && c->in_len < incap && !pending_out)
				ev |= POLLIN;
			if (pending_out)
				ev |= POLLOUT;
			s->pfd_conn[n] = i;
			s->pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		int timeout = -1;
		if (deadline >= 0)
			timeout = deadline > now ? (int)(deadline - now) : 0;
		int r = poll(s->pfd, n, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		for (size_t i = first_conn; i < n; i++) {
			struct conn *c = &s->conns[s->pfd_conn[i]];
			short re = s->pfd[i].revents;
			if (!re || c->fd != s->pfd[i].fd)
				continue;
			if ((re & POLLERR) || ((re & POLLHUP) && c->rd_eof)) {
				conn_close(s, c); /* the peer is gone both ways */
				continue;
			}
			if (re & POLLOUT)
				if (!conn_write(s, c))
					continue;
			if (re & (POLLIN | POLLHUP))
				conn_read(s, c);
		}
		for (size_t i = 0; i < first_conn; i++) {
			if (!s->pfd[i].revents)
				continue;
			if (s->pfd[i].fd == s->sfd)
				on_signal(s);
			else
				do_accept(s, s->pfd[i].fd);
		}
	}
}

/* --workers: the master's life once the workers run. Never returns. */
static void master_loop(struct server *s, const pid_t *workers, size_t n, bool orphan)
{
	size_t left = n;
	bool stopping = false;
	int64_t kill_at = -1; /* when to pass SIGTERM on to the workers */
	for (;;) {
		int64_t now = now_ms();
		if (s->ready_at >= 0 && now >= s->ready_at)
			send_ready(s);
		if (kill_at >= 0 && now >= kill_at) {
			for (size_t i = 0; i < n; i++)
				kill(workers[i], SIGTERM);
			kill_at = -1;
		}
		int64_t deadline = s->ready_at >= 0 ? s->ready_at : kill_at;
		struct signalfd_siginfo si;
		struct pollfd pfd = {.fd = s->sfd, .events = POLLIN};
		if (poll(&pfd, 1, deadline < 0 ? -1 : (int)(deadline - now)) <= 0 ||
		    read(s->sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			fprintf(stderr, "zp-testd[%d]: master: signal %d from pid %d, %s\n",
				(int)getpid(), (int)si.ssi_signo, (int)si.ssi_pid,
				orphan ? "exiting, workers left running" : "stopping the workers");
			if (orphan)
				exit(0);
			if (!stopping)
				kill_at = now_ms() + s->term_delay;
			stopping = true;
		}
		int st;
		pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (WIFSIGNALED(st))
				fprintf(stderr,
					"zp-testd[%d]: master: worker %d killed by signal %d\n",
					(int)getpid(), (int)pid, WTERMSIG(st));
			else
				fprintf(stderr,
					"zp-testd[%d]: master: worker %d exited with status %d\n",
					(int)getpid(), (int)pid, WEXITSTATUS(st));
			left--;
		}
		if (stopping && left == 0)
			exit(0);
	}
}

/* --workers N: fork the workers (they return and serve), then be the master. */
static void start_workers(struct server *s, long n, bool orphan)
{
	pid_t *workers = calloc((size_t)n, sizeof(*workers));
	if (!workers)
		die("out of memory");
	for (long i = 0; i < n; i++) {
		workers[i] = fork();
		if (workers[i] < 0)
			die("fork: %s", strerror(errno));
		if (workers[i] == 0) {
			free(workers);
			s->ready = true; /* the master speaks for all */
			s->ready_at = -1;
			return;
		}
	}
	for (size_t i = 0; i < s->n_lfd; i++)
		close(s->lfd[i]);
	s->n_lfd = 0;
	master_loop(s, workers, (size_t)n, orphan);
}

static void usage(void)
{
	fputs("usage: zp-testd [--listen ADDR]... [--mode echo|http] [--notify-delay MS]\n"
	      "                [--start-delay MS] [--ignore-term] [--term-delay MS]\n"
	      "                [--exit-code N [--exit-if PATH]] [--burn-cpu-child MS]\n"
	      "                [--pidfile PATH] [--report PATH] [--ready-file PATH]\n"
	      "                [--workers N [--orphan-workers]] [--daemonize] [--worker MS]\n"
	      "                [--worker-pidfile PATH] [--backlog N] [--accept-delay MS]\n"
	      "                [--tick MS] [--unavailable-for MS] [--quiet]\n",
	      stderr);
	exit(2);
}

static pid_t xfork(void)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	return pid;
}

static void write_pidfile(const char *path)
{
	FILE *f = fopen(path, "we");
	if (!f)
		die("%s: %s", path, strerror(errno));
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
}

/* --worker: a child that holds our listening sockets (inherited) until MS
 * after we are gone. It learns that from EOF on a pipe whose write end only
 * we hold; SIGTERM and SIGINT stay blocked, as the main loop blocks them. */
static void fork_worker(long ms, const char *pidfile)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe2: %s", strerror(errno));
	pid_t pid = xfork();
	if (pid == 0) {
		char c;
		close(p[1]);
		if (pidfile)
			write_pidfile(pidfile);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		sleep_ms(ms);
		_exit(0);
	}
	close(p[0]); /* p[1] stays open until we exit */
}

static void burn_cpu_child(long ms)
{
	pid_t pid = xfork();
	if (pid == 0) {
		struct timespec ts;
		volatile unsigned long x = 0;
		do {
			for (int i = 0; i < 100000; i++)
				x += (unsigned long)i;
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
		} while ((long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 < ms);
		_exit(0);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	static struct server srv;
	struct server *s = &srv;
	s->t0 = now_usec();
	s->sfd = -1;
	s->exit_at = -1;
	s->backlog = SOMAXCONN;
	scan_inherited(s);

	const char *listen_addr[MAX_LISTENERS];
	size_t n_listen = 0;
	long notify_delay = 0, start_delay = 0, burn = 0, exit_code = -1, workers = 0;
	long worker = -1, accept_delay = 0, unavailable_for = 0;
	const char *exit_if = NULL, *pidfile = NULL, *report = NULL, *worker_pidfile = NULL;
	bool ignore_term = false, quiet = false, orphan = false, daemonize = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDS_ARG                                                                                  \
	do {                                                                                       \
		if (!v)                                                                            \
			die("%s needs an argument", a);                                            \
		i++;                                                                               \
	} while (0)
		if (strcmp(a, "--listen") == 0) {
			NEEDS_ARG;
			if (n_listen == MAX_LISTENERS)
				die("too many --listen");
			listen_addr[n_listen++] = v;
		} else if (strcmp(a, "--mode") == 0) {
			NEEDS_ARG;
			if (strcmp(v, "echo") == 0)
				s->mode = MODE_ECHO;
			else if (strcmp(v, "http") == 0)
				s->mode = MODE_HTTP;
			else
				die("--mode: expected echo or http, got \"%s\"", v);
		} else if (strcmp(a, "--notify-delay") == 0) {
			NEEDS_ARG;
			notify_delay = parse_num(a, v);
		} else if (strcmp(a, "--start-delay") == 0) {
			NEEDS_ARG;
			start_delay = parse_num(a, v);
		} else if (strcmp(a, "--term-delay") == 0) {
			NEEDS_ARG;
			s->term_delay = parse_num(a, v);
		} else if (strcmp(a, "--exit-code") == 0) {
			NEEDS_ARG;
			exit_code = parse_num(a, v);
		} else if (strcmp(a, "--exit-if") == 0) {
			NEEDS_ARG;
			exit_if = v;
		} else if (strcmp(a, "--burn-cpu-child") == 0) {
			NEEDS_ARG;
			burn = parse_num(a, v);
		} else if (strcmp(a, "--pidfile") == 0) {
			NEEDS_ARG;
			pidfile = v;
		} else if (strcmp(a, "--report") == 0) {
			NEEDS_ARG;
			report = v;
		} else if (strcmp(a, "--ready-file") == 0) {
			NEEDS_ARG;
			s->ready_file = v;
		} else if (strcmp(a, "--workers") == 0) {
			NEEDS_ARG;
			workers = parse_num(a, v);
		} else if (strcmp(a, "--orphan-workers") == 0) {
			orphan = true;
		} else if (strcmp(a, "--worker") == 0) {
			NEEDS_ARG;
			worker = parse_num(a, v);
		} else if (strcmp(a, "--worker-pidfile") == 0) {
			NEEDS_ARG;
			worker_pidfile = v;
		} else if (strcmp(a, "--backlog") == 0) {
			NEEDS_ARG;
			s->backlog = (int)parse_num(a, v);
		} else if (strcmp(a, "--accept-delay") == 0) {
			NEEDS_ARG;
			accept_delay = parse_num(a, v);
		} else if (strcmp(a, "--unavailable-for") == 0) {
			NEEDS_ARG;
			unavailable_for = parse_num(a, v);
		} else if (strcmp(a, "--daemonize") == 0) {
			daemonize = true;
		} else if (strcmp(a, "--ignore-term") == 0) {
			ignore_term = true;
		} else if (strcmp(a, "--tick") == 0) {
			NEEDS_ARG;
			s->tick_ms = parse_num(a, v);
		} else if (strcmp(a, "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage();
		} else {
			fprintf(stderr, "zp-testd: unknown option %s\n", a);
			usage();
		}
#undef NEEDS_ARG
	}

	if (daemonize) {
		pid_t pid = xfork();
		if (pid > 0) {
			if (!quiet)
				fprintf(stderr, "zp-testd[%d]: forked into the background as %d\n",
					(int)getpid(), (int)pid);
			_exit(0);
		}
		setsid();
	}
	if (pidfile)
		write_pidfile(pidfile);
	if (report)
		write_report(s, report);
	if (s->ready_file && unlink(s->ready_file) < 0 && errno != ENOENT)
		die("%s: %s", s->ready_file, strerror(errno));
	if (exit_code >= 0 && (!exit_if || access(exit_if, F_OK) == 0)) {
		if (!quiet)
			fprintf(stderr, "zp-testd[%d]: exiting with status %ld as told\n",
				(int)getpid(), exit_code);
		exit((int)exit_code);
	}
	signal(SIGPIPE, SIG_IGN);
	if (ignore_term)
		signal(SIGTERM, SIG_IGN);
	/* Until the loop runs, SIGTERM/SIGINT keep their default action: a
	 * backend stopped while it starts dies of the signal, as most do. */
	if (burn)
		burn_cpu_child(burn);
	if (start_delay)
		sleep_ms(start_delay);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	if (!ignore_term)
		sigaddset(&mask, SIGTERM);
	if (workers)
		sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	s->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sfd < 0)
		die("signalfd: %s", strerror(errno));

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	const char *ns = getenv("NOTIFY_SOCKET");
	s->notify_socket = ns ? ns : "";
	adopt_passed(s);
	for (size_t i = 0; i < n_listen; i++)
		listen_on(s, listen_addr[i]);
	if (s->n_lfd == 0)
		die("nothing to listen on: give --listen or pass sockets with LISTEN_FDS");
	for (size_t i = 0; i < sizeof(s->pattern); i++)
		s->pattern[i] = (char)(i % PATTERN_MOD);
	if (worker >= 0)
		fork_worker(worker, worker_pidfile);
	s->accept_at = now_ms() + accept_delay;
	s->tick_at = s->tick_ms > 0 ? now_ms() + s->tick_ms : -1;
	s->unavailable_until = now_ms() + unavailable_for;

	if (!quiet)
		fprintf(
		    stderr,
		    "zp-testd[%d]: %s mode, %zu listener(s), listen_fds=%d (%s), ready in %ld ms\n",
		    (int)getpid(), s->mode == MODE_ECHO ? "echo" : "http", s->n_lfd, s->n_passed,
		    s->fdnames, notify_delay);
	s->ready_at = now_ms() + notify_delay;
	if (workers)
		start_workers(s, workers, orphan); /* returns in each worker */
	if (notify_delay == 0 && !s->ready)
		send_ready(s);
	loop(s);
	return 0;
}
