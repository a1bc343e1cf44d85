/*
 * daemon — start-up, the event loop, signals, reload and shutdown; see
 * daemon.h.
 *
 * The loop is a private ev_loop_new() loop rather than libev's default one:
 * the default loop reaps every child itself with waitpid(), and zeroproxy
 * needs wait4()'s resource usage (CPU of the backend and its descendants), so
 * it handles SIGCHLD and reaps its children itself.
 *
 * A reload is prepare-then-commit: the new configuration is loaded and every
 * socket it needs is reused or bound before anything changes; any error
 * leaves the running configuration untouched.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cgroup.h"
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "service.h"
#include "util.h"

#define BACKEND_BACKLOG 4096
/* fds kept free of client connections (probes, exec pipes, control and
 * metrics clients, usage files): an eighth of the limit, 4 to 64. */
#define FD_RESERVE_MIN 4
#define FD_RESERVE_MAX 64
/* The loop's own fds: epoll and the eventfd that signals and the usage
 * writer wake it through. */
#define FD_LOOP 2

/* A ready=socket backend's unix socket file that zeroproxy bound and a
 * reload took away from its service: removed once no backend accepts on it. */
struct stale_sock {
	char *path;
	char *service; /* for the log */
};

/* A socket systemd passed us, by FileDescriptorName. */
struct passed_fd {
	char *name;
	int fd;
	bool used;
};

struct daemon {
	struct ev_loop *loop;
	char *config_path;
	bool explicit_path;
	struct zp_config *cfg; /* current; its services moved into svcs */
	struct service **svcs; /* in config order */
	size_t n_svcs;
	struct service **retired; /* removed by a reload, draining */
	size_t n_retired;
	struct passed_fd *passed; /* from systemd, kept for reloads */
	size_t n_passed;
	struct stale_sock *stale; /* old backend socket files still in use */
	size_t n_stale;
	char *runtime_dir;
	char *state_dir; /* the env's copy; a reload may change it */
	struct service_env env;
	struct conn_budget budget; /* client connections vs. RLIMIT_NOFILE */
	struct notify_server *notify;
	struct cgroup_root *cgroup; /* per-instance cgroups, or NULL */
	struct usage_store *usage;  /* the usage files' writer thread, or NULL */
	struct control_server *control;
	struct metrics_server *metrics;
	/* Servers replaced by a reload, freed on the next loop iteration: the
	 * reload may have come from a client of the old control server. */
	struct control_server *dead_control;
	struct metrics_server *dead_metrics;
	ev_timer reap;
	ev_timer status_timer; /* STATUS= after connection changes, at most 1/s */
	ev_signal sigchld, sighup, sigterm, sigint;
	ev_timer watchdog;
	bool shutting_down;
	bool freeing;       /* daemon_free() runs: no callbacks into it */
	char *reload_error; /* the last failed reload, for status */
};

/* --- sd_notify STATUS= --------------------------------------------------- */

static void daemon_send_status(void *data)
{
	struct daemon *d = data;
	/* These figures are fresh: a pending rate-limited update is not needed
	 * (and an idle stop leaves no timer behind to wake the daemon). */
	if (!d->freeing)
		ev_timer_stop(d->loop, &d->status_timer);
	size_t running = 0, conns = 0;
	for (size_t i = 0; i < d->n_svcs; i++) {
		running += d->svcs[i]->state == SVC_RUNNING;
		conns += d->svcs[i]->n_active + d->svcs[i]->n_pending;
	}
	notify_systemd("STATUS=%zu service%s, %zu running, %zu connection%s%s", d->n_svcs,
		       d->n_svcs == 1 ? "" : "s", running, conns, conns == 1 ? "" : "s",
		       d->reload_error ? "; last reload failed" : "");
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
	ev_timer_start(d->loop, &d->status_timer);
}

/* --- systemd sockets ----------------------------------------------------- */

static int passed_fds_load(struct daemon *d)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);
	if (n < 0) {
		log_error("sd_listen_fds: %s", strerror(-n));
		return n;
	}
	d->passed = xcalloc((size_t)n + 1, sizeof(*d->passed));
	for (int i = 0; i < n; i++) {
		d->passed[i].fd = SD_LISTEN_FDS_START + i;
		d->passed[i].name = xstrdup(names && names[i] ? names[i] : "unknown");
		fd_set_cloexec(d->passed[i].fd, true);
	}
	d->n_passed = (size_t)n;
	strv_free(names);
	return 0;
}

static int passed_fd_find(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_passed; i++)
		if (strcmp(d->passed[i].name, name) == 0) {
			d->passed[i].used = true;
			return d->passed[i].fd;
		}
	return -1;
}

