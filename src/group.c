/*
 * group — the shared budget of a [group NAME]; see group.h.
 *
 * A group holds its members in an array (few members; every decision scans
 * them). The FIFO of waiters is a sequence number per waiting member: the
 * first waiter is the one with the smallest. The callbacks (evict, admit)
 * run service code that may come straight back here (an admitted service
 * whose spawn fails releases its weight at once); settle() is therefore
 * guarded: a nested call only asks the running one to look again.
 */
#include "group.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct group {
	char *name;
	uint32_t capacity;
	bool configured;    /* in the current configuration (else kept by members) */
	unsigned refs;      /* members, and the set while configured */
	uint64_t wait_next; /* the next waiter's sequence number */
	bool settling;      /* settle() runs (a callback came back) */
	bool again;         /* and must look once more */
	struct group_member **members;
	size_t n_members;
};

struct group_member {
	struct group *group;
	char *name;
	uint32_t weight;   /* what a request takes */
	uint32_t held;     /* what the instance holds (0: none) */
	bool holds;        /* an instance exists: held counts */
	bool leaving;      /* its instance stops: held is on its way out */
	uint64_t wait_seq; /* 0: not waiting, else its place in the FIFO */
	uint64_t last_used_usec;
	uint64_t evictions;
	const struct group_member_ops *ops;
	void *owner;
};

struct group_set {
	struct group **groups;
	size_t n;
};

/* --- the set --- */

static void group_unref(struct group *g)
{
	assert(g->refs > 0);
	if (--g->refs)
		return;
	free(g->members);
	free(g->name);
	free(g);
}

struct group_set *group_set_new(void)
{
	return xcalloc(1, sizeof(struct group_set));
}

void group_set_free(struct group_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		s->groups[i]->configured = false;
		group_unref(s->groups[i]);
	}
	free(s->groups);
	free(s);
}

struct group *group_set_find(const struct group_set *s, const char *name)
{
	for (size_t i = 0; s && name && i < s->n; i++)
		if (strcmp(s->groups[i]->name, name) == 0)
			return s->groups[i];
	return NULL;
}

void group_set_configure(struct group_set *s, const struct group_config *gc, size_t n)
{
	/* Groups gone from the configuration leave the set. */
	for (size_t i = 0; i < s->n;) {
		bool kept = false;
		for (size_t j = 0; j < n && !kept; j++)
			kept = strcmp(s->groups[i]->name, gc[j].name) == 0;
		if (kept) {
			i++;
			continue;
		}
		s->groups[i]->configured = false;
		group_unref(s->groups[i]);
		s->groups[i] = s->groups[--s->n];
	}
	for (size_t j = 0; j < n; j++) {
		struct group *g = group_set_find(s, gc[j].name);
		if (!g) {
			g = xcalloc(1, sizeof(*g));
			g->name = xstrdup(gc[j].name);
			g->configured = true;
			g->refs = 1;
			g->wait_next = 1;
			s->groups = realloc(s->groups, (s->n + 1) * sizeof(*s->groups));
			if (!s->groups)
				abort();
			s->groups[s->n++] = g;
		} else if (g->capacity != gc[j].capacity) {
			log_info("group %s: capacity %u -> %u", g->name, g->capacity,
				 gc[j].capacity);
		}
		g->capacity = gc[j].capacity;
	}
}

static void settle(struct group *g);

void group_set_settle(struct group_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		settle(s->groups[i]);
}

/* --- a group --- */

const char *group_name(const struct group *g)
{
	return g->name;
}

uint32_t group_capacity(const struct group *g)
{
	return g->capacity;
}

static uint64_t sum_held(const struct group *g, bool leaving_only)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < g->n_members; i++) {
		const struct group_member *m = g->members[i];
		if (m->holds && (!leaving_only || m->leaving))
			sum += m->held;
	}
	return sum;
}

uint32_t group_used(const struct group *g)
{
	return (uint32_t)sum_held(g, false);
}

/* The first waiter, or NULL. */
static struct group_member *first_waiter(const struct group *g)
{
	struct group_member *best = NULL;
	for (size_t i = 0; i < g->n_members; i++) {
		struct group_member *m = g->members[i];
		if (m->wait_seq && (!best || m->wait_seq < best->wait_seq))
			best = m;
	}
	return best;
}

/* Whether a may be stopped before b. */
static bool evict_before(const struct group_member *a, int rank_a, const struct group_member *b,
			 int rank_b)
{
	if (rank_a != rank_b)
		return rank_a < rank_b;
	return a->last_used_usec < b->last_used_usec;
}

/* The next member to stop (holding, not leaving yet, idle, not except), or
 * NULL. */
static struct group_member *next_victim(const struct group *g, const struct group_member *except,
					const bool *chosen)
{
	struct group_member *best = NULL;
	int best_rank = 0;
	for (size_t i = 0; i < g->n_members; i++) {
		struct group_member *m = g->members[i];
		if (m == except || !m->holds || m->leaving || (chosen && chosen[i]) ||
		    !m->ops->idle(m->owner))
			continue;
		int rank = m->ops->evict_rank(m->owner);
		if (!best || evict_before(m, rank, best, best_rank)) {
			best = m;
			best_rank = rank;
		}
	}
	return best;
}

static void evict(struct group *g, struct group_member *m, const char *for_whom)
{
	m->leaving = true;
	m->evictions++;
	if (for_whom)
		log_notice("%s: stopping %s to make room for %s", g->name, m->name, for_whom);
	else
		log_notice("%s: stopping %s: the group is above its capacity (%u)", g->name,
			   m->name, g->capacity);
	m->ops->evict(m->owner, g->name, for_whom);
}

