/*
 * daemon — start-up, the event loop, signals, reaping, sd_notify STATUS= and
 * the watchdog, and shutdown; see daemon.h. Applying a configuration (the
 * first one and every reload) is reload.c's, on the struct daemon_core this
 * file embeds: the daemon calls reload, never the other way round.
 *
 * The loop is a private ev_loop_new() loop rather than libev's default one:
 * the default loop reaps every child itself with waitpid(), and zeroproxy
 * needs wait4()'s resource usage (CPU of the backend and its descendants), so
 * it handles SIGCHLD and reaps its children itself.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "budget.h"
#include "cgroup.h"
#include "control.h"
#include "daemon.h"
#include "group.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "reload.h"
#include "service.h"
#include "usage_store.h"
#include "util.h"

struct daemon {
	struct daemon_core core; /* the running configuration (reload.h) */
	struct notify_server *notify;
	struct cgroup_root *cgroup; /* per-instance cgroups, or NULL */
	struct usage_store *usage;  /* the usage files' writer thread, or NULL */
	ev_timer status_timer;      /* STATUS= after connection changes, at most 1/s */
	ev_signal sigchld, sighup, sigterm, sigint;
	ev_timer watchdog;
	bool shutting_down;
	bool freeing; /* daemon_free() runs: no callbacks into it */
};

/* --- sd_notify STATUS= --------------------------------------------------- */

static void daemon_send_status(void *data)
{
	struct daemon *d = data;
	/* These figures are fresh: a pending rate-limited update is not needed
	 * (and an idle stop leaves no timer behind to wake the daemon). */
	if (!d->freeing)
		ev_timer_stop(d->core.loop, &d->status_timer);
	size_t running = 0, conns = 0;
	for (size_t i = 0; i < d->core.n_svcs; i++) {
		running += service_is_running(d->core.svcs[i]);
		conns += service_connections(d->core.svcs[i]);
	}
	notify_systemd("STATUS=%zu service%s, %zu running, %zu connection%s%s", d->core.n_svcs,
		       d->core.n_svcs == 1 ? "" : "s", running, conns, conns == 1 ? "" : "s",
		       d->core.reload_error ? "; last reload failed" : "");
}

static void on_status_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	daemon_send_status(w->data);
}

/* Connections come and go far too often for a datagram each: the summary is
 * sent at most once a second, and only after something changed (nothing
 * wakes an idle daemon). */
static void daemon_conns_changed(void *data)
{
	struct daemon *d = data;
	if (d->freeing || ev_is_active(&d->status_timer))
		return;
	ev_timer_set(&d->status_timer, 1.0, 0);
	ev_timer_start(d->core.loop, &d->status_timer);
}

/* --- services ------------------------------------------------------------ */

static void daemon_drained(void *data, struct service *svc)
{
	struct daemon *d = data;
	for (size_t i = 0; i < d->core.n_retired; i++)
		if (d->core.retired[i] == svc) {
			d->core.retired[i] = d->core.retired[--d->core.n_retired];
			log_event(LOG_INFO, service_name(svc), LOG_EV_CONFIG, NULL, "%s: removed",
				  service_name(svc));
			service_save_usage(svc);
			service_free(svc);
			return;
		}
}

static bool daemon_all_stopped(const struct daemon *d);

/* A service changed state: the STATUS= summary, and at shutdown the end of
 * the loop once the last instance is over (its last process may go without
 * a SIGCHLD to us, seen on its cgroup). */
static void daemon_service_changed(void *data)
{
	struct daemon *d = data;
	daemon_send_status(d);
	if (d->shutting_down && !d->freeing && daemon_all_stopped(d))
		ev_break(d->core.loop, EVBREAK_ALL);
}

static bool daemon_all_stopped(const struct daemon *d)
{
	for (size_t i = 0; i < d->core.n_svcs; i++)
		if (service_has_instance(d->core.svcs[i]))
			return false;
	for (size_t i = 0; i < d->core.n_retired; i++)
		if (service_has_instance(d->core.retired[i]))
			return false;
	return true;
}