static char *passed_names(const struct daemon *d)
{
	struct strbuf sb = {0};
	for (size_t i = 0; i < d->n_passed; i++)
		sb_printf(&sb, "%s%s", i ? ", " : "", d->passed[i].name);
	if (!d->n_passed)
		sb_puts(&sb, "none");
	return sb_steal(&sb);
}

/* --- sockets for a configuration ---------------------------------------- */

/* The sockets one service of a new configuration needs. */
struct plan {
	struct listener **listeners; /* cfg->n_listen */
	bool *reused;                /* per listener: taken from an old service */
	int backend_fd;              /* ready=socket, or -1 */
	bool backend_reused;
	struct zp_addr backend_addr; /* where backend_fd is bound */
};

/* A listener of the running services on the same address, or NULL. */
static struct listener *find_listener(struct daemon *d, const struct zp_addr *a)
{
	for (size_t i = 0; i < d->n_svcs; i++)
		for (size_t j = 0; j < d->svcs[i]->n_listeners; j++)
			if (addr_equal(&d->svcs[i]->listeners[j]->addr, a))
				return d->svcs[i]->listeners[j];
	return NULL;
}

static struct service *find_service(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_svcs; i++)
		if (strcmp(d->svcs[i]->name, name) == 0)
			return d->svcs[i];
	return NULL;
}

/* A service by name, also among the retired (removed, still draining). */
static struct service *find_service_any(struct daemon *d, const char *name)
{
	struct service *svc = find_service(d, name);
	for (size_t i = 0; i < d->n_retired && !svc; i++)
		if (strcmp(d->retired[i]->name, name) == 0)
			svc = d->retired[i];
	return svc;
}

/* The file of a unix socket bound to a path, or NULL (TCP, abstract). */
static const char *sock_file(const struct zp_addr *a)
{
	const char *path = ((const struct sockaddr_un *)&a->sa)->sun_path;
	return a->kind == ZP_ADDR_UNIX && path[0] == '/' ? path : NULL;
}

static bool sock_file_is(const struct zp_addr *a, const char *path)
{
	const char *f = sock_file(a);
	return f && strcmp(f, path) == 0;
}

static void plan_undo(struct plan *p, size_t n_listen)
{
	for (size_t j = 0; j < n_listen; j++)
		if (p->listeners[j] && !p->reused[j])
			listener_free(p->listeners[j]);
	if (p->backend_fd >= 0 && !p->backend_reused) {
		close(p->backend_fd);
		if (sock_file(&p->backend_addr)) /* bound just now, by us */
			unlink(sock_file(&p->backend_addr));
	}
	free(p->listeners);
	free(p->reused);
}

/* Reuse or bind every socket of cfg. Errors go to diag. */
static int plan_make(struct daemon *d, struct zp_config *cfg, struct plan *plans,
		     struct zp_diag *diag)
{
	int err = 0;
	for (size_t i = 0; i < cfg->n_services; i++) {
		struct zp_service_config *sc = cfg->services[i];
		struct plan *p = &plans[i];
		p->listeners = xcalloc(sc->n_listen + 1, sizeof(*p->listeners));
		p->reused = xcalloc(sc->n_listen + 1, sizeof(*p->reused));
		p->backend_fd = -1;
		for (size_t j = 0; j < sc->n_listen; j++) {
			const struct zp_addr *a = &sc->listen[j];
			struct listener *l = find_listener(d, a);
			if (l) {
				p->listeners[j] = l;
				p->reused[j] = true;
				continue;
			}
			int fd = -1, e = 0;
			if (a->kind == ZP_ADDR_SYSTEMD) {
				fd = passed_fd_find(d, a->name);
				if (fd < 0) {
					char *names = passed_names(d);
					diag_error(diag,
						   "%s: listen %s: systemd passed no socket named "
						   "\"%s\" (passed: %s)",
						   sc->path, a->text, a->name, names);
					free(names);
					err = -EINVAL;
					continue;
				}
			}
			if (fd >= 0 && sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
				diag_error(diag,
					   "%s: listen %s: the socket systemd passed is not a "
					   "listening stream socket",
					   sc->path, a->text);
				err = -EINVAL;
				continue;
			}
			e = listener_new(d->loop, a, fd, &p->listeners[j]);
			if (e < 0) {
				diag_error(diag, "%s: listen %s: %s", sc->path, a->text,
					   strerror(-e));
				err = -EINVAL;
			}
		}
		if (sc->ready != ZP_READY_SOCKET)
			continue;
		struct service *old = find_service_any(d, sc->name);
		if (old && old->backend_listen_fd >= 0 && old->cfg->ready == ZP_READY_SOCKET &&
		    old->cfg->has_address == sc->has_address &&
		    (!sc->has_address || addr_equal(&old->cfg->address, &sc->address))) {
			p->backend_fd = old->backend_listen_fd;
			p->backend_reused = true;
			continue;
		}
		struct zp_addr ba;
		if (service_backend_addr(d->runtime_dir, sc, &ba) < 0) {
			diag_error(diag, "%s: [backend] ready = socket: socket path in %s too long",
				   sc->path, d->runtime_dir);
			err = -EINVAL;
			continue;
		}
		p->backend_addr = ba;
		p->backend_fd = addr_listen(&ba, BACKEND_BACKLOG);
		if (p->backend_fd < 0) {
			diag_error(diag, "%s: [backend] address %s (ready = socket): %s", sc->path,
				   ba.text, strerror(-p->backend_fd));
			p->backend_fd = -1;
			err = -EINVAL;
		}
	}
	if (err < 0)
		for (size_t i = 0; i < cfg->n_services; i++)
			plan_undo(&plans[i], cfg->services[i]->n_listen);
	return err;
}

