/*
 * test-address — every address form of the configuration (valid and invalid),
 * addr_equal, sockaddr_format, and the socket operations: listen on a free
 * port, stale unix socket replacement, connect.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "address.h"
#include "tap.h"
#include "util.h"

static void parse_ok(const char *s, bool sd, bool any, enum addr_kind kind, const char *fmt)
{
	struct addr a;
	const char *err = NULL;
	char buf[160];

	if (!ok(addr_parse(s, sd, any, &a, &err) == 0, "addr_parse(\"%s\") succeeds", s)) {
		note("error: %s", err ? err : "?");
		return;
	}
	is_int(a.kind, kind, "addr_parse(\"%s\") kind", s);
	is_str(a.text, s, "addr_parse(\"%s\") keeps the text", s);
	if (fmt) {
		sockaddr_format((struct sockaddr *)&a.sa, a.salen, buf, sizeof(buf));
		is_str(buf, fmt, "addr_parse(\"%s\") formats as %s", s, fmt);
	}
}

static void parse_bad(const char *s, bool sd, bool any, const char *want)
{
	struct addr a;
	const char *err = NULL;

	int r = addr_parse(s, sd, any, &a, &err);
	is_int(r, -EINVAL, "addr_parse(\"%s\") fails", s);
	is_str(err, want, "addr_parse(\"%s\") reason", s);
}

static void test_parse(void)
{
	struct addr a;
	const char *err;

	parse_ok("127.0.0.1:8080", true, true, ZP_ADDR_INET, "127.0.0.1:8080");
	parse_ok("0.0.0.0:1", false, false, ZP_ADDR_INET, "0.0.0.0:1");
	parse_ok("10.1.2.3:65535", false, false, ZP_ADDR_INET, "10.1.2.3:65535");
	parse_ok("localhost:80", false, false, ZP_ADDR_INET, "127.0.0.1:80");
	parse_ok("[::1]:8080", true, true, ZP_ADDR_INET, "[::1]:8080");
	parse_ok("[::]:443", false, false, ZP_ADDR_INET, "[::]:443");
	parse_ok("[2001:db8::42]:53", false, false, ZP_ADDR_INET, "[2001:db8::42]:53");
	parse_ok("[::ffff:10.0.0.1]:9", false, false, ZP_ADDR_INET, "[::ffff:10.0.0.1]:9");
	parse_ok("*:8080", true, true, ZP_ADDR_ANY, "[::]:8080");
	parse_ok("unix:/run/app.sock", false, false, ZP_ADDR_UNIX, "unix:/run/app.sock");
	parse_ok("unix:@zeroproxy-test", false, false, ZP_ADDR_UNIX, "unix:@zeroproxy-test");
	parse_ok("systemd:web", true, false, ZP_ADDR_SYSTEMD, NULL);
	parse_ok("systemd:a name.with-dots", true, true, ZP_ADDR_SYSTEMD, NULL);

	ok(addr_parse("systemd:web-http", true, true, &a, &err) == 0 &&
	       strcmp(a.name, "web-http") == 0,
	   "systemd:NAME keeps the name");
	ok(addr_parse("127.0.0.1:8080", false, false, &a, &err) == 0 && a.sa.ss_family == AF_INET &&
	       a.salen == sizeof(struct sockaddr_in) &&
	       ntohs(((struct sockaddr_in *)&a.sa)->sin_port) == 8080,
	   "HOST:PORT fills a sockaddr_in");
	ok(addr_parse("*:9", true, true, &a, &err) == 0 && a.sa.ss_family == AF_INET6 &&
	       ntohs(((struct sockaddr_in6 *)&a.sa)->sin6_port) == 9,
	   "*:PORT keeps the port in sin6_port");

	/* A path of 107 bytes fits sun_path with its NUL; 108 does not. */
	char path[200];
	memset(path, 0, sizeof(path));
	strcpy(path, "unix:/");
	memset(path + 6, 'p', 106);
	parse_ok(path, false, false, ZP_ADDR_UNIX, NULL);
	path[6 + 106] = 'p';
	parse_bad(path, false, false, "unix socket path too long (at most 107 bytes)");

	const char *generic_listen =
	    "expected HOST:PORT, [V6]:PORT, *:PORT, unix:/PATH or systemd:NAME";
	const char *generic_backend = "expected HOST:PORT, [V6]:PORT or unix:/PATH";
	const char *port = "expected a port from 1 to 65535";
	const char *host = "expected a numeric IPv4 address or localhost as HOST";

	parse_bad("", true, true, generic_listen);
	parse_bad("8080", true, true, generic_listen);
	parse_bad("localhost", false, false, generic_backend);
	parse_bad("127.0.0.1:0", false, false, port);
	parse_bad("127.0.0.1:65536", false, false, port);
	parse_bad("127.0.0.1:", false, false, port);
	parse_bad("127.0.0.1:80x", false, false, port);
	parse_bad("127.0.0.1:-1", false, false, port);
	parse_bad("127.0.0.1: 80", false, false, port);
	parse_bad("127.0.0.1:99999999999999999999", false, false, port);
	parse_bad("*:0", true, true, port);
	parse_bad("[::1]:0", false, false, port);
	parse_bad("example.com:80", false, false, host);
	parse_bad("256.1.1.1:80", false, false, host);
	parse_bad("1.2.3:80", false, false, host);
	parse_bad(":80", false, false, host);
	parse_bad("::1:80", false, false, "an IPv6 address needs brackets: [V6]:PORT");
	parse_bad("[::1]", false, false, "expected :PORT after [V6]");
	parse_bad("[::1]80", false, false, "expected :PORT after [V6]");
	parse_bad("[]:80", false, false, "expected an IPv6 address between [ and ]");
	parse_bad("[::1:80", false, false, "expected an IPv6 address between [ and ]");
	parse_bad("[1.2.3.4]:80", false, false, "expected a numeric IPv6 address between [ and ]");
	parse_bad("[fe80::1%eth0]:80", false, false,
		  "expected a numeric IPv6 address between [ and ]");
	parse_bad("*:8080", false, false, "*:PORT is only allowed for listen");
	parse_bad("*:8080", true, false, "*:PORT is only allowed for listen");
	parse_bad("systemd:web", false, false, "systemd:NAME is only allowed for listen");
	parse_bad("systemd:", true, true,
		  "expected systemd:NAME with a NAME of 1 to 63 printable characters without ':'");
	parse_bad("systemd:a:b", true, true,
		  "expected systemd:NAME with a NAME of 1 to 63 printable characters without ':'");
	parse_bad("systemd:a\tb", true, true,
		  "expected systemd:NAME with a NAME of 1 to 63 printable characters without ':'");
	parse_bad("systemd:0123456789012345678901234567890123456789012345678901234567890123", true,
		  true,
		  "expected systemd:NAME with a NAME of 1 to 63 printable characters without ':'");
	parse_ok("systemd:012345678901234567890123456789012345678901234567890123456789012", true,
		 true, ZP_ADDR_SYSTEMD, NULL);
	parse_bad("unix:relative.sock", false, false,
		  "expected an absolute path (or @NAME) after unix:");
	parse_bad("unix:", false, false, "expected an absolute path (or @NAME) after unix:");
	parse_bad("unix:@", false, false,
		  "abstract unix socket name must be 1 to 107 bytes after @");
	char longtext[200];
	memset(longtext, '1', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	parse_bad(longtext, true, true, "expected an address of at most 127 characters");
	/* A failed parse leaves no half-filled address behind. */
	memset(&a, 0x55, sizeof(a));
	addr_parse("127.0.0.1:0", false, false, &a, &err);
	ok(a.kind == 0 && a.text[0] == '\0' && a.salen == 0, "a failed parse clears the address");
}

