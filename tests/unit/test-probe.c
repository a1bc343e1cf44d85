/*
 * test-probe — readiness probing on a real libev loop: ready = connect sees a
 * backend that starts listening late and hands over the connected socket;
 * ready = command runs ready_command until it exits 0, reports one that
 * cannot be run, and a cancel kills the one running with no callback after.
 * ready = http reads the status line strictly, asks with the request it
 * should, and against a forked backend that answers 503 before 200 (or a
 * 404, garbage, or a silent try given up after 5 s) is ready exactly when
 * the status is below 500.
 * Nothing is reported from inside probe_start(). The loop reaps children
 * with an ev_child watcher and hands them to probe_child_exited(), as the
 * daemon does with wait4(). No timing is asserted; a 10 s guard ends a hang.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "probe.h"
#include "tap.h"
#include "util.h"

struct result {
	int ready;    /* ready() calls */
	int ready_fd; /* the fd of the last */
	int failed;   /* failed() calls */
	char reason[600];
	pid_t reaped; /* the last child reaped */
	int reaped_status;
	bool was_probe; /* probe_child_exited() took it */
};

static struct probe probe;
static struct result res;
static char dir[] = "/tmp/zp-test-probe-XXXXXX";

static void on_ready(struct probe *p, int fd)
{
	res.ready++;
	res.ready_fd = fd;
	ev_break(p->loop, EVBREAK_ALL);
}

static void on_failed(struct probe *p, const char *reason)
{
	res.failed++;
	snprintf(res.reason, sizeof(res.reason), "%s", reason);
	ev_break(p->loop, EVBREAK_ALL);
}

