/*
 * service-instance — a service's instance: where it accepts, the driver that
 * runs it (instance.c, or a test's fake), its spawn with what it
 * inherits (config, backend socket, NOTIFY_SOCKET, cgroup, fd limit), what
 * it says over sd_notify, and the verdict on its start: the back-off after a
 * failed one and the rule for an exit that has not proven the start. No
 * state changes here: service.c makes them from what these report.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "log.h"
#include "notify.h"
#include "listener.h"
#include "service-internal.h"
#include "strbuf.h"
#include "util.h"

#define BACKOFF_FIRST_USEC 1000000ULL
#define BACKOFF_MAX_USEC   60000000ULL
/* An instance that exits this soon after it became ready, without having
 * served a byte, has not really started (see service_exit_unproven()). */
#define START_GRACE_USEC 1000000ULL

/* The instance_* functions as an instance_driver. */
static const struct instance_driver real_driver = {
    .spawn = instance_spawn,
    .stop = instance_stop,
    .kill = instance_kill,
    .child_exited = instance_child_exited,
    .wait_gone = instance_wait_gone,
    .notify_ready = instance_notify_ready,
    .freeze = instance_freeze,
    .thaw = instance_thaw,
    .free = instance_free,
};

int service_backend_addr(const char *runtime_dir, const struct service_config *cfg, struct addr *a)
{
	if (cfg->has_address) {
		*a = cfg->address;
		return 0;
	}
	memset(a, 0, sizeof(*a));
	a->kind = ZP_ADDR_UNIX;
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->sa;
	sun->sun_family = AF_UNIX;
	int len =
	    snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s.sock", runtime_dir, cfg->name);
	if (len < 0 || (size_t)len >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	a->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)len + 1);
	snprintf(a->text, sizeof(a->text), "unix:%s", sun->sun_path);
	return 0;
}

const struct instance_driver *service_instance_driver(const struct service_env *env)
{
	return env->instances ? env->instances : &real_driver;
}

char *service_fdname(const struct addr *a)
{
	/* LISTEN_FDNAMES separates names with ':', so none may hold one. */
	const char *t = a->text;
	if (a->kind == ZP_ADDR_SYSTEMD || a->kind == ZP_ADDR_UNIX)
		t = strchr(t, ':') + 1;
	char *name = xstrdup(t);
	for (char *p = name; *p; p++)
		if (*p == ':')
			*p = '_';
	return name;
}

char *service_fdnames(struct listener *const *listeners, size_t n)
{
	struct strbuf sb = {0};
	for (size_t i = 0; i < n; i++) {
		char *name = service_fdname(&listeners[i]->addr);
		sb_printf(&sb, "%s%s", i ? ":" : "", name);
		free(name);
	}
	return sb_steal(&sb);
}

/* Spawn an instance of the current config; the caller moves the state. 0,
 * or -errno with why (the failed start is recorded: back-off, waiting
 * clients refused). */
int service_spawn(struct service *svc, const struct instance_ops *ops, char *why, size_t why_len)
{
	assert(!svc->inst);
	svc->inst_cfg = svc->cfg;
	svc->inst_addr = svc->backend_addr;
	svc->start_failed = false;
	svc->inst_gen++;
	svc->inst_served = svc->inst_sampled = false;
	svc->inst_frozen_usec = 0;
	svc->thaw_pending = false;
	struct spawn_env env = {
	    .notify_path = svc->cfg->ready == ZP_READY_NOTIFY ? svc->env->notify_path : NULL,
	    .nofile = svc->env->backend_nofile,
	};
	int *fds = NULL;
	char *names = NULL;
	if (!svc->cfg->relay) {
		/* Hand-off: every listening socket of the service itself. */
		fds = xcalloc(svc->n_listeners ? svc->n_listeners : 1, sizeof(*fds));
		for (size_t i = 0; i < svc->n_listeners; i++)
			fds[i] = svc->listeners[i]->fd;
		names = service_fdnames(svc->listeners, svc->n_listeners);
		env.listen_fds = fds;
		env.n_listen_fds = svc->n_listeners;
		env.listen_fdnames = names;
	} else if (svc->cfg->ready == ZP_READY_SOCKET && svc->backend_listen_fd >= 0) {
		env.listen_fds = &svc->backend_listen_fd;
		env.n_listen_fds = 1;
	}
	char *cg = NULL;
	if (svc->env->cgroup && cgroup_create(svc->env->cgroup, svc->name, &cg) < 0)
		cg = NULL;
	env.cgroup_path = cg;
	svc->usage.cold_starts++;
	free(svc->backend_status);
	svc->backend_status = NULL;
	int r = svc->drv->spawn(svc->env->loop, svc->cfg, &env, ops, svc, &svc->inst, why, why_len);
	free(fds);
	free(names);
	if (r < 0 && cg)
		cgroup_remove(cg);
	free(cg);
	if (r < 0) {
		svc->inst = NULL;
		svc->inst_cfg = NULL;
		service_start_failed(svc, why);
		return r;
	}
	return 0;
}