static bool eq(const char *x, const char *y)
{
	struct addr a, b;
	const char *err;

	if (addr_parse(x, true, true, &a, &err) < 0 || addr_parse(y, true, true, &b, &err) < 0)
		return false;
	return addr_equal(&a, &b) && addr_equal(&b, &a);
}

static void test_equal(void)
{
	ok(eq("127.0.0.1:80", "127.0.0.1:80"), "same v4 address equal");
	ok(eq("localhost:80", "127.0.0.1:80"), "localhost equals 127.0.0.1");
	ok(!eq("127.0.0.1:80", "127.0.0.1:81"), "different ports differ");
	ok(!eq("127.0.0.1:80", "127.0.0.2:80"), "different hosts differ");
	ok(eq("[::1]:80", "[0:0::1]:80"), "v6 spellings of one address are equal");
	ok(!eq("[::1]:80", "127.0.0.1:80"), "v6 and v4 differ");
	ok(eq("*:80", "*:80"), "*:PORT equal");
	ok(!eq("*:80", "*:81"), "*:PORT with other port differs");
	ok(!eq("*:80", "[::]:80"), "*:PORT is not [::]:PORT");
	ok(eq("unix:/a", "unix:/a"), "same unix path equal");
	ok(!eq("unix:/a", "unix:/b"), "other unix path differs");
	ok(!eq("unix:/a", "unix:@/a"), "abstract differs from path");
	ok(eq("unix:@x", "unix:@x"), "same abstract equal");
	ok(eq("systemd:x", "systemd:x"), "same systemd name equal");
	ok(!eq("systemd:x", "systemd:y"), "other systemd name differs");
}

