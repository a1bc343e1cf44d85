/*
 * budget — client connections vs. RLIMIT_NOFILE; see budget.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#include "budget.h"
#include "log.h"

/* fds kept free of client connections (probes, exec pipes, control and
 * metrics clients, usage files): an eighth of the limit, 4 to 64. */
#define FD_RESERVE_MIN 4
#define FD_RESERVE_MAX 64
/* The loop's own fds: epoll and the eventfd that signals and the usage
 * writer wake it through. */
#define FD_LOOP 2

void budget_init(struct conn_budget *b, budget_each_listener_fn each_listener, void *data)
{
	*b = (struct conn_budget){.each_listener = each_listener, .data = data};
}

/* systemd's advice for daemons that need many fds. */
rlim_t budget_nofile_raise(void)
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

/* Otherwise libev aborts when it cannot make its eventfd, or a usage file
 * cannot be read. The limit that counts is the hard one (budget_nofile_raise()
 * raises the soft limit to it). */
int budget_nofile_check(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max == RLIM_INFINITY)
		return 0;
	uint64_t open_now = count_open_fds(rl.rlim_max);
	uint64_t sockets = 2 + (cfg->has_metrics ? 1 : 0); /* notify, control, metrics */
	uint64_t listeners = 0;
	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct service_config *sc = cfg->services[i];
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

/* Two fds per client connection (or splice pipe), after those the daemon itself holds and a
 * reserve. */
void budget_update(struct conn_budget *b, uint64_t wanted)
{
	struct rlimit rl;
	uint64_t limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
			     ? rl.rlim_cur
			     : 1 << 20;
	uint64_t own = count_open_fds(limit);
	uint64_t ours = 2ULL * b->open + 2ULL * b->pipes;
	own = own > ours ? own - ours : 0;
	uint64_t reserve = limit / 8 < FD_RESERVE_MIN   ? FD_RESERVE_MIN
			   : limit / 8 > FD_RESERVE_MAX ? FD_RESERVE_MAX
							: limit / 8;
	uint64_t max = limit > own + reserve ? (limit - own - reserve) / 2 : 1;
	b->max = max > UINT32_MAX ? UINT32_MAX : (uint32_t)(max ? max : 1);
	if (wanted > b->max)
		log_notice(
		    "RLIMIT_NOFILE %llu allows %u client connections at once (max_connections "
		    "adds up to %llu); more wait in the listen queues",
		    (unsigned long long)limit, b->max, (unsigned long long)wanted);
}

static void budget_resume(struct conn_budget *b)
{
	b->throttled = false;
	b->each_listener(b->data, listener_resume);
}

/* Its listeners, new ones and those a reload stopped and started again, all
 * accept again, whatever the budget says; the budget may be smaller now,
 * too. */
static uint64_t budget_used(const struct conn_budget *b)
{
	return (uint64_t)b->open + b->pipes;
}

void budget_apply(struct conn_budget *b)
{
	if (budget_used(b) < b->max) {
		if (b->throttled)
			budget_resume(b);
		return;
	}
	b->throttled = true;
	b->each_listener(b->data, listener_throttle);
}

void budget_conn_opened(struct conn_budget *b)
{
	b->open++;
}

void budget_conn_closed(struct conn_budget *b)
{
	b->open--;
	if (b->throttled && budget_used(b) < b->max)
		budget_resume(b);
}

bool budget_accept_more(struct conn_budget *b)
{
	if (budget_used(b) < b->max)
		return true;
	if (!b->throttled)
		log_warning("%u client connections open: the file descriptor limit allows no "
			    "more; new ones wait in the listen queue",
			    b->open);
	b->throttled = true;
	return false;
}

bool budget_pipe_take(struct conn_budget *b)
{
	if (budget_used(b) + 2 > b->max)
		return false;
	b->pipes++;
	return true;
}

void budget_pipe_released(struct conn_budget *b)
{
	b->pipes--;
	if (b->throttled && budget_used(b) < b->max)
		budget_resume(b);
}
