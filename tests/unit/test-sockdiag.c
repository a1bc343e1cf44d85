/*
 * test-sockdiag — the open connections of real listening sockets, as the
 * kernel tells them: TCP (accepted and still queued, not other ports, not
 * closed ones), their byte counts, and unix (by the listener's name).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sockdiag.h"
#include "tap.h"

static int tcp_listener(struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(*sa);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &len) < 0) {
		printf("Bail out! tcp listener: %s\n", strerror(errno));
		exit(99);
	}
	return fd;
}

static int tcp_client(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		printf("Bail out! connect: %s\n", strerror(errno));
		exit(99);
	}
	return fd;
}

/* The connections of fds, or -1 when the kernel cannot tell (skip). */
static long list(const int *fds, size_t n, struct sockdiag_conn **out)
{
	size_t count = 0;
	*out = NULL;
	int r = sockdiag_list(fds, n, out, &count);
	if (r < 0) {
		note("sockdiag_list: %s", strerror(-r));
		return -1;
	}
	return (long)count;
}

int main(void)
{
	struct sockaddr_in a, b;
	int la = tcp_listener(&a), lb = tcp_listener(&b);
	struct sockdiag_conn *c = NULL;
	if (list(&la, 1, &c) < 0) {
		printf("1..0 # SKIP sock_diag is not available here\n");
		return 0;
	}
	is_int(list(&la, 1, &c), 0, "no connection yet");
	free(c);

	int c1 = tcp_client(&a), c2 = tcp_client(&a), other = tcp_client(&b);
	int s1 = accept4(la, NULL, NULL, SOCK_CLOEXEC);
	is_int(list(&la, 1, &c), 2, "one accepted and one queued, not the other port's");
	free(c);

	char buf[4096];
	memset(buf, 'x', sizeof(buf));
	ok(write(c1, buf, 1000) == 1000 && read(s1, buf, sizeof(buf)) == 1000, "1000 bytes in");
	ok(write(s1, buf, 300) == 300 && read(c1, buf, sizeof(buf)) == 300, "300 bytes out");
	long n = list(&la, 1, &c);
	uint64_t in = 0, out = 0;
	bool bytes = true;
	for (long i = 0; i < n; i++) {
		bytes &= c[i].has_bytes;
		in += c[i].bytes_in;
		out += c[i].bytes_out;
	}
	ok(n == 2 && bytes, "byte counts known for both");
	is_int((long long)in, 1000, "bytes_in: tcpi_bytes_received");
	is_int((long long)out, 300, "bytes_out: tcpi_bytes_acked");
	ok(n == 2 && c[0].cookie != c[1].cookie, "distinct cookies");
	free(c);

	close(c2);
	close(s1);
	close(c1);
	/* c2's server side stays in the accept queue in CLOSE_WAIT until
	 * accepted; s1 went through FIN_WAIT: neither is ours any more once
	 * closed on our side. */
	int s2 = accept4(la, NULL, NULL, SOCK_CLOEXEC);
	close(s2);
	is_int(list(&la, 1, &c), 0, "closed connections are gone");
	free(c);

	/* unix: the connection of our listener, not another's. */
	char path[] = "/tmp/zp-test-sockdiag-XXXXXX";
	int tmp = mkstemp(path);
	close(tmp);
	unlink(path);
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	snprintf(su.sun_path, sizeof(su.sun_path), "%s", path);
	int lu = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(lu >= 0 && bind(lu, (struct sockaddr *)&su, sizeof(su)) == 0 && listen(lu, 4) == 0,
	   "unix listener");
	is_int(list(&lu, 1, &c), 0, "unix: none yet");
	free(c);
	int uc = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(connect(uc, (struct sockaddr *)&su, sizeof(su)) == 0, "unix connect");
	int us = accept4(lu, NULL, NULL, SOCK_CLOEXEC);
	int both[] = {la, lu};
	is_int(list(both, 2, &c), 1, "unix: the accepted connection, with the TCP listener");
	ok(c && !c[0].has_bytes, "unix: no byte counts");
	free(c);
	close(us);
	close(uc);
	is_int(list(&lu, 1, &c), 0, "unix: gone once closed");
	free(c);

	unlink(path);
	close(lu);
	close(other);
	close(la);
	close(lb);
	return done_testing();
}
