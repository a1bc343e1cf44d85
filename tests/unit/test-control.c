/*
 * test-control — the control socket server and client against a test double of
 * the engine: the fake_* functions below, handed to the server as its
 * server_ops table. The server runs on a libev loop in this process; clients
 * are raw sockets driven alongside the loop, or client_run() in a forked child
 * whose stdout, stderr and exit code are checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "config.h"
#include "client.h"
#include "control.h"
#include "log.h"
#include "status.h"
#include "strbuf.h"
#include "tap.h"

/* The engine's test double. */
struct fake {
	size_t n_big;             /* > 0: status reports this many generated services */
	int reload_result;        /* what fake_reload returns */
	const char *reload_error; /* what fake_reload_error returns */
	int n_starts, n_stops, n_reloads;
	char last_started[64];
	char last_stopped[64];
};

static const char *const known[] = {"web", "api"};

static bool is_known(const char *name)
{
	for (size_t i = 0; i < 2; i++)
		if (strcmp(name, known[i]) == 0)
			return true;
	return false;
}

static void fill(struct service_status *st, const char *name, size_t i)
{
	memset(st, 0, sizeof(*st));
	st->name = strdup(name);
	st->state = i % 2 ? "stopped" : "running";
	st->pid = i % 2 ? 0 : 1000 + (int)i;
	st->listen = calloc(2, sizeof(char *));
	st->listen[0] = strdup("127.0.0.1:8080");
	st->connections_total = 10 * i;
	st->cpu_source = "rusage";
	st->last_error = i % 2 ? strdup("exec failed") : NULL;
}