/* --- backend socket files that a reload left --------------------------- */

/* Remember the file of an old service's ready=socket socket, now closed. */
static void stale_sock_add(struct daemon *d, const struct service *svc)
{
	const char *path = sock_file(&svc->backend_addr);
	if (!path)
		return;
	d->stale = realloc(d->stale, (d->n_stale + 1) * sizeof(*d->stale));
	if (!d->stale)
		abort();
	d->stale[d->n_stale++] = (struct stale_sock){xstrdup(path), xstrdup(svc->name)};
}

enum sock_use { SOCK_UNUSED, SOCK_BUSY, SOCK_OURS };

/* Who uses the file path now, gone (reaped, its process no more) aside:
 * a service bound it again (it is that service's now), or a backend was
 * started on it and accepts there still, or nobody. */
static enum sock_use stale_sock_use(struct daemon *d, const char *path, const struct instance *gone)
{
	enum sock_use use = SOCK_UNUSED;
	for (size_t i = 0; i < d->n_svcs + d->n_retired; i++) {
		struct service *svc = i < d->n_svcs ? d->svcs[i] : d->retired[i - d->n_svcs];
		if (i < d->n_svcs && svc->backend_listen_fd >= 0 &&
		    sock_file_is(&svc->backend_addr, path))
			return SOCK_OURS;
		if (svc->inst && svc->inst != gone && sock_file_is(&svc->inst_addr, path))
			use = SOCK_BUSY;
	}
	return use;
}

/* Unlink every stale socket file nobody uses any more; forget those that a
 * service owns again. gone: an instance just reaped, or NULL. */
static void stale_socks_sweep(struct daemon *d, const struct instance *gone)
{
	size_t n = 0;
	for (size_t k = 0; k < d->n_stale; k++) {
		struct stale_sock *st = &d->stale[k];
		enum sock_use use = stale_sock_use(d, st->path, gone);
		if (use == SOCK_BUSY) {
			d->stale[n++] = *st;
			continue;
		}
		if (use == SOCK_UNUSED) {
			if (unlink(st->path) == 0)
				log_info("%s: old backend socket %s removed", st->service,
					 st->path);
			else if (errno != ENOENT)
				log_warning("%s: cannot remove old backend socket %s: %s",
					    st->service, st->path, strerror(errno));
		}
		free(st->path);
		free(st->service);
	}
	d->n_stale = n;
}

/* --- services ------------------------------------------------------------ */

static void daemon_drained(void *data, struct service *svc)
{
	struct daemon *d = data;
	for (size_t i = 0; i < d->n_retired; i++)
		if (d->retired[i] == svc) {
			d->retired[i] = d->retired[--d->n_retired];
			log_info("%s: removed", svc->name);
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
		ev_break(d->loop, EVBREAK_ALL);
}

static bool daemon_all_stopped(const struct daemon *d)
{
	for (size_t i = 0; i < d->n_svcs; i++)
		if (service_has_instance(d->svcs[i]))
			return false;
	for (size_t i = 0; i < d->n_retired; i++)
		if (service_has_instance(d->retired[i]))
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
		for (size_t i = 0; i < d->n_svcs + d->n_retired && !owner; i++) {
			struct service *svc =
			    i < d->n_svcs ? d->svcs[i] : d->retired[i - d->n_svcs];
			if (svc->inst && instance_has_child(svc->inst, pid))
				owner = svc;
		}
		if (!owner) {
			log_debug("reaped unknown child %d", (int)pid);
			continue;
		}
		/* Before the exit is handled: it may start the next instance,
		 * which may bind that very path itself (ready = connect). */
		if (d->n_stale && owner->inst->pid == pid)
			stale_socks_sweep(d, owner->inst);
		service_child_exited(owner, pid, status, &ru);
	}
	if (d->shutting_down && daemon_all_stopped(d))
		ev_break(loop, EVBREAK_ALL);
}