void service_free_inst(struct service *svc)
{
	svc->drv->free(svc->inst);
	svc->inst = NULL;
	if (svc->inst_cfg != svc->cfg)
		service_config_free(svc->inst_cfg);
	svc->inst_cfg = NULL;
}
/* Record a failed start: reason for status, back-off, waiting clients closed. */
void service_start_failed(struct service *svc, const char *reason)
{
	free(svc->last_error);
	svc->last_error = xasprintf("start failed: %s", reason);
	svc->start_failed = true;
	svc->start_failure_unlogged = true;
	svc->failures++;
	uint64_t backoff = BACKOFF_FIRST_USEC;
	for (unsigned i = 1; i < svc->failures && backoff < BACKOFF_MAX_USEC; i++)
		backoff *= 2;
	if (backoff > BACKOFF_MAX_USEC)
		backoff = BACKOFF_MAX_USEC;
	svc->backoff_until_usec = now_usec() + backoff;
	conn_queue_refuse_waiting(&svc->queue, svc->inst_gen, "start failed");
}
/* Whether connections wait in the queue of our ready=socket backend socket
 * (the previous instance exited before accepting them). */
bool service_backend_queue_waiting(const struct service *svc)
{
	if (svc->backend_listen_fd < 0)
		return false;
	struct pollfd p = {.fd = svc->backend_listen_fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}
bool service_listeners_waiting(const struct service *svc)
{
	for (size_t i = 0; !svc->inst_cfg->relay && i < svc->n_listeners; i++) {
		struct pollfd p = {.fd = svc->listeners[i]->fd, .events = POLLIN};
		if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
			return true;
	}
	return false;
}
/* Whether clients wait for the current instance: pending, relayed but not
 * answered yet, or queued in its backend socket (relay = no: in a listen
 * socket it was handed). */
static bool clients_waiting(const struct service *svc)
{
	return svc->queue.n_pending || service_backend_queue_waiting(svc) ||
	       service_listeners_waiting(svc) || conn_queue_unanswered(&svc->queue, svc->inst_gen);
}
/* An instance that was ready and exited on its own (no stop asked for): a
 * failed start unless it proved itself. It has not when it sent no byte to
 * any client and either exited within START_GRACE_USEC of becoming ready or
 * left clients waiting for it. Without this rule a ready = socket backend
 * (ready at exec) that dies at once is respawned for its queued client
 * without end. A backend that served and then exited by itself (even at
 * once) is a normal exit; so is one that ran idle for a while and exited
 * with nobody waiting. */
bool service_exit_unproven(const struct service *svc, const struct instance *in)
{
	if (svc->inst_served)
		return false;
	return in->exit_usec - in->ready_usec < START_GRACE_USEC || clients_waiting(svc);
}
/* For an exit with status 0 that counts as a failed start: the usual cause. */
const char *service_exit_hint(const struct instance *in)
{
	if (WIFEXITED(in->wait_status) && WEXITSTATUS(in->wait_status) == 0)
		return ": it probably forked into the background; it must run in the foreground "
		       "(see zeroproxy.conf(5))";
	return "";
}

bool service_notify(struct service *svc, pid_t pid, const char *msg)
{
	if (!svc->inst || svc->inst_cfg->ready != ZP_READY_NOTIFY)
		return false;
	/* Only the backend's own processes (its process group) may speak. */
	if (pid != svc->inst->pid && getpgid(pid) != svc->inst->pid)
		return false;
	char buf[256];
	if (notify_field(msg, "STATUS", buf, sizeof(buf))) {
		free(svc->backend_status);
		svc->backend_status = xstrdup(buf);
	}
	if (notify_field(msg, "READY", buf, sizeof(buf)) && strcmp(buf, "1") == 0)
		svc->drv->notify_ready(svc->inst);
	return true;
}
