/*
 * reload — applying a configuration to the running daemon; see reload.h for
 * the steps and for why reload sits below the daemon (it works on struct
 * daemon_core and calls nothing in daemon.c).
 *
 * The sockets a configuration needs are planned first (struct plan: each
 * listener and ready=socket backend socket reused from a running or draining
 * service, taken from systemd, or bound now), then the control and metrics
 * servers are made if their addresses changed (struct servers); only when
 * all of that worked does the commit hand them over. A backend socket file
 * that a service no longer holds stays while a backend started on it may
 * still accept there (struct stale_sock), and is removed once none does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "control.h"
#include "group.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "reload.h"
#include "route.h"
#include "strbuf.h"
#include "util.h"

#define BACKEND_BACKLOG 4096

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

/* --- systemd sockets ----------------------------------------------------- */

int reload_passed_fds_load(struct daemon_core *c)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);
	if (n < 0) {
		log_error("sd_listen_fds: %s", strerror(-n));
		return n;
	}
	c->passed = xcalloc((size_t)n + 1, sizeof(*c->passed));
	for (int i = 0; i < n; i++) {
		c->passed[i].fd = SD_LISTEN_FDS_START + i;
		c->passed[i].name = xstrdup(names && names[i] ? names[i] : "unknown");
		fd_set_cloexec(c->passed[i].fd, true);
	}
	c->n_passed = (size_t)n;
	strv_free(names);
	return 0;
}

void reload_passed_fds_close(struct daemon_core *c)
{
	for (size_t i = 0; i < c->n_passed; i++) {
		close(c->passed[i].fd); /* listeners never close these */
		free(c->passed[i].name);
	}
	free(c->passed);
	c->passed = NULL;
	c->n_passed = 0;
}

static int passed_fd_find(struct daemon_core *c, const char *name)
{
	for (size_t i = 0; i < c->n_passed; i++)
		if (strcmp(c->passed[i].name, name) == 0) {
			c->passed[i].used = true;
			return c->passed[i].fd;
		}
	return -1;
}

static char *passed_names(const struct daemon_core *c)
{
	struct strbuf sb = {0};
	for (size_t i = 0; i < c->n_passed; i++)
		sb_printf(&sb, "%s%s", i ? ", " : "", c->passed[i].name);
	if (!c->n_passed)
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
	struct addr backend_addr; /* where backend_fd is bound */
};

/* Whether a service before the i-th of cfg listens on a too (http services
 * routed by host share one socket; config.c allows no other sharing). */
static bool listen_shared_earlier(const struct config *cfg, size_t i, const struct addr *a)
{
	for (size_t k = 0; k < i; k++)
		for (size_t j = 0; j < cfg->services[k]->n_listen; j++)
			if (addr_equal(&cfg->services[k]->listen[j], a))
				return true;
	return false;
}

/* A listener of the running services on the same address, or NULL. */
static struct listener *find_listener(struct daemon_core *c, const struct addr *a)
{
	for (size_t i = 0; i < c->n_svcs; i++) {
		size_t n;
		struct listener *const *ls = service_listeners(c->svcs[i], &n);
		for (size_t j = 0; j < n; j++)
			if (addr_equal(&ls[j]->addr, a))
				return ls[j];
	}
	return NULL;
}

struct service *reload_find_service(const struct daemon_core *c, const char *name)
{
	for (size_t i = 0; i < c->n_svcs; i++)
		if (strcmp(service_name(c->svcs[i]), name) == 0)
			return c->svcs[i];
	return NULL;
}

/* A service by name, also among the retired (removed, still draining). */
static struct service *find_service_any(struct daemon_core *c, const char *name)
{
	struct service *svc = reload_find_service(c, name);
	for (size_t i = 0; i < c->n_retired && !svc; i++)
		if (strcmp(service_name(c->retired[i]), name) == 0)
			svc = c->retired[i];
	return svc;
}

/* The file of a unix socket bound to a path, or NULL (TCP, abstract). */
static const char *sock_file(const struct addr *a)
{
	const char *path = ((const struct sockaddr_un *)&a->sa)->sun_path;
	return a->kind == ZP_ADDR_UNIX && path[0] == '/' ? path : NULL;
}