static const struct probe_ops ops = {.ready = on_ready, .failed = on_failed};

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	res.reaped = w->rpid;
	res.reaped_status = w->rstatus;
	res.was_probe = probe_child_exited(&probe, w->rpid, w->rstatus);
	if (!probe.active)
		ev_break(loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until a callback (or the guard) breaks it. */
static void run(struct ev_loop *loop, double seconds)
{
	ev_timer guard;
	ev_timer_init(&guard, on_guard, seconds, 0);
	ev_timer_start(loop, &guard);
	ev_run(loop, 0);
	ev_timer_stop(loop, &guard);
}

/* Ours; parent is set in main(). */
static struct spawn_creds creds = {.uid = (uid_t)-1, .gid = (gid_t)-1};

static void test_connect(struct ev_loop *loop)
{
	char text[256], name[] = "web";
	snprintf(text, sizeof(text), "unix:%s/backend.sock", dir);
	struct service_config cfg = {.name = name, .ready = ZP_READY_CONNECT};
	const char *err = NULL;
	if (addr_parse(text, false, false, &cfg.address, &err) < 0) {
		ok(false, "parse %s: %s", text, err);
		return;
	}
	memset(&res, 0, sizeof(res));
	probe_init(&probe, loop, &cfg, &creds, 0, &ops, NULL);
	is_int(probe_start(&probe), 0, "connect: probe_start");
	is_int(res.ready, 0, "  nothing reported from inside probe_start()");
	/* Nobody listens yet: a few tries fail and back off. */
	run(loop, 0.05);
	is_int(res.ready, 0, "  not ready while nothing listens");
	ok(probe.active, "  still probing");
	int lfd = addr_listen(&cfg.address, 8);
	ok(lfd >= 0, "  the backend listens now");
	run(loop, 10);
	is_int(res.ready, 1, "  ready once it listens");
	ok(res.ready_fd >= 0, "  with the connected socket (fd %d)", res.ready_fd);
	ok(!probe.active, "  probing has ended");
	if (res.ready_fd >= 0)
		close(res.ready_fd);
	probe_close(&probe);
	if (lfd >= 0)
		close(lfd);
}

/* ready = command with this shell script as ready_command. */
static void command_start(struct ev_loop *loop, struct service_config *cfg, char **argv)
{
	static char name[] = "web";
	*cfg = (struct service_config){.name = name, .ready = ZP_READY_COMMAND, .ready_argv = argv};
	memset(&res, 0, sizeof(res));
	probe_init(&probe, loop, cfg, &creds, 0, &ops, NULL);
	probe_start(&probe);
}

static void test_command(struct ev_loop *loop)
{
	/* Exits 0 on its third run. */
	char script[512], sh[] = "/bin/sh", c[] = "-c";
	snprintf(script, sizeof(script),
		 "f=%s/runs; n=$(cat $f 2>/dev/null || echo 0); n=$((n + 1)); echo $n > $f; "
		 "[ $n -ge 3 ]",
		 dir);
	char *argv[] = {sh, c, script, NULL};
	struct service_config cfg;
	command_start(loop, &cfg, argv);
	is_int(res.ready, 0, "command: nothing reported from inside probe_start()");
	run(loop, 10);
	is_int(res.ready, 1, "  ready once ready_command exits 0");
	is_int(res.ready_fd, -1, "  with no socket");
	is_int(res.failed, 0, "  and no failure");
	char runs[32] = "";
	char path[256];
	snprintf(path, sizeof(path), "%s/runs", dir);
	read_small_file(path, runs, sizeof(runs));
	is_str(runs, "3\n", "  it ran three times");
	ok(WIFEXITED(probe.status) && WEXITSTATUS(probe.status) == 0,
	   "  the last status is kept (0x%x)", probe.status);
	probe_close(&probe);
	unlink(path);
}

static void test_command_missing(struct ev_loop *loop)
{
	char prog[] = "/nonexistent/zp-ready";
	char *argv[] = {prog, NULL};
	struct service_config cfg;
	command_start(loop, &cfg, argv);
	run(loop, 10);
	is_int(res.failed, 1, "a ready_command that does not exist: failed()");
	is_str(res.reason, "ready_command: exec /nonexistent/zp-ready: No such file or directory",
	       "  which says so");
	is_int(res.ready, 0, "  and never ready");
	ok(!probe.active, "  probing has ended");
	probe_close(&probe);
}

static void test_cancel(struct ev_loop *loop)
{
	char sh[] = "/bin/sh", c[] = "-c", script[] = "exec sleep 30";
	char *argv[] = {sh, c, script, NULL};
	struct service_config cfg;
	command_start(loop, &cfg, argv);
	/* Let it start: the first try is on the next loop iteration. */
	ev_timer guard;
	ev_timer_init(&guard, on_guard, 10, 0);
	ev_timer_start(loop, &guard);
	while (probe.pid == 0 && ev_is_active(&guard))
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
	pid_t pid = probe.pid;
	ok(pid > 0, "cancel: a ready_command is running (pid %d)", (int)pid);
	probe_cancel(&probe);
	run(loop, 10);
	is_int(res.reaped, pid, "  it was killed and reaped");
	ok(WIFSIGNALED(res.reaped_status) && WTERMSIG(res.reaped_status) == SIGKILL,
	   "  by SIGKILL (status 0x%x)", res.reaped_status);
	ok(res.was_probe, "  probe_child_exited() knew it");
	is_int(res.ready + res.failed, 0, "  and no callback came");
	probe_close(&probe);
}

static void test_http_status(void)
{
#define CASE(text, want)                                                                           \
	{                                                                                          \
		text, sizeof(text) - 1, want                                                       \
	}
	static const struct {
		const char *in;
		size_t len;
		int want;
	} cases[] = {
	    CASE("", 0),
	    CASE("HTTP/1.", 0),
	    CASE("HTTP/1.1 20", 0),
	    CASE("HTTP/1.1 200", 0),
	    CASE("HTTP/1.1 200 OK\r\n", 200),
	    CASE("HTTP/1.0 503 Service Unavailable", 503),
	    CASE("HTTP/1.1 204\r\n", 204),
	    CASE("HTTP/1.1 101 ", 101),
	    CASE("HTTP/1.1 999 ", 999),
	    CASE("HTTP/1.1 099 ", -1),
	    CASE("HTTP/1.1 2000", -1),
	    CASE("HTTP/1.1 20x", -1),
	    CASE("HTTP/1.1  200 ", -1),
	    CASE("HTTP/1.2 200 ", -1),
	    CASE("HTTP/2 200 ", -1),
	    CASE("http/1.1 200 ", -1),
	    CASE("HTTP/1.1 200\n", -1),
	    CASE("SSH-2.0-OpenSSH_9.2", -1),
	    CASE("\0TTP/1.1 200 ", -1),
	    CASE("HTTP/1.1 200\0", -1),
	};
#undef CASE
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char shown[16];
		size_t k = 0;
		for (; k < cases[i].len && k < sizeof(shown) - 1; k++)
			shown[k] =
			    cases[i].in[k] >= 0x20 && cases[i].in[k] < 0x7f ? cases[i].in[k] : '?';
		shown[k] = '\0';
		is_int(probe_http_status(cases[i].in, cases[i].len), cases[i].want,
		       "status line %zu \"%s\"", i, shown);
	}
	/* Byte by byte: 0 until the byte after the code. */
	const char *line = "HTTP/1.1 404 Not Found\r\n";
	bool partial = true;
	for (size_t n = 0; n < 13; n++)
		partial &= probe_http_status(line, n) == 0;
	ok(partial && probe_http_status(line, 13) == 404, "status line read byte by byte");
}

