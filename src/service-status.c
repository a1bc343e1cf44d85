/*
 * service-status — what a service reports: the status snapshot (`zeroproxy
 * status`, /metrics) and its meter, the usage figures kept in STATE_DIR and
 * counted up at each instance's end and at each checkpoint.
 */
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "log.h"
#include "procstat.h"
#include "service-internal.h"
#include "usage_store.h"
#include "util.h"

static double usec_to_s(uint64_t us)
{
	return (double)us / 1e6;
}

/* A histogram's per-bucket counts as Prometheus wants them, cumulative. */
static void cumulate(const uint64_t *per_bucket, size_t n, uint64_t *out)
{
	uint64_t cum = 0;
	for (size_t i = 0; i < n; i++) {
		cum += per_bucket[i];
		out[i] = cum;
	}
}

/* CPU and peak memory of the running instance so far (0 when none). The
 * peak is remembered: what status showed once must not shrink at the exit,
 * where only wait4()'s (slightly different) ru_maxrss is left. */
static void inst_live(struct service *svc, uint64_t *cpu_usec, uint64_t *peak_bytes)
{
	*cpu_usec = *peak_bytes = 0;
	if (!svc->inst)
		return;
	struct procstat ps;
	if (svc->inst->cgroup && cgroup_read(svc->inst->cgroup, cpu_usec, peak_bytes) == 0 &&
	    *peak_bytes) {
		/* the cgroup's memory.peak covers every process */
	} else if (procstat_read_group(svc->inst->pid, &ps) == 0) {
		/* From /proc: the backend's process group, children included;
		 * its CPU only when there is no cgroup to count it. */
		if (!svc->inst->cgroup)
			*cpu_usec = ps.cpu_usec;
		*peak_bytes = ps.hwm_bytes;
	}
	if (*peak_bytes > svc->inst_peak_bytes)
		svc->inst_peak_bytes = *peak_bytes;
	*peak_bytes = svc->inst_peak_bytes;
}

uint64_t service_inst_frozen_usec(const struct service *svc, uint64_t now)
{
	uint64_t t = svc->inst_frozen_usec;
	if (svc->state == SVC_FROZEN && now > svc->frozen_since_usec)
		t += now - svc->frozen_since_usec;
	return t;
}

/* The figures of protocol = http. requests_active is the engine's (its
 * connections' requests in flight). */
static void service_status_requests(const struct service *svc, struct service_status *st)
{
	const struct usage *u = &svc->usage;
	st->protocol = protocol_name(svc->cfg->protocol);
	st->requests_total = u->requests_total;
	st->requests_active = svc->queue.n_requests;
	st->requests_ignored = u->requests_ignored;
	memcpy(st->responses, u->responses, sizeof(st->responses));
	st->has_request = u->request_count > 0;
	st->request_ms_p50 = usage_request_percentile(u, 50) / 1000.0;
	st->request_ms_p99 = usage_request_percentile(u, 99) / 1000.0;
	cumulate(u->request_buckets, ZP_REQUEST_BUCKETS, st->request_buckets);
	st->request_count = u->request_count;
	st->request_sum_seconds = usec_to_s(u->request_sum_usec);
}