static void test_format(void)
{
	char buf[64];
	struct sockaddr_un un = {.sun_family = AF_UNIX};

	sockaddr_format((struct sockaddr *)&un, sizeof(sa_family_t), buf, sizeof(buf));
	is_str(buf, "unix:", "unnamed unix peer");
	sockaddr_format(NULL, 0, buf, sizeof(buf));
	is_str(buf, "?", "no address");
	struct sockaddr_in in = {
	    .sin_family = AF_INET, .sin_port = htons(1234), .sin_addr.s_addr = htonl(0x7f000001)};
	sockaddr_format((struct sockaddr *)&in, sizeof(in), buf, 10);
	is_str(buf, "127.0.0.1", "sockaddr_format truncates to the buffer");
}

static int port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static bool fd_flags_ok(int fd)
{
	return (fcntl(fd, F_GETFL) & O_NONBLOCK) && (fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/* Bind a free TCP port on 127.0.0.1 and return it (socket closed). */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	if (bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0) {
		close(fd);
		return -1;
	}
	int p = port_of(fd);
	close(fd);
	return p;
}

static void test_tcp(void)
{
	struct addr a;
	const char *err;
	char text[64];
	int port = free_port();
	bool in_progress;

	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	addr_parse(text, false, false, &a, &err);

	bool dummy;
	int r = addr_connect(&a, &dummy);
	if (r >= 0) {
		/* Refused shows up later for a non-blocking connect. */
		close(r);
		ok(true, "connect to a closed port does not crash");
	} else {
		is_int(r, -ECONNREFUSED, "connect to a closed port is refused");
	}

	int lfd = addr_listen(&a, 16);
	if (!ok(lfd >= 0, "addr_listen(%s)", text)) {
		note("error %d", lfd);
		return;
	}
	ok(fd_flags_ok(lfd), "listening socket is non-blocking and close-on-exec");
	int one = 0;
	socklen_t len = sizeof(one);
	getsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, &len);
	ok(one, "SO_REUSEADDR is set");
	is_int(port_of(lfd), port, "bound to the port asked for");

	int cfd = addr_connect(&a, &in_progress);
	ok(cfd >= 0, "addr_connect to the listener");
	if (cfd >= 0) {
		ok(fd_flags_ok(cfd), "connected socket is non-blocking and close-on-exec");
		int nd = 0;
		len = sizeof(nd);
		getsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &nd, &len);
		ok(nd, "TCP_NODELAY is set");
		close(cfd);
	}
	is_int(addr_listen(&a, 16), -EADDRINUSE, "a second listen on the same port fails");
	close(lfd);

	/* *:PORT: dual-stack IPv6, or IPv4 where the host has none. */
	snprintf(text, sizeof(text), "*:%d", free_port());
	addr_parse(text, true, true, &a, &err);
	lfd = addr_listen(&a, 16);
	ok(lfd >= 0, "addr_listen(%s)", text);
	if (lfd >= 0) {
		struct sockaddr_storage ss;
		len = sizeof(ss);
		getsockname(lfd, (struct sockaddr *)&ss, &len);
		if (ss.ss_family == AF_INET6) {
			int v6only = 1;
			len = sizeof(v6only);
			getsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len);
			is_int(v6only, 0, "*:PORT is dual-stack (IPV6_V6ONLY=0)");
		} else {
			ok(ss.ss_family == AF_INET, "*:PORT fell back to IPv4");
		}
		struct addr v4;
		snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(lfd));
		addr_parse(text, false, false, &v4, &err);
		int c = addr_connect(&v4, &in_progress);
		ok(c >= 0, "IPv4 connect reaches the *:PORT listener");
		if (c >= 0)
			close(c);
		close(lfd);
	}

	/* An explicit v6 host is V6ONLY, when the host has IPv6 at all. */
	snprintf(text, sizeof(text), "[::1]:%d", free_port());
	addr_parse(text, false, false, &a, &err);
	lfd = addr_listen(&a, 16);
	if (lfd >= 0) {
		int v6only = 0;
		len = sizeof(v6only);
		getsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len);
		is_int(v6only, 1, "[::1]:PORT is IPV6_V6ONLY");
		close(lfd);
	} else {
		ok(true, "# SKIP no IPv6 loopback here (%d)", lfd);
	}

	addr_parse("systemd:x", true, true, &a, &err);
	is_int(addr_listen(&a, 16), -EINVAL, "addr_listen(systemd:) is not for us");
	is_int(addr_connect(&a, &in_progress), -EINVAL, "addr_connect(systemd:) is invalid");
}