static void test_http_request(void)
{
	char name[] = "web", path[] = "/healthz?full=1", buf[2048];
	struct service_config cfg = {.name = name, .ready = ZP_READY_HTTP};
	const char *err = NULL;
	addr_parse("127.0.0.1:8080", false, false, &cfg.address, &err);
	int n = probe_http_request(&cfg, buf, sizeof(buf));
	is_str(buf,
	       "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: zeroproxy-ready\r\n"
	       "Accept: */*\r\nConnection: close\r\n\r\n",
	       "request: GET / by default, Host the address");
	is_int(n, (long long)strlen(buf), "  its length");
	cfg.ready_path = path;
	addr_parse("unix:/run/web.sock", false, false, &cfg.address, &err);
	probe_http_request(&cfg, buf, sizeof(buf));
	const char *want = "GET /healthz?full=1 HTTP/1.1\r\nHost: localhost\r\n";
	ok(!strncmp(buf, want, strlen(want)),
	   "request: ready_path, Host localhost for a unix socket");
	is_int(probe_http_request(&cfg, buf, 40), -ENOSPC, "request: -ENOSPC when it does not fit");
}

/* An answer that never comes: the connection is held open, silent. */
static const char HANG[] = "(hang)";

/* A backend on a unix socket (listening before the fork, so no race): it
 * answers connection i with answers[i] (after reading the request head,
 * which it appends to DIR/requests; NULL: a close, HANG: nothing), then
 * exits. */
static pid_t http_backend(const struct addr *a, const char *const *answers, size_t n)
{
	int lfd = addr_listen(a, 8);
	if (lfd < 0)
		return -1;
	pid_t pid = fork();
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	char path[256];
	snprintf(path, sizeof(path), "%s/requests", dir);
	(void)fd_set_nonblock(lfd, false);
	for (size_t i = 0; i < n; i++) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			_exit(1);
		char req[4096];
		size_t got = 0;
		while (got < sizeof(req) - 1) {
			ssize_t r = read(c, req + got, sizeof(req) - 1 - got);
			if (r <= 0)
				break;
			got += (size_t)r;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		FILE *f = fopen(path, "a");
		if (f) {
			fwrite(req, 1, got, f);
			fclose(f);
		}
		if (answers[i] == HANG)
			continue; /* never answered, never closed (until the exit) */
		if (answers[i])
			(void)!write(c, answers[i], strlen(answers[i]));
		close(c);
	}
	_exit(0);
}