static void on_backend_notify(void *data, pid_t pid, const char *msg)
{
	struct daemon *d = data;
	for (size_t i = 0; i < d->n_svcs; i++)
		if (service_notify(d->svcs[i], pid, msg))
			return;
	for (size_t i = 0; i < d->n_retired; i++)
		if (service_notify(d->retired[i], pid, msg))
			return;
	log_debug("notify message from unknown pid %d ignored", (int)pid);
}

/* --- file descriptors --------------------------------------------------- */

/* Raise the soft fd limit to the hard one (systemd's advice for daemons that
 * need many fds) and return the old soft limit for the backends. */
static rlim_t nofile_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return 0;
	rlim_t old = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	return old;
}

/* How many fds below `below` are open (those above take no room under a limit
 * of below). */
static unsigned count_open_fds(uint64_t below)
{
	unsigned n = 0;
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return 0;
	for (struct dirent *e; (e = readdir(dir));)
		n += e->d_name[0] != '.' && strtoull(e->d_name, NULL, 10) < below;
	closedir(dir);
	return n > 0 ? n - 1 : 0; /* not the directory's own fd */
}

/* Refuse to start with fewer fds than cfg needs to serve one connection at
 * all: otherwise libev aborts when it cannot make its eventfd, or a usage file
 * cannot be read. The limit that counts is the hard one (nofile_raise() raises
 * the soft limit to it). 0, or -EMFILE after logging how many it needs. */
static int nofile_check(const struct zp_config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max == RLIM_INFINITY)
		return 0;
	uint64_t open_now = count_open_fds(rl.rlim_max);
	uint64_t sockets = 2 + (cfg->has_metrics ? 1 : 0); /* notify, control, metrics */
	uint64_t listeners = 0;
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct zp_service_config *sc = cfg->services[i];
		for (size_t j = 0; j < sc->n_listen; j++)
			listeners += sc->listen[j].kind != ZP_ADDR_SYSTEMD; /* those are open */
		listeners += sc->ready == ZP_READY_SOCKET;
	}
	/* One client connection (two fds) and the reserve, which covers a start. */
	uint64_t serve = 2 + FD_RESERVE_MIN;
	uint64_t need = open_now + FD_LOOP + sockets + listeners + serve;
	if (rl.rlim_max >= need)
		return 0;
	log_error("RLIMIT_NOFILE: this configuration needs at least %llu file descriptors, the "
		  "limit is %llu (%llu open at start-up, %d for the event loop, %llu for the "
		  "notify, control and metrics sockets, %llu listening, %llu to start a backend "
		  "and relay one connection); raise the limit (LimitNOFILE=, ulimit -n)",
		  (unsigned long long)need, (unsigned long long)rl.rlim_max,
		  (unsigned long long)open_now, FD_LOOP, (unsigned long long)sockets,
		  (unsigned long long)listeners, (unsigned long long)serve);
	return -EMFILE;
}

/* How many client connections the fds allow: two fds each, after those the
 * daemon itself holds and a reserve. Recomputed after every configuration. */
static void budget_update(struct daemon *d)
{
	struct rlimit rl;
	uint64_t limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
			     ? rl.rlim_cur
			     : 1 << 20;
	uint64_t own = count_open_fds(limit);
	own = own > 2ULL * d->budget.open ? own - 2ULL * d->budget.open : 0;
	uint64_t reserve = limit / 8 < FD_RESERVE_MIN   ? FD_RESERVE_MIN
			   : limit / 8 > FD_RESERVE_MAX ? FD_RESERVE_MAX
							: limit / 8;
	uint64_t max = limit > own + reserve ? (limit - own - reserve) / 2 : 1;
	d->budget.max = max > UINT32_MAX ? UINT32_MAX : (uint32_t)(max ? max : 1);
	uint64_t wanted = 0;
	for (size_t i = 0; i < d->n_svcs; i++)
		wanted += d->svcs[i]->cfg->max_connections;
	if (wanted > d->budget.max)
		log_notice(
		    "RLIMIT_NOFILE %llu allows %u client connections at once (max_connections "
		    "adds up to %llu); more wait in the listen queues",
		    (unsigned long long)limit, d->budget.max, (unsigned long long)wanted);
}

static void daemon_unthrottle(void *data)
{
	struct daemon *d = data;
	if (d->freeing)
		return;
	d->budget.throttled = false;
	for (size_t i = 0; i < d->n_svcs; i++)
		for (size_t j = 0; j < d->svcs[i]->n_listeners; j++)
			listener_resume(d->svcs[i]->listeners[j]);
}

/* After a configuration was applied: its listeners, new ones and those a
 * reload stopped and started again, all accept again, whatever the budget
 * says. Pause them all while it is used up (it may be smaller now, too), and
 * resume them when it has room again. */
