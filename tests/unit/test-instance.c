/*
 * test-instance — one backend instance on a real libev loop, with a fake
 * owner behind instance_ops: a spawn that cannot start returns -errno with
 * its reason and no instance; an exec failure is failed() then exited(); a
 * socket-activated backend is ready() once its exec succeeded, and
 * instance_stop() ends it with stop_signal. Children are reaped with an
 * ev_child watcher and handed to instance_child_exited(), as the daemon does
 * with wait4(). No timing is asserted; a 10 s guard ends a hang.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "instance.h"
#include "tap.h"
#include "util.h"

struct owner {
	int ready, failed, exited;
	int ready_fd;
	char reason[600];
	char how[64];
};

static struct owner own;
static struct instance *inst;

static void on_ready(struct instance *in, int fd)
{
	own.ready++;
	own.ready_fd = fd;
	ev_break(in->loop, EVBREAK_ALL);
}

static void on_failed(struct instance *in, const char *reason)
{
	own.failed++;
	snprintf(own.reason, sizeof(own.reason), "%s", reason);
}

static void on_exited(struct instance *in, const char *how)
{
	own.exited++;
	snprintf(own.how, sizeof(own.how), "%s", how);
	ev_break(in->loop, EVBREAK_ALL);
}

static void on_gone(struct instance *in)
{
}

static const struct instance_ops ops = {
    .ready = on_ready, .failed = on_failed, .exited = on_exited, .gone = on_gone};

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	if (inst && !inst->reaped)
		instance_child_exited(inst, w->rpid, w->rstatus, &(struct rusage){0});
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static void run(struct ev_loop *loop)
{
	ev_timer guard;
	ev_timer_init(&guard, on_guard, 10, 0);
	ev_timer_start(loop, &guard);
	ev_run(loop, 0);
	ev_timer_stop(loop, &guard);
}

static char name[] = "web", sh[] = "/bin/sh", dash_c[] = "-c";

static struct service_config config(char **argv, enum ready_mode ready)
{
	return (struct service_config){
	    .name = name,
	    .argv = argv,
	    .ready = ready,
	    .start_timeout_ms = ZP_INFINITY,
	    .stop_signal = SIGTERM,
	    .stop_timeout_ms = 10000,
	    .kill_mode = ZP_KILL_CONTROL_GROUP,
	};
}

static void test_cannot_spawn(struct ev_loop *loop)
{
	char user[] = "zp-no-such-user", script[] = "exit 0";
	char *argv[] = {sh, dash_c, script, NULL};
	struct service_config cfg = config(argv, ZP_READY_NOTIFY);
	cfg.user = user;
	struct spawn_env env = {0};
	struct instance *sentinel = (struct instance *)&own, *out = sentinel;
	char why[256] = "";
	int r = instance_spawn(loop, &cfg, &env, &ops, NULL, &out, why, sizeof(why));
	if (geteuid() == 0) {
		is_int(r, -ENOENT, "an unknown user: -ENOENT");
		is_str(why, "user zp-no-such-user: no such user", "  with the reason");
	} else {
		is_int(r, -EPERM, "a user without root: -EPERM");
		is_str(why, "user/group need zeroproxy to run as root", "  with the reason");
	}
	ok(out == sentinel, "  and *out left alone");
	is_int(own.ready + own.failed + own.exited, 0, "  no callback");
}

static void test_exec_fails(struct ev_loop *loop)
{
	char prog[] = "/nonexistent/zp-backend";
	char *argv[] = {prog, NULL};
	struct service_config cfg = config(argv, ZP_READY_NOTIFY);
	struct spawn_env env = {0};
	char why[256] = "";
	memset(&own, 0, sizeof(own));
	inst = NULL;
	is_int(instance_spawn(loop, &cfg, &env, &ops, NULL, &inst, why, sizeof(why)), 0,
	       "exec failure: the spawn itself works");
	ok(inst && inst->pid > 0 && instance_has_child(inst, inst->pid),
	   "  an instance with a pid");
	is_int(own.ready + own.failed + own.exited, 0, "  no callback from inside the spawn");
	run(loop);
	is_int(own.failed, 1, "  failed()");
	is_str(own.reason, "exec /nonexistent/zp-backend: No such file or directory",
	       "  with what failed");
	is_int(own.exited, 1, "  then exited()");
	is_str(own.how, "exited with status 127", "  how");
	is_int(own.ready, 0, "  never ready");
	instance_free(inst);
	inst = NULL;
}

static void test_socket_ready_stop(struct ev_loop *loop)
{
	char script[] = "exec sleep 30";
	char *argv[] = {sh, dash_c, script, NULL};
	struct service_config cfg = config(argv, ZP_READY_SOCKET);
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct spawn_env env = {.listen_fds = &sock, .n_listen_fds = 1};
	char why[256] = "";
	memset(&own, 0, sizeof(own));
	inst = NULL;
	is_int(instance_spawn(loop, &cfg, &env, &ops, NULL, &inst, why, sizeof(why)), 0,
	       "ready = socket: spawned");
	run(loop);
	is_int(own.ready, 1, "  ready once the exec succeeded");
	is_int(own.ready_fd, -1, "  with no socket of its own");
	ok(inst && inst->ready && !inst->stopping, "  running");
	if (inst)
		instance_stop(inst);
	run(loop);
	is_int(own.exited, 1, "instance_stop(): exited()");
	is_str(own.how, "killed by signal SIGTERM", "  by stop_signal");
	is_int(own.failed, 0, "  not a failure");
	instance_free(inst);
	inst = NULL;
	close(sock);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct ev_loop *loop = ev_default_loop(0);
	ev_child child;
	ev_child_init(&child, on_child, 0, 0);
	ev_child_start(loop, &child);

	test_cannot_spawn(loop);
	test_exec_fails(loop);
	test_socket_ready_stop(loop);

	ev_child_stop(loop, &child);
	return done_testing();
}