/* Probe a backend that answers answers[0..n): ready or not after them. */
static void http_case(struct ev_loop *loop, const char *const *answers, size_t n, int want_ready,
		      const char *want_last, const char *what)
{
	char text[256], name[] = "web", reqs[256];
	snprintf(text, sizeof(text), "unix:%s/http.sock", dir);
	snprintf(reqs, sizeof(reqs), "%s/requests", dir);
	unlink(reqs);
	struct service_config cfg = {.name = name, .ready = ZP_READY_HTTP};
	const char *err = NULL;
	addr_parse(text, false, false, &cfg.address, &err);
	memset(&res, 0, sizeof(res));
	probe_init(&probe, loop, &cfg, &creds, 0, &ops, NULL);
	pid_t pid = http_backend(&cfg.address, answers, n);
	ok(pid > 0, "%s: backend up", what);
	is_int(probe_start(&probe), 0, "%s: probe_start", what);
	is_int(res.ready, 0, "%s: nothing reported from inside probe_start()", what);
	if (want_ready) {
		run(loop, 10);
	} else {
		/* Until the backend has answered every try and gone. */
		int status;
		for (int k = 0; k < 1000 && waitpid(pid, &status, WNOHANG) == 0; k++) {
			ev_run(loop, EVRUN_NOWAIT);
			usleep(1000);
		}
		run(loop, 0.05);
	}
	is_int(res.ready, want_ready, "%s: %s", what, want_ready ? "ready" : "not ready");
	is_int(res.ready_fd, want_ready ? -1 : 0, "%s: no socket handed over", what);
	is_str(probe.http_last, want_last, "%s: the last try", what);
	ok(probe.active == !want_ready, "%s: probing %s", what, want_ready ? "ended" : "goes on");
	char got[4096] = "";
	read_small_file(reqs, got, sizeof(got));
	const char *p = got;
	size_t asked = 0;
	while ((p = strstr(p, "GET / HTTP/1.1\r\nHost: localhost\r\n"))) {
		asked++;
		p++;
	}
	is_int(asked, n, "%s: asked %zu times, a new connection each", what, n);
	probe_close(&probe);
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	unlink(cfg.address.text + 5);
}

static void test_http(struct ev_loop *loop)
{
	static const char *const ok503[] = {
	    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
	    "HTTP/1.0 500 Internal Server Error\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	};
	http_case(loop, ok503, 3, 1, "answered 200", "http 503, 500, then 200");
	static const char *const notfound[] = {"HTTP/1.1 404 Not Found\r\n\r\n"};
	http_case(loop, notfound, 1, 1, "answered 404", "http 404");
	static const char *const garbage[] = {"SSH-2.0-OpenSSH\r\n", NULL,
					      "HTTP/1.1 599 x\r\n\r\n"};
	http_case(loop, garbage, 3, 0, "connect: Connection refused",
		  "http garbage, a close, 599, then gone");
	/* A try that gets no answer is given up after PROBE_HTTP_TRY (5 s). */
	static const char *const hang[] = {HANG, "HTTP/1.1 200 OK\r\n\r\n"};
	http_case(loop, hang, 2, 1, "answered 200", "http silent, then 200");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	creds.parent = getpid();
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 99;
	}
	struct ev_loop *loop = ev_default_loop(0);
	ev_child child;
	ev_child_init(&child, on_child, 0, 0);
	ev_child_start(loop, &child);

	test_connect(loop);
	test_command(loop);
	test_command_missing(loop);
	test_cancel(loop);
	test_http_status();
	test_http_request();
	test_http(loop);

	ev_child_stop(loop, &child);
	char path[256];
	snprintf(path, sizeof(path), "%s/backend.sock", dir);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