static void budget_apply(struct daemon *d)
{
	if (d->budget.open < d->budget.max) {
		if (d->budget.throttled)
			daemon_unthrottle(d);
		return;
	}
	d->budget.throttled = true;
	for (size_t i = 0; i < d->n_svcs; i++)
		for (size_t j = 0; j < d->svcs[i]->n_listeners; j++)
			listener_throttle(d->svcs[i]->listeners[j]);
}

/* --- control-plane entry points (server_ops) ------------------------------ */

static int daemon_status(void *data, char *const *names, size_t n, struct service_status **out,
			 size_t *nout, const char **unknown)
{
	struct daemon *d = data;
	for (size_t i = 0; i < n; i++)
		if (!find_service(d, names[i])) {
			if (unknown)
				*unknown = names[i];
			return -ENOENT;
		}
	size_t cnt = n ? n : d->n_svcs;
	struct service_status *st = xcalloc(cnt + 1, sizeof(*st));
	for (size_t i = 0; i < cnt; i++)
		service_status(n ? find_service(d, names[i]) : d->svcs[i], &st[i]);
	*out = st;
	*nout = cnt;
	return 0;
}

static int daemon_start_service(void *data, const char *name)
{
	struct service *svc = find_service(data, name);
	if (!svc)
		return -ENOENT;
	service_start(svc, "zeroproxy start");
	return 0;
}

static int daemon_stop_service(void *data, const char *name)
{
	struct service *svc = find_service(data, name);
	if (!svc)
		return -ENOENT;
	service_stop(svc, "zeroproxy stop");
	return 0;
}

static int daemon_reload(struct daemon *d, struct zp_diag *diag);

static int daemon_reload_op(void *data, struct zp_diag *diag)
{
	return daemon_reload(data, diag);
}

static const char *daemon_reload_error(void *data)
{
	const struct daemon *d = data;
	return d->reload_error;
}

static const struct server_ops daemon_server_ops = {
    .status = daemon_status,
    .start = daemon_start_service,
    .stop = daemon_stop_service,
    .reload = daemon_reload_op,
    .reload_error = daemon_reload_error,
};

/* The control and metrics servers of a configuration, made before it is
 * committed: a reload that cannot bind them fails and changes nothing. */
struct servers {
	bool control_new; /* control_socket changed (or first start) */
	struct control_server *control;
	bool metrics_new;               /* metrics_listen changed */
	struct metrics_server *metrics; /* NULL: metrics off */
};

static int servers_prepare(struct daemon *d, const struct zp_config *cfg, struct servers *sv,
			   struct zp_diag *diag)
{
	const struct zp_config *old = d->cfg;
	memset(sv, 0, sizeof(*sv));
	if (!old || strcmp(old->control_socket, cfg->control_socket) != 0) {
		int r = control_server_new(d->loop, cfg->control_socket, &daemon_server_ops, d,
					   &sv->control);
		if (r < 0) {
			diag_error(diag, "%s: [zeroproxy] control_socket %s: %s", cfg->path,
				   cfg->control_socket, strerror(-r));
			return r;
		}
		sv->control_new = true;
	}
	if (!old || old->has_metrics != cfg->has_metrics ||
	    (cfg->has_metrics && !addr_equal(&old->metrics_listen, &cfg->metrics_listen))) {
		sv->metrics_new = true;
		int r = cfg->has_metrics ? metrics_server_new(d->loop, &cfg->metrics_listen,
							      &daemon_server_ops, d, &sv->metrics)
					 : 0;
		if (r < 0) {
			diag_error(diag, "%s: [zeroproxy] metrics_listen %s: %s", cfg->path,
				   cfg->metrics_listen.text, strerror(-r));
			if (sv->control_new)
				control_server_free(sv->control);
			return r;
		}
	}
	return 0;
}

/* Everything a configuration needs before it can be committed: its sockets
 * (*plans, allocated) and its servers. On failure nothing is left bound or
 * allocated and the errors are in diag. */
static int daemon_prepare(struct daemon *d, struct zp_config *cfg, struct plan **plans,
			  struct servers *sv, struct zp_diag *diag)
{
	*plans = xcalloc(cfg->n_services + 1, sizeof(**plans));
	int r = plan_make(d, cfg, *plans, diag);
	if (r == 0 && (r = servers_prepare(d, cfg, sv, diag)) < 0)
		for (size_t i = 0; i < cfg->n_services; i++)
			plan_undo(&(*plans)[i], cfg->services[i]->n_listen);
	if (r < 0) {
		free(*plans);
		*plans = NULL;
	}
	return r;
}