void service_status(struct service *svc, struct service_status *st)
{
	uint64_t now = now_usec();
	const struct usage *u = &svc->usage;
	memset(st, 0, sizeof(*st));
	st->name = xstrdup(svc->name);
	st->state = service_state_to_string(svc->state);
	st->pid = svc->inst && !svc->inst->reaped ? (int)svc->inst->pid : 0;
	for (size_t i = 0; i < svc->cfg->n_listen; i++)
		strv_push(&st->listen, svc->cfg->listen[i].text);
	if (!st->listen)
		st->listen = xcalloc(1, sizeof(char *));
	for (size_t i = 0; svc->cfg->hosts && svc->cfg->hosts[i]; i++)
		strv_push(&st->hosts, svc->cfg->hosts[i]);
	st->connections_active = svc->queue.n_active + svc->queue.n_reading + svc->handoff_active;
	st->connections_pending = svc->queue.n_pending;
	st->connections_total = u->connections_total;
	st->connections_refused = u->connections_refused;
	st->connections_ignored = u->connections_ignored;
	st->cold_starts = u->cold_starts;
	st->relay = svc->cfg->relay;
	if (svc->gm) {
		const struct group *g = group_member_group(svc->gm);
		st->group = xstrdup(group_name(g));
		st->group_weight = svc->cfg->group_weight;
		st->group_capacity = group_capacity(g);
		st->group_used = group_used(g);
		st->group_evictions = group_member_evictions(svc->gm);
	}
	service_status_requests(svc, st);
	st->has_start = u->start_count > 0;
	st->last_start_ms = (double)u->last_start_usec / 1000.0;
	st->start_ms_p50 = usage_start_percentile(u, 50) / 1000.0;
	st->start_ms_p99 = usage_start_percentile(u, 99) / 1000.0;
	st->has_ready = svc->has_ready;
	st->ready_ms = (double)svc->last_ready_usec / 1000.0;
	st->has_idle = svc->idle_since_usec != 0;
	st->idle_seconds = st->has_idle ? usec_to_s(now - svc->idle_since_usec) : 0;
	st->has_stop_in = ev_is_active(&svc->idle_timer);
	if (st->has_stop_in) {
		double left = ev_timer_remaining(svc->env->loop, &svc->idle_timer);
		st->stop_in_seconds = left > 0 ? left : 0;
	}
	uint64_t life = svc->inst ? now - svc->inst->spawn_usec : 0;
	uint64_t frozen = svc->inst ? service_inst_frozen_usec(svc, now) : 0;
	uint64_t live = life - frozen; /* billed: the unfrozen part */
	st->has_uptime = svc->inst != NULL;
	st->uptime_seconds = usec_to_s(life);
	st->billed_seconds = usec_to_s(u->billed_usec + live);
	st->frozen_seconds = usec_to_s(u->frozen_usec + frozen);
	st->thaws = u->thaws;
	st->has_thaw = u->last_thaw_usec != 0;
	st->last_thaw_ms = (double)u->last_thaw_usec / 1000.0;
	uint64_t live_cpu, live_peak;
	inst_live(svc, &live_cpu, &live_peak);
	st->cpu_seconds = usec_to_s(u->cpu_usec + live_cpu);
	st->cpu_source = svc->env->cgroup ? "cgroup" : "rusage";
	st->peak_memory_bytes = live_peak > u->peak_memory_bytes ? live_peak : u->peak_memory_bytes;
	uint64_t wall = wall_usec();
	double span = wall > u->first_seen_wall_usec ? (double)(wall - u->first_seen_wall_usec) : 0;
	double ratio = span > 0 ? 1.0 - (double)(u->billed_usec + live) / span : 1.0;
	st->time_at_zero_ratio = ratio < 0 ? 0 : ratio > 1 ? 1 : ratio;
	st->bytes_in = u->bytes_in;
	st->bytes_out = u->bytes_out;
	st->last_exit = u->last_exit[0] ? xstrdup(u->last_exit) : NULL;
	st->backend_status = svc->backend_status ? xstrdup(svc->backend_status) : NULL;
	st->last_error = svc->last_error ? xstrdup(svc->last_error) : NULL;
	cumulate(u->start_buckets, ZP_START_BUCKETS, st->start_buckets);
	st->start_count = u->start_count;
	st->start_sum_seconds = usec_to_s(u->start_sum_usec);
}

void service_save_usage(struct service *svc)
{
	const struct service_env *env = svc->env;
	char why[USAGE_WHY_MAX];
	/* A file that could not be read is read again first, and never
	 * written over while it cannot be. */
	(void)usage_store_retry(env->usage, env->state_dir, svc->name, wall_usec(), &svc->usage,
				why, sizeof(why));
	if (why[0])
		log_warning("%s: usage file: %s", svc->name, why);
	if (svc->usage.unread)
		return;
	struct usage snap = svc->usage;
	if (svc->inst) {
		/* A checkpoint counts the running instance so far, so a kill -9
		 * of zeroproxy loses at most one checkpoint interval. */
		uint64_t cpu, peak, now = now_usec();
		uint64_t frozen = service_inst_frozen_usec(svc, now);
		inst_live(svc, &cpu, &peak);
		snap.billed_usec += now - svc->inst->spawn_usec - frozen;
		snap.frozen_usec += frozen;
		snap.cpu_usec += cpu;
		if (peak > snap.peak_memory_bytes)
			snap.peak_memory_bytes = peak;
	}
	int r = usage_store_save(env->usage, env->state_dir, svc->name, &snap);
	if (r < 0)
		log_warning("%s: cannot write usage to %s: %s", svc->name, svc->env->state_dir,
			    strerror(-r));
}

void service_meter_end(struct service *svc)
{
	struct instance *in = svc->inst;
	uint64_t now = now_usec();
	uint64_t frozen = service_inst_frozen_usec(svc, now);
	uint64_t life = now - in->spawn_usec - frozen;
	const struct rusage *ru = &in->rusage;
	uint64_t cpu = (uint64_t)ru->ru_utime.tv_sec * 1000000 + (uint64_t)ru->ru_utime.tv_usec +
		       (uint64_t)ru->ru_stime.tv_sec * 1000000 + (uint64_t)ru->ru_stime.tv_usec;
	uint64_t peak = (uint64_t)ru->ru_maxrss * 1024;
	uint64_t cg_cpu, cg_peak;
	/* The cgroup counts every descendant, waited for or not. */
	if (in->cgroup && cgroup_read(in->cgroup, &cg_cpu, &cg_peak) == 0) {
		cpu = cg_cpu > cpu ? cg_cpu : cpu;
		peak = cg_peak > peak ? cg_peak : peak;
	}
	if (svc->inst_peak_bytes > peak)
		peak = svc->inst_peak_bytes;
	svc->inst_peak_bytes = 0;
	svc->usage.billed_usec += life;
	svc->usage.frozen_usec += frozen;
	svc->usage.cpu_usec += cpu;
	if (peak > svc->usage.peak_memory_bytes)
		svc->usage.peak_memory_bytes = peak;
	format_wait_status(in->wait_status, true, svc->usage.last_exit,
			   sizeof(svc->usage.last_exit));
}