static size_t member_index(const struct group *g, const struct group_member *m)
{
	for (size_t i = 0; i < g->n_members; i++)
		if (g->members[i] == m)
			return i;
	abort();
}

/* Make room for the first waiter w: if the idle members, least recently used
 * first, free enough (with what is leaving already), stop them, but not one
 * whose weight is not needed after all; else stop none. */
static void make_room(struct group *g, struct group_member *w)
{
	uint64_t need = sum_held(g, false) + w->weight - g->capacity;
	uint64_t coming = sum_held(g, true);
	if (coming >= need)
		return; /* enough is on its way out */
	bool *chosen = xcalloc(g->n_members, sizeof(bool));
	struct group_member *v;
	while (coming < need && (v = next_victim(g, w, chosen))) {
		chosen[member_index(g, v)] = true;
		coming += v->held;
	}
	if (coming >= need) {
		/* One chosen early (lighter, used less recently) that a later,
		 * heavier choice made unneeded stays. */
		for (size_t i = 0; i < g->n_members; i++)
			if (chosen[i] && coming - g->members[i]->held >= need) {
				chosen[i] = false;
				coming -= g->members[i]->held;
			}
		/* Stop them in the order chosen (the callbacks may change the
		 * array: look each up again). */
		struct group_member **list = xcalloc(g->n_members, sizeof(*list));
		size_t n = 0;
		for (size_t i = 0; i < g->n_members; i++)
			if (chosen[i])
				list[n++] = g->members[i];
		for (size_t i = 0; i < n; i++)
			evict(g, list[i], w->name);
		free(list);
	}
	free(chosen);
}

/* Bring the group to its rules: idle members of a group above its capacity
 * stop; the first waiter is admitted when it fits, else room is made for it
 * if it can be. */
static void settle(struct group *g)
{
	if (g->settling) {
		g->again = true;
		return;
	}
	g->settling = true;
	do {
		g->again = false;
		/* Above capacity (shrunk by a reload): idle members go; busy ones
		 * stay until they become idle (group_member_idle()). */
		while (sum_held(g, false) - sum_held(g, true) > g->capacity) {
			struct group_member *v = next_victim(g, NULL, NULL);
			if (!v)
				break;
			evict(g, v, NULL);
		}
		struct group_member *w = first_waiter(g);
		if (!w)
			break;
		if (sum_held(g, false) + w->weight <= g->capacity) {
			w->wait_seq = 0;
			w->holds = true;
			w->held = w->weight;
			w->leaving = false;
			w->ops->admit(w->owner);
			g->again = true; /* the next waiter may fit too */
			continue;
		}
		make_room(g, w);
	} while (g->again);
	g->settling = false;
}

/* --- a member --- */

struct group_member *group_join(struct group *g, const char *name, uint32_t weight,
				const struct group_member_ops *ops, void *owner)
{
	struct group_member *m = xcalloc(1, sizeof(*m));
	m->group = g;
	m->name = xstrdup(name);
	m->weight = weight;
	m->ops = ops;
	m->owner = owner;
	g->refs++;
	g->members = realloc(g->members, (g->n_members + 1) * sizeof(*g->members));
	if (!g->members)
		abort();
	g->members[g->n_members++] = m;
	return m;
}

void group_leave(struct group_member *m)
{
	if (!m)
		return;
	struct group *g = m->group;
	bool waited = m->wait_seq != 0;
	size_t i = member_index(g, m);
	g->members[i] = g->members[--g->n_members];
	free(m->name);
	free(m);
	if (waited && g->refs > 1)
		settle(g); /* the next waiter may fit */
	group_unref(g);
}

struct group *group_member_group(const struct group_member *m)
{
	return m->group;
}

void group_member_set_weight(struct group_member *m, uint32_t weight)
{
	m->weight = weight;
}

bool group_request(struct group_member *m)
{
	struct group *g = m->group;
	assert(!m->holds);
	if (m->wait_seq)
		return false;
	/* Strict FIFO: behind a waiter, even when it would fit. */
	if (!first_waiter(g) && sum_held(g, false) + m->weight <= g->capacity) {
		m->holds = true;
		m->held = m->weight;
		m->leaving = false;
		return true;
	}
	m->wait_seq = g->wait_next++;
	settle(g);
	return false;
}

void group_cancel(struct group_member *m)
{
	if (!m || !m->wait_seq)
		return;
	m->wait_seq = 0;
	settle(m->group); /* the next waiter may fit now */
}

void group_leaving(struct group_member *m)
{
	if (m->holds)
		m->leaving = true;
}

void group_release(struct group_member *m)
{
	if (!m->holds)
		return;
	m->holds = false;
	m->leaving = false;
	m->held = 0;
	settle(m->group);
}

void group_touch(struct group_member *m, uint64_t usec)
{
	m->last_used_usec = usec;
}

void group_member_idle(struct group_member *m)
{
	struct group *g = m->group;
	if (first_waiter(g) || sum_held(g, false) - sum_held(g, true) > g->capacity)
		settle(g);
}

bool group_member_holds(const struct group_member *m)
{
	return m->holds;
}

bool group_member_waiting(const struct group_member *m)
{
	return m->wait_seq != 0;
}

uint64_t group_member_evictions(const struct group_member *m)
{
	return m->evictions;
}