static void on_reap(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;
	control_server_free(d->dead_control);
	metrics_server_free(d->dead_metrics);
	d->dead_control = NULL;
	d->dead_metrics = NULL;
}

static void servers_commit(struct daemon *d, struct servers *sv)
{
	if (sv->control_new) {
		control_server_free(d->dead_control);
		d->dead_control = d->control;
		d->control = sv->control;
	}
	if (sv->metrics_new) {
		metrics_server_free(d->dead_metrics);
		d->dead_metrics = d->metrics;
		d->metrics = sv->metrics;
	}
	if ((d->dead_control || d->dead_metrics) && !ev_is_active(&d->reap)) {
		ev_timer_set(&d->reap, 0, 0);
		ev_timer_start(d->loop, &d->reap);
	}
}

static int mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			int err = -errno;
			free(p);
			return err;
		}
		*s = '/';
	}
	int r = mkdir(p, mode) < 0 && errno != EEXIST ? -errno : 0;
	free(p);
	return r;
}

/* Apply a loaded configuration whose sockets are planned. */
static void daemon_commit(struct daemon *d, struct zp_config *cfg, struct plan *plans,
			  struct servers *sv)
{
	/* Every old socket comes back to us; the plans hold the ones reused. */
	struct listener **old_l = NULL;
	size_t n_old = 0;
	size_t n_all = d->n_svcs + d->n_retired;
	int *old_b = xcalloc(n_all + 1, sizeof(int));
	for (size_t i = 0; i < n_all; i++) {
		struct listener **ls;
		size_t n;
		struct service *svc = i < d->n_svcs ? d->svcs[i] : d->retired[i - d->n_svcs];
		service_take_sockets(svc, &ls, &n, &old_b[i]);
		old_l = realloc(old_l, (n_old + n + 1) * sizeof(*old_l));
		if (!old_l)
			abort();
		if (n) /* a retired service has no listeners left (ls is NULL) */
			memcpy(old_l + n_old, ls, n * sizeof(*ls));
		n_old += n;
		free(ls);
	}
	for (size_t k = 0; k < n_old; k++) {
		bool kept = false;
		for (size_t i = 0; i < cfg->n_services && !kept; i++)
			for (size_t j = 0; j < cfg->services[i]->n_listen && !kept; j++)
				kept = plans[i].listeners[j] == old_l[k];
		if (!kept) {
			log_info("listen %s: closed", old_l[k]->addr.text);
			listener_free(old_l[k]);
		}
	}
	free(old_l);
	for (size_t k = 0; k < n_all; k++) {
		bool kept = false;
		for (size_t i = 0; i < cfg->n_services && !kept; i++)
			kept = old_b[k] >= 0 && plans[i].backend_fd == old_b[k];
		if (old_b[k] >= 0 && !kept) {
			close(old_b[k]);
			stale_sock_add(d, k < d->n_svcs ? d->svcs[k] : d->retired[k - d->n_svcs]);
		}
	}
	free(old_b);

	struct service **svcs = xcalloc(cfg->n_services + 1, sizeof(*svcs));
	for (size_t i = 0; i < cfg->n_services; i++) {
		struct zp_service_config *sc = cfg->services[i];
		cfg->services[i] = NULL; /* the service owns it now */
		struct service *old = find_service(d, sc->name);
		if (!old && (old = find_service_any(d, sc->name)) != NULL) {
			/* Removed, still draining, and back: the same service again. */
			for (size_t k = 0; k < d->n_retired; k++)
				if (d->retired[k] == old)
					d->retired[k] = d->retired[--d->n_retired];
			log_info("%s: back in the configuration", old->name);
		}
		if (old) {
			bool same = service_config_equal(old->cfg, sc);
			service_reconfigure(old, sc, plans[i].listeners, plans[i].backend_fd);
			if (!same)
				log_info("%s: configuration changed", old->name);
			svcs[i] = old;
		} else {
			svcs[i] = service_new(&d->env, sc, plans[i].listeners, plans[i].backend_fd);
			for (size_t j = 0; j < sc->n_listen; j++)
				log_info("%s: listening on %s", sc->name, sc->listen[j].text);
		}
		free(plans[i].reused);
	}
	/* The new list first: retiring one service may free it at once (nothing
	 * to drain), and retiring the next one reports a state change, which
	 * reads every service in d->svcs. */
	struct service **old_svcs = d->svcs;
	size_t n_old_svcs = d->n_svcs;
	d->svcs = svcs;
	d->n_svcs = cfg->n_services;
	for (size_t i = 0; i < n_old_svcs; i++) {
		bool kept = false;
		for (size_t j = 0; j < cfg->n_services && !kept; j++)
			kept = svcs[j] == old_svcs[i];
		if (kept)
			continue;
		struct service *gone = old_svcs[i];
		d->retired = realloc(d->retired, (d->n_retired + 1) * sizeof(*d->retired));
		if (!d->retired)
			abort();
		d->retired[d->n_retired++] = gone;
		log_info("%s: removed from the configuration; draining", gone->name);
		service_retire(gone);
	}
	free(old_svcs);