static void on_sigchld(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	for (;;) {
		int status;
		struct rusage ru;
		pid_t pid = wait4(-1, &status, WNOHANG, &ru);
		if (pid <= 0)
			break;
		struct service *owner = NULL;
		for (size_t i = 0; i < d->core.n_svcs + d->core.n_retired && !owner; i++) {
			struct service *svc = i < d->core.n_svcs
						  ? d->core.svcs[i]
						  : d->core.retired[i - d->core.n_svcs];
			if (service_owns_child(svc, pid))
				owner = svc;
		}
		if (!owner) {
			log_debug("reaped unknown child %d", (int)pid);
			continue;
		}
		/* Before the exit is handled: it may start the next instance,
		 * which may bind that very path itself (ready = connect). */
		if (d->core.n_stale && service_instance_pid(owner) == pid)
			reload_sweep_stale(&d->core, owner);
		service_child_exited(owner, pid, status, &ru);
	}
	if (d->shutting_down && daemon_all_stopped(d))
		ev_break(loop, EVBREAK_ALL);
}

static void on_backend_notify(void *data, pid_t pid, const char *msg)
{
	struct daemon *d = data;
	for (size_t i = 0; i < d->core.n_svcs; i++)
		if (service_notify(d->core.svcs[i], pid, msg))
			return;
	for (size_t i = 0; i < d->core.n_retired; i++)
		if (service_notify(d->core.retired[i], pid, msg))
			return;
	log_debug("notify message from unknown pid %d ignored", (int)pid);
}

/* --- file descriptors --------------------------------------------------- */

/* The budget's way to the listeners: those of the running services (the
 * retired have none left). Nothing while the daemon is freed. */
static void daemon_each_listener(void *data, void (*fn)(struct listener *l))
{
	struct daemon *d = data;
	if (d->freeing)
		return;
	for (size_t i = 0; i < d->core.n_svcs; i++) {
		size_t n;
		struct listener *const *ls = service_listeners(d->core.svcs[i], &n);
		for (size_t j = 0; j < n; j++)
			fn(ls[j]);
	}
}

/* --- control-plane entry points (server_ops) ------------------------------ */

static int daemon_status(void *data, char *const *names, size_t n, struct service_status **out,
			 size_t *nout, const char **unknown)
{
	struct daemon *d = data;
	for (size_t i = 0; i < n; i++)
		if (!reload_find_service(&d->core, names[i])) {
			if (unknown)
				*unknown = names[i];
			return -ENOENT;
		}
	size_t cnt = n ? n : d->core.n_svcs;
	struct service_status *st = xcalloc(cnt + 1, sizeof(*st));
	for (size_t i = 0; i < cnt; i++)
		service_status(n ? reload_find_service(&d->core, names[i]) : d->core.svcs[i],
			       &st[i]);
	*out = st;
	*nout = cnt;
	return 0;
}

static int daemon_start_service(void *data, const char *name)
{
	struct daemon *d = data;
	struct service *svc = reload_find_service(&d->core, name);
	if (!svc)
		return -ENOENT;
	service_start(svc, "zeroproxy start");
	return 0;
}

static int daemon_stop_service(void *data, const char *name)
{
	struct daemon *d = data;
	struct service *svc = reload_find_service(&d->core, name);
	if (!svc)
		return -ENOENT;
	service_stop(svc, "zeroproxy stop");
	return 0;
}

/* Re-read the configuration (reload.c), then the STATUS= summary. */
static int daemon_reload(struct daemon *d, struct diag *diag)
{
	int r = reload_run(&d->core, diag);
	daemon_send_status(d);
	return r;
}

static int daemon_reload_op(void *data, struct diag *diag)
{
	return daemon_reload(data, diag);
}

static const char *daemon_reload_error(void *data)
{
	const struct daemon *d = data;
	return d->core.reload_error;
}

static const struct server_ops daemon_server_ops = {
    .status = daemon_status,
    .start = daemon_start_service,
    .stop = daemon_stop_service,
    .reload = daemon_reload_op,
    .reload_error = daemon_reload_error,
};