static int fake_status(void *data, char *const *names, size_t n, struct service_status **out,
		       size_t *nout, const char **unknown)
{
	struct fake *d = data;
	if (d->n_big) {
		*out = calloc(d->n_big, sizeof(**out));
		for (size_t i = 0; i < d->n_big; i++) {
			char name[32];
			snprintf(name, sizeof(name), "service-%zu", i);
			fill(&(*out)[i], name, i);
		}
		*nout = d->n_big;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (!is_known(names[i])) {
			*unknown = names[i];
			return -ENOENT;
		}
	size_t m = n ? n : 2;
	*out = calloc(m, sizeof(**out));
	for (size_t i = 0; i < m; i++)
		fill(&(*out)[i], n ? names[i] : known[i], i);
	*nout = m;
	return 0;
}

static int fake_start(void *data, const char *name)
{
	struct fake *d = data;
	if (!is_known(name))
		return -ENOENT;
	d->n_starts++;
	snprintf(d->last_started, sizeof(d->last_started), "%s", name);
	return 0;
}

static int fake_stop(void *data, const char *name)
{
	struct fake *d = data;
	if (!is_known(name))
		return -ENOENT;
	d->n_stops++;
	snprintf(d->last_stopped, sizeof(d->last_stopped), "%s", name);
	return 0;
}

static int fake_reload(void *data, struct diag *diag)
{
	struct fake *d = data;
	d->n_reloads++;
	if (d->reload_result == -EINVAL) {
		diag_error(diag, "services.d/web.conf:7: [backend] ready: expected connect, notify "
				 "or socket, got \"sokcet\"");
		diag_error(diag, "services.d/api.conf:2: [service] listen: missing");
	} else
		diag_warning(diag, "services.d/api.conf: warning: program not found");
	return d->reload_result;
}

static const char *fake_reload_error(void *data)
{
	const struct fake *d = data;
	return d->reload_error;
}

static const struct server_ops fake_ops = {
    .status = fake_status,
    .start = fake_start,
    .stop = fake_stop,
    .reload = fake_reload,
    .reload_error = fake_reload_error,
};

/* Test harness. */

static struct ev_loop *loop;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the loop for a while. */
static void pump(double seconds)
{
	double end = now() + seconds;
	while (now() < end) {
		ev_run(loop, EVRUN_NOWAIT);
		usleep(1000);
	}
}

static struct sockaddr_un unix_addr(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		abort();
	memcpy(sa.sun_path, path, len + 1);
	return sa;
}

/* A socket file that nobody listens on, as a crashed run leaves it. */
static int make_stale_socket(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = unix_addr(path);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r;
}

static int raw_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = unix_addr(path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void raw_send(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			pump(0.001);
			continue;
		}
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Read from fd while the loop runs, until EOF; the bytes in *out. 0 on EOF,
 * -ETIMEDOUT, or -errno of a failed read. */
static int raw_read_all(int fd, struct strbuf *out, double timeout)
{
	double end = now() + timeout;
	sb_puts(out, "");
	while (now() < end) {
		ev_run(loop, EVRUN_NOWAIT);
		char buf[65536];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			sb_append(out, buf, (size_t)n);
			continue;
		}
		if (n == 0)
			return 0;
		if (errno != EAGAIN)
			return -errno;
		usleep(500);
	}
	return -ETIMEDOUT;
}

/* One request on a raw socket; the whole answer (malloc'd). */
static char *raw_request(const char *path, const char *req)
{
	int fd = raw_connect(path);
	if (fd < 0)
		return strdup("(connect failed)");
	raw_send(fd, req, strlen(req));
	struct strbuf sb = {0};
	if (raw_read_all(fd, &sb, 10) < 0)
		sb_puts(&sb, "(no EOF)");
	close(fd);
	return sb_steal(&sb);
}

struct run {
	int rc;
	char *out;
	char *err;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* client_run(path, argv) in a child while the loop runs here. With
 * as_nobody, the child gives up root first (for the permission test). */
static void run_client(const char *path, bool as_nobody, struct run *r, const char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
		abort();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (as_nobody && geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(99);
		_exit(client_run(path, argc, (char **)argv));
	}
	close(po[1]);
	close(pe[1]);
	fcntl(po[0], F_SETFL, O_NONBLOCK);
	fcntl(pe[0], F_SETFL, O_NONBLOCK);
	struct strbuf out = {0}, err = {0};
	sb_puts(&out, "");
	sb_puts(&err, "");
	bool out_eof = false, err_eof = false;
	double end = now() + 20;
	while ((!out_eof || !err_eof) && now() < end) {
		ev_run(loop, EVRUN_NOWAIT);
		struct pollfd pfd[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
		poll(pfd, 2, 2);
		char buf[65536];
		ssize_t n;
		while (!out_eof && (n = read(po[0], buf, sizeof(buf))) != -1) {
			if (n == 0)
				out_eof = true;
			sb_append(&out, buf, (size_t)n);
		}
		while (!err_eof && (n = read(pe[0], buf, sizeof(buf))) != -1) {
			if (n == 0)
				err_eof = true;
			sb_append(&err, buf, (size_t)n);
		}
	}
	int status = 0;
	if (!out_eof || !err_eof)
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(po[0]);
	close(pe[0]);
	r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r->out = sb_steal(&out);
	r->err = sb_steal(&err);
	if (getenv("ZP_TEST_DEBUG"))
		note("client %s: rc %d, stdout \"%s\", stderr \"%s\"", argv[0], r->rc, r->out,
		     r->err);
}

#define ARGV(...) ((const char *[]){__VA_ARGS__, NULL})

static void test_commands(const char *path, struct fake *d)
{
	struct run r;

	run_client(path, false, &r, ARGV("status"));
	is_int(r.rc, 0, "status: exit 0");
	ok(strncmp(r.out, "SERVICE  STATE", 14) == 0 && strstr(r.out, "\nweb ") &&
	       strstr(r.out, "\napi "),
	   "status: the table with both services");
	is_str(r.err, "", "status: nothing on stderr");
	run_free(&r);

	run_client(path, false, &r, ARGV("status", "--json", "api"));
	is_int(r.rc, 0, "status --json api: exit 0");
	ok(strncmp(r.out, "{\"services\": [\n  {\"name\": \"api\"", 31) == 0 &&
	       !strstr(r.out, "\"web\""),
	   "status --json api: JSON of api alone");
	run_free(&r);

	run_client(path, false, &r, ARGV("status", "web", "--json"));
	ok(r.rc == 0 && strstr(r.out, "\"name\": \"web\"") && !strstr(r.out, "\"api\""),
	   "status NAME --json: options after names");
	run_free(&r);

	run_client(path, false, &r, ARGV("status", "web", "nope"));
	is_int(r.rc, 1, "status unknown: exit 1");
	is_str(r.err, "zeroproxy: unknown service nope\n", "status unknown: one line");
	is_str(r.out, "", "status unknown: nothing on stdout");
	run_free(&r);

	run_client(path, false, &r, ARGV("status", "--yaml"));
	ok(r.rc == 1 && strcmp(r.err, "zeroproxy: unknown option --yaml\n") == 0,
	   "status unknown option");
	run_free(&r);

	run_client(path, false, &r, ARGV("start", "web"));
	ok(r.rc == 0 && !*r.out && !*r.err, "start web: exit 0, silent");
	ok(d->n_starts == 1 && strcmp(d->last_started, "web") == 0, "start web: dispatched");
	run_free(&r);

	run_client(path, false, &r, ARGV("stop", "api"));
	ok(r.rc == 0 && d->n_stops == 1 && strcmp(d->last_stopped, "api") == 0,
	   "stop api: dispatched");
	run_free(&r);

	run_client(path, false, &r, ARGV("start", "nope"));
	ok(r.rc == 1 && strcmp(r.err, "zeroproxy: unknown service nope\n") == 0,
	   "start unknown service");
	run_free(&r);

	run_client(path, false, &r, ARGV("stop", "nope"));
	ok(r.rc == 1 && strcmp(r.err, "zeroproxy: unknown service nope\n") == 0,
	   "stop unknown service");
	run_free(&r);

	run_client(path, false, &r, ARGV("start"));
	ok(r.rc == 1 && strcmp(r.err, "zeroproxy: usage: start SERVICE\n") == 0,
	   "start without a name");
	run_free(&r);

	run_client(path, false, &r, ARGV("stop", "web", "api"));
	ok(r.rc == 1 && strcmp(r.err, "zeroproxy: usage: stop SERVICE\n") == 0,
	   "stop with two names");
	run_free(&r);
	ok(d->n_starts == 1 && d->n_stops == 1, "failed commands dispatched nothing");

	d->reload_result = 0;
	run_client(path, false, &r, ARGV("reload"));
	ok(r.rc == 0 && d->n_reloads == 1, "reload: exit 0");
	is_str(r.out, "services.d/api.conf: warning: program not found\n",
	       "reload: warnings on stdout");
	run_free(&r);

	d->reload_result = -EINVAL;
	run_client(path, false, &r, ARGV("reload"));
	is_int(r.rc, 1, "broken reload: exit 1");
	is_str(r.err,
	       "zeroproxy: configuration invalid\n"
	       "services.d/web.conf:7: [backend] ready: expected connect, notify or socket, got "
	       "\"sokcet\"\n"
	       "services.d/api.conf:2: [service] listen: missing\n",
	       "broken reload: the reason and every error on stderr");
	is_str(r.out, "", "broken reload: nothing on stdout");
	run_free(&r);

	d->reload_error = "reload failed: services.d/web.conf:7: [backend] ready: bad";
	run_client(path, false, &r, ARGV("status"));
	ok(r.rc == 0 && strstr(r.out, "\napi ") &&
	       strstr(r.out, "\n\nreload failed: services.d/web.conf:7: [backend] ready: bad\n"),
	   "status after a broken reload: the table, then the reason");
	run_free(&r);
	run_client(path, false, &r, ARGV("status", "--json"));
	ok(r.rc == 0 && strstr(r.out, "\"reload_error\": \"reload failed: services.d/web.conf:7: "
				      "[backend] ready: bad\"}\n"),
	   "status --json after a broken reload: reload_error");
	run_free(&r);
	d->reload_error = NULL;
	run_client(path, false, &r, ARGV("status", "--json"));
	ok(r.rc == 0 && strstr(r.out, "\n]") && strstr(r.out, ",\n\"reload_error\": null}\n"),
	   "status --json: reload_error null");
	run_free(&r);

	run_client(path, false, &r, ARGV("frobnicate", "x"));
	ok(r.rc == 1 && strcmp(r.err, "zeroproxy: unknown command frobnicate\n") == 0,
	   "unknown command");
	run_free(&r);

	run_client(path, false, &r, ARGV("status", "a b"));
	ok(r.rc == 1 && strstr(r.err, "invalid argument"), "client refuses a word with a blank");
	run_free(&r);
}

static void test_raw(const char *path)
{
	char *a = raw_request(path, "  status\tapi  \r\n");
	ok(strncmp(a, "ok\nSERVICE", 10) == 0 && strstr(a, "\napi ") && !strstr(a, "\nweb "),
	   "raw: blanks and CRLF tolerated");
	free(a);

	a = raw_request(path, "\n");
	is_str(a, "error empty request\n", "raw: empty request");
	free(a);

	/* A request without newline, ended by shutdown: still answered. */
	int fd = raw_connect(path);
	raw_send(fd, "status web", 10);
	shutdown(fd, SHUT_WR);
	struct strbuf sb = {0};
	raw_read_all(fd, &sb, 5);
	ok(strncmp(sb.data, "ok\nSERVICE", 10) == 0, "raw: request ended by EOF");
	sb_free(&sb);
	close(fd);

	/* Oversized requests. */
	char big[5000];
	memset(big, 'a', sizeof(big));
	fd = raw_connect(path);
	raw_send(fd, big, sizeof(big));
	raw_read_all(fd, &sb, 5);
	is_str(sb.data, "error request too long\n", "raw: 5000 bytes without newline: too long");
	sb_free(&sb);
	close(fd);

	memset(big, 'b', 4095);
	big[4095] = '\n';
	fd = raw_connect(path);
	raw_send(fd, big, 4096);
	raw_read_all(fd, &sb, 5);
	ok(strncmp(sb.data, "error unknown command bbbb", 26) == 0,
	   "raw: a 4096-byte line is still read");
	sb_free(&sb);
	close(fd);

	big[4095] = 'b';
	big[4096] = '\n';
	fd = raw_connect(path);
	raw_send(fd, big, 4097);
	raw_read_all(fd, &sb, 5);
	is_str(sb.data, "error request too long\n", "raw: a 4097-byte line is too long");
	sb_free(&sb);
	close(fd);

	/* A client that closes at once does not disturb the server. */
	fd = raw_connect(path);
	close(fd);
	pump(0.05);
	a = raw_request(path, "status\n");
	ok(strncmp(a, "ok\n", 3) == 0, "raw: server fine after a client vanished");
	free(a);
}

/* Silent and slow clients must not block others; both are dropped. */
static void test_slow(const char *path, struct fake *d)
{
	int silent = raw_connect(path);
	raw_send(silent, "sta", 3); /* a start, never finished */

	/* A slow reader of a big answer (far more than the socket buffer). */
	d->n_big = 3000;
	int slow = raw_connect(path);
	raw_send(slow, "status --json\n", 14);
	pump(0.3);
	d->n_big = 0;

	double t0 = now();
	char *a = raw_request(path, "status web\n");
	ok(strncmp(a, "ok\n", 3) == 0 && now() - t0 < 1,
	   "a silent and a slow client do not block another one");
	free(a);

	struct run r;
	run_client(path, false, &r, ARGV("status", "api"));
	ok(r.rc == 0 && strstr(r.out, "\napi "), "client_run served meanwhile too");
	run_free(&r);

	/* Read a little of the big answer, so that it is mid-way. */
	char buf[1000];
	ssize_t n = recv(slow, buf, sizeof(buf), 0);
	ok(n > 0 && strncmp(buf, "ok\n{\"services\": [", 17) == 0, "slow reader got a beginning");

	struct strbuf sb = {0};
	t0 = now();
	int r1 = raw_read_all(silent, &sb, 8);
	double dt = now() - t0;
	ok(r1 == 0 && sb.len == 0 && dt > 3 && dt < 7,
	   "silent client dropped after ~5 s without an answer (%.1f s)", dt);
	sb_free(&sb);
	close(silent);

	/* The slow reader stopped reading for more than 5 s: dropped too. The
	 * socket still holds what was sent, but not the whole answer. */
	pump(1.5);
	size_t got = 0;
	int r2;
	for (;;) {
		n = recv(slow, buf, sizeof(buf), 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		r2 = n == 0 ? 0 : -errno;
		break;
	}
	ok(r2 == 0 && got < 1000000, "a reader that stalls is dropped (%zu bytes delivered)", got);
	close(slow);

	/* A slow reader that does read in the end gets everything. */
	d->n_big = 3000;
	int fd = raw_connect(path);
	raw_send(fd, "status --json\n", 14);
	pump(0.5);
	d->n_big = 0;
	raw_read_all(fd, &sb, 10);
	ok(sb.len > 1000000 && strstr(sb.data, "\"service-2999\"") &&
	       strcmp(sb.data + sb.len - 23, "\n\"reload_error\": null}\n") == 0,
	   "a large answer arrives whole (%zu bytes)", sb.len);
	sb_free(&sb);
	close(fd);
}

static void test_many(const char *path)
{
	int fds[40];
	for (int i = 0; i < 32; i++) {
		fds[i] = raw_connect(path);
		pump(0.002);
	}
	pump(0.05);
	char *a = raw_request(path, "status\n");
	is_str(a, "error too many clients\n", "33rd client at once turned away");
	free(a);
	for (int i = 0; i < 32; i++)
		close(fds[i]);
	pump(0.05);
	a = raw_request(path, "status\n");
	ok(strncmp(a, "ok\n", 3) == 0, "served again once the others left");
	free(a);
}

static void test_client_errors(const char *dir, const char *path)
{
	struct run r;
	char p[512];

	snprintf(p, sizeof(p), "%s/nothing.sock", dir);
	run_client(p, false, &r, ARGV("status"));
	char want[700];
	snprintf(
	    want, sizeof(want),
	    "zeroproxy: cannot reach %s: No such file or directory \u2014 is zeroproxy running?\n",
	    p);
	ok(r.rc == 1, "no daemon: exit 1");
	is_str(r.err, want, "no daemon: one line on stderr");
	run_free(&r);

	/* A socket file nobody listens on. */
	snprintf(p, sizeof(p), "%s/stale-client.sock", dir);
	make_stale_socket(p);
	run_client(p, false, &r, ARGV("status"));
	snprintf(want, sizeof(want),
		 "zeroproxy: cannot reach %s: Connection refused \u2014 is zeroproxy running?\n",
		 p);
	ok(r.rc == 1 && strcmp(r.err, want) == 0, "stale socket: connection refused");
	run_free(&r);
	unlink(p);

	/* Permission denied: the socket made inaccessible, and root dropped. */
	chmod(path, 0);
	run_client(path, true, &r, ARGV("status"));
	snprintf(want, sizeof(want), "zeroproxy: cannot reach %s: Permission denied\n", path);
	ok(r.rc == 1, "permission denied: exit 1");
	is_str(r.err, want, "permission denied: one line");
	run_free(&r);
	chmod(path, 0660);
}

static void test_socket_file(const char *dir, struct fake *d, struct control_server *srv,
			     const char *path)
{
	struct stat st = {0};
	int r = stat(path, &st);
	ok(r == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0660, "socket mode 0660 (%o)",
	   st.st_mode & 07777);
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/run/zp", dir);
	ok(stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755,
	   "missing directories created 0755");

	/* A live daemon there: refused, its socket left alone. */
	struct control_server *other = NULL;
	r = control_server_new(loop, path, &fake_ops, d, &other);
	is_int(r, -EADDRINUSE, "second server on a live socket: EADDRINUSE");
	ok(stat(path, &st) == 0, "the live socket is still there");
	char *a = raw_request(path, "status\n");
	ok(strncmp(a, "ok\n", 3) == 0, "and still answers");
	free(a);

	/* A stale socket from a crashed run is replaced. */
	char p[512];
	snprintf(p, sizeof(p), "%s/stale.sock", dir);
	ok(make_stale_socket(p) == 0, "made a stale socket");
	r = control_server_new(loop, p, &fake_ops, d, &other);
	is_int(r, 0, "stale socket replaced");
	a = raw_request(p, "status api\n");
	ok(strncmp(a, "ok\n", 3) == 0, "the new server answers there");
	free(a);
	control_server_free(other);
	ok(access(p, F_OK) < 0 && errno == ENOENT, "free removes the socket file");

	/* Never unlink something that is not a socket. */
	snprintf(p, sizeof(p), "%s/file", dir);
	FILE *f = fopen(p, "w");
	fputs("precious\n", f);
	fclose(f);
	r = control_server_new(loop, p, &fake_ops, d, &other);
	ok(r == -EEXIST && access(p, F_OK) == 0, "a regular file in the way is left alone");
	unlink(p);

	/* A path too long for sockaddr_un. */
	char longp[200];
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	r = control_server_new(loop, longp, &fake_ops, d, &other);
	is_int(r, -ENAMETOOLONG, "path too long");

	/* A server freed while clients are connected. */
	snprintf(p, sizeof(p), "%s/busy.sock", dir);
	r = control_server_new(loop, p, &fake_ops, d, &other);
	int c1 = raw_connect(p), c2 = raw_connect(p);
	raw_send(c2, "st", 2);
	pump(0.05);
	control_server_free(other);
	struct strbuf sb = {0};
	ok(r == 0 && raw_read_all(c1, &sb, 2) == 0 && raw_read_all(c2, &sb, 2) == 0 && sb.len == 0,
	   "free closes connected clients");
	sb_free(&sb);
	close(c1);
	close(c2);
	(void)srv;
}

/* control_handle_request() called directly (as tests/fuzz/fuzz-control does):
 * a line with more words than the server's longest request can hold is
 * refused, not written past the word array. */
static void test_handle_request(struct fake *d)
{
	size_t n = 3 * CONTROL_MAX_REQUEST;
	char *line = malloc(n + 1);
	for (size_t i = 0; i < n; i += 2)
		memcpy(line + i, "a ", 2);
	line[n] = '\0';
	struct strbuf out = {0};
	control_handle_request(&fake_ops, d, line, &out);
	is_str(out.data, "error request too long\n", "a line of %zu one-letter words", n / 2);
	sb_free(&out);

	char ok_line[] = "start\tweb\r";
	control_handle_request(&fake_ops, d, ok_line, &out);
	is_str(out.data, "ok\n", "a request handled directly");
	sb_free(&out);
	free(line);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	log_set_level(LOG_ERR); /* the expected failures would be noise */
	/* Not the default loop: that one reaps every child on SIGCHLD, and the
	 * clients run in children whose exit status the tests check. */
	loop = ev_loop_new(EVFLAG_AUTO);

	char dir[] = "/tmp/zp-test-control-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 99;
	}
	chmod(dir, 0755); /* the permission test's child must reach the socket */
	char path[512];
	snprintf(path, sizeof(path), "%s/run/zp/control.sock", dir);

	struct fake d = {0};
	struct control_server *srv = NULL;
	int r = control_server_new(loop, path, &fake_ops, &d, &srv);
	if (!is_int(r, 0, "server listens at %s", path))
		return done_testing();

	test_socket_file(dir, &d, srv, path);
	test_commands(path, &d);
	test_raw(path);
	test_many(path);
	test_client_errors(dir, path);
	test_slow(path, &d);
	test_handle_request(&d);

	control_server_free(srv);
	ok(access(path, F_OK) < 0, "socket file removed at the end");

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		note("could not remove %s", dir);
	ev_loop_destroy(loop);
	return done_testing();
}
