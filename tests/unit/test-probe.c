/*
 * test-probe — readiness probing on a real libev loop: ready = connect sees a
 * backend that starts listening late and hands over the connected socket;
 * ready = command runs ready_command until it exits 0, reports one that
 * cannot be run, and a cancel kills the one running with no callback after.
 * Nothing is reported from inside probe_start(). The loop reaps children
 * with an ev_child watcher and hands them to probe_child_exited(), as the
 * daemon does with wait4(). No timing is asserted; a 10 s guard ends a hang.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

	ev_child_stop(loop, &child);
	char path[256];
	snprintf(path, sizeof(path), "%s/backend.sock", dir);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