	struct zp_config *old_cfg = d->cfg;
	d->cfg = cfg;
	if (!d->state_dir || strcmp(d->state_dir, cfg->state_dir) != 0) {
		int r = mkdir_p(cfg->state_dir, 0755);
		if (r < 0)
			log_error("state_dir %s: %s", cfg->state_dir, strerror(-r));
		free(d->state_dir);
		d->state_dir = xstrdup(cfg->state_dir);
		d->env.state_dir = d->state_dir;
	}
	log_set_level(cfg->log_level);
	servers_commit(d, sv);
	config_free(old_cfg);
	stale_socks_sweep(d, NULL);
}

static void log_diag(const struct zp_diag *diag)
{
	for (size_t i = 0; i < diag->n_warnings; i++)
		log_warning("%s", diag->warnings[i]);
	for (size_t i = 0; i < diag->n_errors; i++)
		log_error("%s", diag->errors[i]);
}

/* Re-read the configuration. 0, or -EINVAL with every error in diag (the old
 * configuration stays in force). */
static int daemon_reload(struct daemon *d, struct zp_diag *diag)
{
	notify_systemd("RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now_usec());
	log_info("reloading %s", d->config_path);
	struct zp_config *cfg = NULL;
	int r = config_load(d->config_path, d->explicit_path, &cfg, diag);
	struct plan *plans = NULL;
	struct servers sv;
	if (r == 0)
		r = daemon_prepare(d, cfg, &plans, &sv, diag);
	log_diag(diag);
	free(d->reload_error);
	d->reload_error = NULL;
	if (r < 0) {
		d->reload_error =
		    xasprintf("reload failed: %s", diag->n_errors ? diag->errors[0] : "error");
		log_error("reload failed; the previous configuration stays in force");
		config_free(cfg);
		free(plans);
	} else {
		daemon_commit(d, cfg, plans, &sv);
		free(plans);
		budget_update(d);
		budget_apply(d);
		log_info("reloaded: %zu service%s", d->n_svcs, d->n_svcs == 1 ? "" : "s");
	}
	notify_systemd("READY=1");
	daemon_send_status(d);
	return r < 0 ? -EINVAL : 0;
}

/* --- signals ------------------------------------------------------------- */

static void on_sighup(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	if (d->shutting_down)
		return;
	struct zp_diag diag = {0};
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
		for (size_t i = 0; i < d->n_svcs; i++)
			service_kill(d->svcs[i]);
		for (size_t i = 0; i < d->n_retired; i++)
			service_kill(d->retired[i]);
		return;
	}
	d->shutting_down = true;
	log_notice("%s, stopping", w->signum == SIGINT ? "SIGINT" : "SIGTERM");
	notify_systemd("STOPPING=1");
	control_server_free(d->control);
	d->control = NULL;
	metrics_server_free(d->metrics);
	d->metrics = NULL;
	for (size_t i = 0; i < d->n_svcs; i++)
		service_shutdown(d->svcs[i]);
	for (size_t i = 0; i < d->n_retired; i++)
		service_shutdown(d->retired[i]);
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
	stale_socks_sweep(d, NULL); /* every backend is gone by now */
	for (size_t k = 0; k < d->n_stale; k++) {
		free(d->stale[k].path);
		free(d->stale[k].service);
	}
	free(d->stale);
	for (size_t i = 0; i < d->n_svcs; i++) {
		service_save_usage(d->svcs[i]);
		service_free(d->svcs[i]);
	}
	for (size_t i = 0; i < d->n_retired; i++) {
		service_save_usage(d->retired[i]);
		service_free(d->retired[i]);
	}
	usage_store_free(d->usage); /* the saves above are on disk when it returns */
	free(d->svcs);
	free(d->retired);
	control_server_free(d->control);
	metrics_server_free(d->metrics);
	notify_server_free(d->notify);
	cgroup_root_free(d->cgroup);
	control_server_free(d->dead_control);
	metrics_server_free(d->dead_metrics);
	if (d->loop) {
		ev_timer_stop(d->loop, &d->reap);
		ev_timer_stop(d->loop, &d->status_timer);
	}
	for (size_t i = 0; i < d->n_passed; i++) {
		close(d->passed[i].fd); /* listeners never close these */
		free(d->passed[i].name);
	}
	free(d->passed);
	config_free(d->cfg);
	free(d->runtime_dir);
	free(d->state_dir);
	free(d->config_path);
	free(d->reload_error);
	if (d->loop)
		ev_loop_destroy(d->loop);
	free(d);
}