/* --- signals ------------------------------------------------------------- */

static void on_sighup(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	if (d->shutting_down)
		return;
	struct diag diag = {0};
	daemon_reload(d, &diag);
	diag_free(&diag);
}

static void on_sigterm(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	if (d->shutting_down) {
		/* Asked again: do not wait for stop_timeout. */
		log_notice("%s again: killing every backend now",
			   w->signum == SIGINT ? "SIGINT" : "SIGTERM");
		for (size_t i = 0; i < d->core.n_svcs; i++)
			service_kill(d->core.svcs[i]);
		for (size_t i = 0; i < d->core.n_retired; i++)
			service_kill(d->core.retired[i]);
		return;
	}
	d->shutting_down = true;
	log_event(LOG_NOTICE, NULL, LOG_EV_SHUTDOWN, NULL, "%s, stopping",
		  w->signum == SIGINT ? "SIGINT" : "SIGTERM");
	notify_systemd("STOPPING=1");
	control_server_free(d->core.control);
	d->core.control = NULL;
	metrics_server_free(d->core.metrics);
	d->core.metrics = NULL;
	for (size_t i = 0; i < d->core.n_svcs; i++)
		service_shutdown(d->core.svcs[i]);
	for (size_t i = 0; i < d->core.n_retired; i++)
		service_shutdown(d->core.retired[i]);
	if (daemon_all_stopped(d))
		ev_break(loop, EVBREAK_ALL);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	notify_systemd("WATCHDOG=1");
}

/* --- run ----------------------------------------------------------------- */

static void daemon_free(struct daemon *d)
{
	d->freeing = true;
	reload_stale_free(&d->core); /* every backend is gone by now */
	reload_fronts_free(&d->core);
	for (size_t i = 0; i < d->core.n_svcs; i++) {
		service_save_usage(d->core.svcs[i]);
		service_free(d->core.svcs[i]);
	}
	for (size_t i = 0; i < d->core.n_retired; i++) {
		service_save_usage(d->core.retired[i]);
		service_free(d->core.retired[i]);
	}
	group_set_free(d->core.env.groups); /* after its members */
	usage_store_free(d->usage);         /* the saves above are on disk when it returns */
	free(d->core.svcs);
	free(d->core.retired);
	control_server_free(d->core.control);
	metrics_server_free(d->core.metrics);
	notify_server_free(d->notify);
	cgroup_root_free(d->cgroup);
	control_server_free(d->core.dead_control);
	metrics_server_free(d->core.dead_metrics);
	if (d->core.loop) {
		ev_timer_stop(d->core.loop, &d->core.reap);
		ev_timer_stop(d->core.loop, &d->status_timer);
	}
	reload_passed_fds_close(&d->core);
	config_free(d->core.cfg);
	free(d->core.runtime_dir);
	free(d->core.state_dir);
	free(d->core.config_path);
	free(d->core.reload_error);
	if (d->core.loop)
		ev_loop_destroy(d->core.loop);
	free(d);
}