static bool sock_file_is(const struct addr *a, const char *path)
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
static int plan_make(struct daemon_core *c, struct config *cfg, struct plan *plans,
		     struct diag *diag)
{
	int err = 0;
	for (size_t i = 0; i < cfg->n_services; i++) {
		struct service_config *sc = cfg->services[i];
		struct plan *p = &plans[i];
		p->listeners = xcalloc(sc->n_listen + 1, sizeof(*p->listeners));
		p->reused = xcalloc(sc->n_listen + 1, sizeof(*p->reused));
		p->backend_fd = -1;
		for (size_t j = 0; j < sc->n_listen; j++) {
			const struct addr *a = &sc->listen[j];
			if (listen_shared_earlier(cfg, i, a))
				continue; /* one socket, held by the first (NULL here) */
			struct listener *l = find_listener(c, a);
			if (l) {
				p->listeners[j] = l;
				p->reused[j] = true;
				continue;
			}
			int fd = -1, e = 0;
			if (a->kind == ZP_ADDR_SYSTEMD) {
				fd = passed_fd_find(c, a->name);
				if (fd < 0) {
					char *names = passed_names(c);
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
			e = listener_new(c->loop, a, fd, &p->listeners[j]);
			if (e < 0) {
				diag_error(diag, "%s: listen %s: %s", sc->path, a->text,
					   strerror(-e));
				err = -EINVAL;
			}
		}
		if (sc->ready != ZP_READY_SOCKET)
			continue;
		struct service *old = find_service_any(c, sc->name);
		const struct service_config *oc = old ? service_config(old) : NULL;
		if (old && service_backend_listen_fd(old) >= 0 && oc->ready == ZP_READY_SOCKET &&
		    oc->has_address == sc->has_address &&
		    (!sc->has_address || addr_equal(&oc->address, &sc->address))) {
			p->backend_fd = service_backend_listen_fd(old);
			p->backend_reused = true;
			continue;
		}
		struct addr ba;
		if (service_backend_addr(c->runtime_dir, sc, &ba) < 0) {
			diag_error(diag, "%s: [backend] ready = socket: socket path in %s too long",
				   sc->path, c->runtime_dir);
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
static void stale_sock_add(struct daemon_core *c, const struct service *svc)
{
	const char *path = sock_file(service_backend_bound_addr(svc));
	if (!path)
		return;
	c->stale = realloc(c->stale, (c->n_stale + 1) * sizeof(*c->stale));
	if (!c->stale)
		abort();
	c->stale[c->n_stale++] = (struct stale_sock){xstrdup(path), xstrdup(service_name(svc))};
}

enum sock_use { SOCK_UNUSED, SOCK_BUSY, SOCK_OURS };

/* Who uses the file path now, gone's instance (reaped, its process no more)
 * aside: a service bound it again (it is that service's now), or a backend
 * was started on it and accepts there still, or nobody. */
static enum sock_use stale_sock_use(struct daemon_core *c, const char *path,
				    const struct service *gone)
{
	enum sock_use use = SOCK_UNUSED;
	for (size_t i = 0; i < c->n_svcs + c->n_retired; i++) {
		struct service *svc = i < c->n_svcs ? c->svcs[i] : c->retired[i - c->n_svcs];
		if (i < c->n_svcs && service_backend_listen_fd(svc) >= 0 &&
		    sock_file_is(service_backend_bound_addr(svc), path))
			return SOCK_OURS;
		const struct addr *ia = service_instance_addr(svc);
		if (ia && svc != gone && sock_file_is(ia, path))
			use = SOCK_BUSY;
	}
	return use;
}

/* Unlink every stale socket file nobody uses any more; forget those that a
 * service owns again. */
void reload_sweep_stale(struct daemon_core *c, const struct service *gone)
{
	size_t n = 0;
	for (size_t k = 0; k < c->n_stale; k++) {
		struct stale_sock *st = &c->stale[k];
		enum sock_use use = stale_sock_use(c, st->path, gone);
		if (use == SOCK_BUSY) {
			c->stale[n++] = *st;
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
	c->n_stale = n;
}

void reload_stale_free(struct daemon_core *c)
{
	reload_sweep_stale(c, NULL);
	for (size_t k = 0; k < c->n_stale; k++) {
		free(c->stale[k].path);
		free(c->stale[k].service);
	}
	free(c->stale);
	c->stale = NULL;
	c->n_stale = 0;
}

/* --- host routing --------------------------------------------------------- */

void reload_fronts_free(struct daemon_core *c)
{
	for (size_t i = 0; i < c->n_fronts; i++)
		route_table_free(&c->fronts[i]);
	free(c->fronts);
	c->fronts = NULL;
	c->n_fronts = 0;
}

static bool reload_route(void *data, unsigned front, const char *host, struct service **to)
{
	struct daemon_core *c = data;
	for (size_t i = 0; i < c->n_fronts; i++)
		if (c->fronts[i].id == front) {
			*to = route_lookup(&c->fronts[i], host);
			return true;
		}
	return false;
}

/* One route table per listen address where routing decides: several http
 * services, or one with hosts (other Hosts get 404). A listener keeps its
 * table's id from one configuration to the next, so connections accepted
 * before a reload route by the new table. */
static void fronts_build(struct daemon_core *c)
{
	reload_fronts_free(c);
	for (size_t i = 0; i < c->n_svcs; i++) {
		const struct service_config *sc = service_config(c->svcs[i]);
		if (sc->protocol != ZP_PROTOCOL_HTTP)
			continue;
		for (size_t j = 0; j < sc->n_listen; j++) {
			struct route_table *t = NULL;
			for (size_t k = 0; k < c->n_fronts && !t; k++)
				if (addr_equal(&c->fronts[k].addr, &sc->listen[j]))
					t = &c->fronts[k];
			if (!t) {
				c->fronts = realloc(c->fronts, (c->n_fronts + 1) * sizeof(*t));
				if (!c->fronts)
					abort();
				t = &c->fronts[c->n_fronts++];
				*t = (struct route_table){.addr = sc->listen[j]};
			}
			t->n_targets++;
			if (sc->max_header_size > t->max_header_size)
				t->max_header_size = sc->max_header_size;
			for (size_t h = 0; sc->hosts && sc->hosts[h]; h++)
				route_add(t, sc->hosts[h], c->svcs[i]);
			if (!sc->hosts)
				t->dflt = c->svcs[i];
		}
	}
	size_t n = 0;
	for (size_t k = 0; k < c->n_fronts; k++) {
		struct route_table *t = &c->fronts[k];
		struct listener *l = find_listener(c, &t->addr);
		if ((t->n_targets < 2 && !t->n) || !l) {
			if (l)
				l->front = 0;
			route_table_free(t);
			continue;
		}
		if (!l->front)
			l->front = ++c->last_front;
		l->front_max_header = t->max_header_size;
		t->id = l->front;
		c->fronts[n++] = *t;
	}
	c->n_fronts = n;
	c->env.route = reload_route;
	c->env.route_data = c;
}

/* Size the budget for the configuration just applied. */
static void reload_size_budget(struct daemon_core *c)
{
	uint64_t wanted = 0;
	for (size_t i = 0; i < c->n_svcs; i++)
		wanted += service_config(c->svcs[i])->max_connections;
	budget_update(&c->budget, wanted);
}

/* The control and metrics servers of a configuration, made before it is
 * committed: a reload that cannot bind them fails and changes nothing. */
struct servers {
	bool control_new; /* control_socket changed (or first start) */
	struct control_server *control;
	bool metrics_new;               /* metrics_listen changed */
	struct metrics_server *metrics; /* NULL: metrics off */
};

static int servers_prepare(struct daemon_core *c, const struct config *cfg, struct servers *sv,
			   struct diag *diag)
{
	const struct config *old = c->cfg;
	memset(sv, 0, sizeof(*sv));
	if (!old || strcmp(old->control_socket, cfg->control_socket) != 0) {
		int r = control_server_new(c->loop, cfg->control_socket, c->ops, c->ops_data,
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
		int r = cfg->has_metrics ? metrics_server_new(c->loop, &cfg->metrics_listen, c->ops,
							      c->ops_data, &sv->metrics)
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
static int reload_prepare(struct daemon_core *c, struct config *cfg, struct plan **plans,
			  struct servers *sv, struct diag *diag)
{
	*plans = xcalloc(cfg->n_services + 1, sizeof(**plans));
	int r = plan_make(c, cfg, *plans, diag);
	if (r == 0 && (r = servers_prepare(c, cfg, sv, diag)) < 0)
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
	struct daemon_core *c = w->data;
	control_server_free(c->dead_control);
	metrics_server_free(c->dead_metrics);
	c->dead_control = NULL;
	c->dead_metrics = NULL;
}

static void servers_commit(struct daemon_core *c, struct servers *sv)
{
	if (sv->control_new) {
		control_server_free(c->dead_control);
		c->dead_control = c->control;
		c->control = sv->control;
	}
	if (sv->metrics_new) {
		metrics_server_free(c->dead_metrics);
		c->dead_metrics = c->metrics;
		c->metrics = sv->metrics;
	}
	if ((c->dead_control || c->dead_metrics) && !ev_is_active(&c->reap)) {
		ev_timer_set(&c->reap, 0, 0);
		ev_timer_start(c->loop, &c->reap);
	}
}

/* Apply a loaded configuration whose sockets are planned. */
static void reload_commit(struct daemon_core *c, struct config *cfg, struct plan *plans,
			  struct servers *sv)
{
	/* Every old socket comes back to us; the plans hold the ones reused. */
	struct listener **old_l = NULL;
	size_t n_old = 0;
	size_t n_all = c->n_svcs + c->n_retired;
	int *old_b = xcalloc(n_all + 1, sizeof(int));
	for (size_t i = 0; i < n_all; i++) {
		struct listener **ls;
		size_t n;
		struct service *svc = i < c->n_svcs ? c->svcs[i] : c->retired[i - c->n_svcs];
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
		if (!old_l[k])
			continue;
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
			stale_sock_add(c, k < c->n_svcs ? c->svcs[k] : c->retired[k - c->n_svcs]);
		}
	}
	free(old_b);

	/* The groups first, so that services join the new ones; their rules are
	 * applied once every service has joined (group_set_settle() below). */
	if (c->env.groups)
		group_set_configure(c->env.groups, cfg->groups, cfg->n_groups);
	struct service **svcs = xcalloc(cfg->n_services + 1, sizeof(*svcs));
	for (size_t i = 0; i < cfg->n_services; i++) {
		struct service_config *sc = cfg->services[i];
		cfg->services[i] = NULL; /* the service owns it now */
		struct service *old = reload_find_service(c, sc->name);
		if (!old && (old = find_service_any(c, sc->name)) != NULL) {
			/* Removed, still draining, and back: the same service again. */
			for (size_t k = 0; k < c->n_retired; k++)
				if (c->retired[k] == old)
					c->retired[k] = c->retired[--c->n_retired];
			log_event(LOG_INFO, service_name(old), LOG_EV_CONFIG, NULL,
				  "%s: back in the configuration", service_name(old));
		}
		if (old) {
			bool same = service_config_equal(service_config(old), sc);
			service_reconfigure(old, sc, plans[i].listeners, plans[i].backend_fd);
			if (!same)
				log_event(LOG_INFO, service_name(old), LOG_EV_CONFIG, NULL,
					  "%s: configuration changed", service_name(old));
			svcs[i] = old;
		} else {
			svcs[i] = service_new(&c->env, sc, plans[i].listeners, plans[i].backend_fd);
			for (size_t j = 0; j < sc->n_listen; j++)
				log_event(LOG_INFO, sc->name, LOG_EV_CONFIG, NULL,
					  "%s: listening on %s", sc->name, sc->listen[j].text);
		}
		free(plans[i].reused);
	}
	/* The new list first: retiring one service may free it at once (nothing
	 * to drain), and retiring the next one reports a state change, which
	 * reads every service in c->svcs. */
	struct service **old_svcs = c->svcs;
	size_t n_old_svcs = c->n_svcs;
	c->svcs = svcs;
	c->n_svcs = cfg->n_services;
	for (size_t i = 0; i < n_old_svcs; i++) {
		bool kept = false;
		for (size_t j = 0; j < cfg->n_services && !kept; j++)
			kept = svcs[j] == old_svcs[i];
		if (kept)
			continue;
		struct service *gone = old_svcs[i];
		c->retired = realloc(c->retired, (c->n_retired + 1) * sizeof(*c->retired));
		if (!c->retired)
			abort();
		c->retired[c->n_retired++] = gone;
		log_event(LOG_INFO, service_name(gone), LOG_EV_CONFIG, NULL,
			  "%s: removed from the configuration; draining", service_name(gone));
		service_retire(gone);
	}
	free(old_svcs);
	if (c->env.groups)
		group_set_settle(c->env.groups);

	struct config *old_cfg = c->cfg;
	c->cfg = cfg;
	if (!c->state_dir || strcmp(c->state_dir, cfg->state_dir) != 0) {
		int r = mkdir_p(cfg->state_dir, 0755);
		if (r < 0)
			log_error("state_dir %s: %s", cfg->state_dir, strerror(-r));
		free(c->state_dir);
		c->state_dir = xstrdup(cfg->state_dir);
		c->env.state_dir = c->state_dir;
	}
	log_set_level(cfg->log_level);
	servers_commit(c, sv);
	fronts_build(c);
	config_free(old_cfg);
	reload_sweep_stale(c, NULL);
}

void reload_log_diag(const struct diag *diag)
{
	for (size_t i = 0; i < diag->n_warnings; i++)
		log_warning("%s", diag->warnings[i]);
	for (size_t i = 0; i < diag->n_errors; i++)
		log_error("%s", diag->errors[i]);
}

int reload_first(struct daemon_core *c, struct config *cfg, struct diag *diag)
{
	ev_init(&c->reap, on_reap);
	c->reap.data = c;
	struct plan *plans;
	struct servers sv;
	if (reload_prepare(c, cfg, &plans, &sv, diag) < 0) {
		reload_log_diag(diag);
		config_free(cfg);
		return -EINVAL;
	}
	reload_log_diag(diag);
	for (size_t i = 0; i < c->n_passed; i++)
		if (!c->passed[i].used)
			log_warning("systemd passed a socket named \"%s\" that no service uses",
				    c->passed[i].name);
	reload_commit(c, cfg, plans, &sv);
	free(plans);
	reload_size_budget(c);
	return 0;
}

int reload_run(struct daemon_core *c, struct diag *diag)
{
	notify_systemd("RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now_usec());
	log_event(LOG_INFO, NULL, LOG_EV_RELOAD, NULL, "reloading %s", c->config_path);
	struct config *cfg = NULL;
	int r = config_load(c->config_path, c->explicit_path, &cfg, diag);
	struct plan *plans = NULL;
	struct servers sv;
	if (r == 0)
		r = reload_prepare(c, cfg, &plans, &sv, diag);
	reload_log_diag(diag);
	free(c->reload_error);
	c->reload_error = NULL;
	if (r < 0) {
		c->reload_error =
		    xasprintf("reload failed: %s", diag->n_errors ? diag->errors[0] : "error");
		log_event(LOG_ERR, NULL, LOG_EV_RELOAD_FAIL, NULL,
			  "reload failed; the previous configuration stays in force");
		config_free(cfg);
		free(plans);
	} else {
		reload_commit(c, cfg, plans, &sv);
		free(plans);
		reload_size_budget(c);
		budget_apply(&c->budget);
		log_event(LOG_INFO, NULL, LOG_EV_RELOAD, NULL, "reloaded: %zu service%s", c->n_svcs,
			  c->n_svcs == 1 ? "" : "s");
	}
	notify_systemd("READY=1");
	return r < 0 ? -EINVAL : 0;
}