int daemon_run(const char *config_path, bool explicit_path)
{
	struct zp_diag diag = {0};
	struct zp_config *cfg = NULL;
	if (config_load(config_path, explicit_path, &cfg, &diag) < 0) {
		log_diag(&diag);
		log_error("%s: configuration invalid, not starting", config_path);
		diag_free(&diag);
		return 1;
	}
	log_set_level(cfg->log_level);
	if (nofile_check(cfg) < 0) {
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
	d->config_path = xstrdup(config_path);
	d->explicit_path = explicit_path;
	d->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	int rc = 1;
	if (!d->loop) {
		log_error("cannot create the event loop");
		goto out;
	}
	const char *rt = getenv("RUNTIME_DIRECTORY");
	/* systemd may list several directories separated by colons. */
	d->runtime_dir =
	    rt && *rt ? strndup(rt, strcspn(rt, ":")) : path_dirname(cfg->control_socket);
	int r;
	if ((r = mkdir_p(cfg->state_dir, 0755)) < 0) {
		log_error("state_dir %s: %s", cfg->state_dir, strerror(-r));
		goto out;
	}
	d->state_dir = xstrdup(cfg->state_dir);
	if ((r = mkdir_p(d->runtime_dir, 0755)) < 0) {
		log_error("runtime directory %s: %s", d->runtime_dir, strerror(-r));
		goto out;
	}
	if (passed_fds_load(d) < 0)
		goto out;
	if ((r = notify_server_new(d->loop, on_backend_notify, d, &d->notify)) < 0) {
		log_error("notify socket: %s", strerror(-r));
		goto out;
	}
	/* Fails soft: without cgroups, wait4() rusage and process groups. */
	if (cgroup_setup(&d->cgroup) < 0)
		d->cgroup = NULL;
	if ((r = usage_store_new(d->loop, &d->usage)) < 0) {
		log_warning("usage files: no writer thread (%s); writing them on the event loop",
			    strerror(-r));
		d->usage = NULL;
	}
	rlim_t backend_nofile = nofile_raise();
	d->env = (struct service_env){
	    .budget = &d->budget,
	    .unthrottle = daemon_unthrottle,
	    .backend_nofile = backend_nofile,
	    .cgroup = d->cgroup,
	    .loop = d->loop,
	    .notify_path = notify_server_path(d->notify),
	    .state_dir = d->state_dir,
	    .usage = d->usage,
	    .runtime_dir = d->runtime_dir,
	    .changed = daemon_service_changed,
	    .conns_changed = daemon_conns_changed,
	    .drained = daemon_drained,
	    .data = d,
	};

	ev_init(&d->reap, on_reap);
	d->reap.data = d;
	ev_init(&d->status_timer, on_status_timer);
	d->status_timer.data = d;
	struct plan *plans;
	struct servers sv;
	if (daemon_prepare(d, cfg, &plans, &sv, &diag) < 0) {
		log_diag(&diag);
		goto out;
	}
	log_diag(&diag);
	for (size_t i = 0; i < d->n_passed; i++)
		if (!d->passed[i].used)
			log_warning("systemd passed a socket named \"%s\" that no service uses",
				    d->passed[i].name);
	daemon_commit(d, cfg, plans, &sv);
	cfg = NULL; /* the daemon's now */
	free(plans);
	budget_update(d);

	ev_signal_init(&d->sigchld, on_sigchld, SIGCHLD);
	ev_signal_init(&d->sighup, on_sighup, SIGHUP);
	ev_signal_init(&d->sigterm, on_sigterm, SIGTERM);
	ev_signal_init(&d->sigint, on_sigterm, SIGINT);
	d->sigchld.data = d->sighup.data = d->sigterm.data = d->sigint.data = d;
	ev_signal_start(d->loop, &d->sigchld);
	ev_signal_start(d->loop, &d->sighup);
	ev_signal_start(d->loop, &d->sigterm);
	ev_signal_start(d->loop, &d->sigint);
	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		ev_timer_init(&d->watchdog, on_watchdog, 0, (double)wd_usec / 2e6);
		ev_timer_again(d->loop, &d->watchdog);
	}

	log_notice("zeroproxy %s running: %zu service%s, control socket %s", PACKAGE_VERSION,
		   d->n_svcs, d->n_svcs == 1 ? "" : "s", d->cfg->control_socket);
	notify_systemd("READY=1");
	daemon_send_status(d);
	ev_run(d->loop, 0);
	ev_timer_stop(d->loop, &d->watchdog);
	rc = 0;
	log_notice("stopped");
out:
	if (rc != 0)
		log_error("not starting");
	config_free(cfg);
	diag_free(&diag);
	daemon_free(d);
	return rc;
}