int daemon_run(const char *config_path, bool explicit_path)
{
	struct diag diag = {0};
	struct config *cfg = NULL;
	if (config_load(config_path, explicit_path, &cfg, &diag) < 0) {
		reload_log_diag(&diag);
		log_error("%s: configuration invalid, not starting", config_path);
		diag_free(&diag);
		return 1;
	}
	log_set_level(cfg->log_level);
	if (budget_nofile_check(cfg) < 0) {
		log_error("not starting");
		config_free(cfg);
		diag_free(&diag);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Orphaned processes of our backends (workers whose master exited)
	 * become our children, so that we reap them: a process group is gone
	 * only once its zombies are, and not every init reaps them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warning("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));

	struct daemon *d = xcalloc(1, sizeof(*d));
	d->core.config_path = xstrdup(config_path);
	d->core.explicit_path = explicit_path;
	d->core.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	int rc = 1;
	if (!d->core.loop) {
		log_error("cannot create the event loop");
		goto out;
	}
	const char *rt = getenv("RUNTIME_DIRECTORY");
	/* systemd may list several directories separated by colons. */
	d->core.runtime_dir =
	    rt && *rt ? strndup(rt, strcspn(rt, ":")) : path_dirname(cfg->control_socket);
	int r;
	if ((r = mkdir_p(cfg->state_dir, 0755)) < 0) {
		log_error("state_dir %s: %s", cfg->state_dir, strerror(-r));
		goto out;
	}
	d->core.state_dir = xstrdup(cfg->state_dir);
	if ((r = mkdir_p(d->core.runtime_dir, 0755)) < 0) {
		log_error("runtime directory %s: %s", d->core.runtime_dir, strerror(-r));
		goto out;
	}
	if (reload_passed_fds_load(&d->core) < 0)
		goto out;
	if ((r = notify_server_new(d->core.loop, on_backend_notify, d, &d->notify)) < 0) {
		log_error("notify socket: %s", strerror(-r));
		goto out;
	}
	/* Fails soft: without cgroups, wait4() rusage and process groups. */
	if (cgroup_setup(&d->cgroup) < 0)
		d->cgroup = NULL;
	if ((r = usage_store_new(d->core.loop, &d->usage)) < 0) {
		log_warning("usage files: no writer thread (%s); writing them on the event loop",
			    strerror(-r));
		d->usage = NULL;
	}
	rlim_t backend_nofile = budget_nofile_raise();
	budget_init(&d->core.budget, daemon_each_listener, d);
	d->core.env = (struct service_env){
	    .budget = &d->core.budget,
	    .backend_nofile = backend_nofile,
	    .cgroup = d->cgroup,
	    .loop = d->core.loop,
	    .notify_path = notify_server_path(d->notify),
	    .state_dir = d->core.state_dir,
	    .usage = d->usage,
	    .runtime_dir = d->core.runtime_dir,
	    .changed = daemon_service_changed,
	    .conns_changed = daemon_conns_changed,
	    .drained = daemon_drained,
	    .groups = group_set_new(),
	    .data = d,
	};

	d->core.ops = &daemon_server_ops;
	d->core.ops_data = d;

	ev_init(&d->status_timer, on_status_timer);
	d->status_timer.data = d;
	r = reload_first(&d->core, cfg, &diag);
	cfg = NULL; /* the core's now, or freed */
	if (r < 0)
		goto out;

	ev_signal_init(&d->sigchld, on_sigchld, SIGCHLD);
	ev_signal_init(&d->sighup, on_sighup, SIGHUP);
	ev_signal_init(&d->sigterm, on_sigterm, SIGTERM);
	ev_signal_init(&d->sigint, on_sigterm, SIGINT);
	d->sigchld.data = d->sighup.data = d->sigterm.data = d->sigint.data = d;
	ev_signal_start(d->core.loop, &d->sigchld);
	ev_signal_start(d->core.loop, &d->sighup);
	ev_signal_start(d->core.loop, &d->sigterm);
	ev_signal_start(d->core.loop, &d->sigint);
	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		ev_timer_init(&d->watchdog, on_watchdog, 0, (double)wd_usec / 2e6);
		ev_timer_again(d->core.loop, &d->watchdog);
	}

	log_event(LOG_NOTICE, NULL, LOG_EV_STARTUP, NULL,
		  "zeroproxy %s running: %zu service%s, control socket %s", PACKAGE_VERSION,
		  d->core.n_svcs, d->core.n_svcs == 1 ? "" : "s", d->core.cfg->control_socket);
	notify_systemd("READY=1");
	daemon_send_status(d);
	ev_run(d->core.loop, 0);
	ev_timer_stop(d->core.loop, &d->watchdog);
	rc = 0;
	log_event(LOG_NOTICE, NULL, LOG_EV_SHUTDOWN, NULL, "stopped");
out:
	if (rc != 0)
		log_error("not starting");
	config_free(cfg);
	diag_free(&diag);
	daemon_free(d);
	return rc;
}