static void test_unix(void)
{
	char dir[] = "/tmp/zp-test-address-XXXXXX";
	char text[160], path[100];
	struct addr a;
	const char *err;
	bool in_progress;

	if (!mkdtemp(dir)) {
		ok(false, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(text, sizeof(text), "unix:%s", path);
	addr_parse(text, false, false, &a, &err);

	is_int(addr_connect(&a, &in_progress), -ENOENT, "connect to a missing unix socket");
	int lfd = addr_listen(&a, 4);
	ok(lfd >= 0 && fd_flags_ok(lfd), "addr_listen(unix) non-blocking, close-on-exec");
	is_int(addr_listen(&a, 4), -EADDRINUSE, "a live unix socket is not replaced");
	int c = addr_connect(&a, &in_progress);
	ok(c >= 0 && fd_flags_ok(c), "addr_connect(unix)");
	if (c >= 0)
		close(c);
	close(lfd);

	/* The socket file stays behind: a stale one is replaced. */
	struct stat st;
	ok(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode), "the closed socket left its file");
	is_int(addr_connect(&a, &in_progress), -ECONNREFUSED, "connect to a stale socket");
	lfd = addr_listen(&a, 4);
	ok(lfd >= 0, "a stale unix socket is replaced");
	if (lfd >= 0)
		close(lfd);
	unlink(path);

	/* Never unlink something that is not a socket. */
	int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (f >= 0)
		close(f);
	is_int(addr_listen(&a, 4), -EEXIST, "a regular file in the way is not removed");
	ok(lstat(path, &st) == 0 && S_ISREG(st.st_mode), "the regular file is still there");
	unlink(path);

	/* Abstract sockets have no file. */
	snprintf(text, sizeof(text), "unix:@zp-test-%d", (int)getpid());
	addr_parse(text, false, false, &a, &err);
	lfd = addr_listen(&a, 4);
	ok(lfd >= 0, "addr_listen(%s)", text);
	if (lfd >= 0) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char buf[128];
		getsockname(lfd, (struct sockaddr *)&ss, &len);
		sockaddr_format((struct sockaddr *)&ss, len, buf, sizeof(buf));
		is_str(buf, text, "abstract socket name round-trips");
		c = addr_connect(&a, &in_progress);
		ok(c >= 0, "addr_connect(%s)", text);
		if (c >= 0)
			close(c);
		close(lfd);
	}
	rmdir(dir);
}

int main(void)
{
	test_parse();
	test_equal();
	test_format();
	test_tcp();
	test_unix();
	return done_testing();
}
