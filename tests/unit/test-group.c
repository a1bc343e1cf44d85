/*
 * test-group — the bookkeeping of a group's capacity (group.c) with fake
 * members: a member is "busy" or idle as the test says, records evictions
 * and admissions, and its instance is gone when the test says so
 * (group_release()). After every step the group's used weight must never
 * exceed its capacity, except after a reload shrank it while members were
 * busy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "log.h"
#include "tap.h"

struct fake {
	const char *name;
	struct group_member *m;
	bool busy;
	int rank;
	int evicted, admitted;
	bool fail_spawn; /* admit releases at once */
};

static char order[256]; /* "evict:a admit:b ..." */

static void trace(const char *what, const char *name)
{
	size_t n = strlen(order);
	snprintf(order + n, sizeof(order) - n, "%s%s:%s", n ? " " : "", what, name);
}

static bool f_idle(void *owner)
{
	return !((struct fake *)owner)->busy;
}

static int f_rank(void *owner)
{
	return ((struct fake *)owner)->rank;
}

static void f_evict(void *owner, const char *group, const char *for_whom)
{
	struct fake *f = owner;
	f->evicted++;
	trace("evict", f->name);
}

static void f_admit(void *owner)
{
	struct fake *f = owner;
	f->admitted++;
	trace("admit", f->name);
	if (f->fail_spawn)
		group_release(f->m);
}

static const struct group_member_ops ops = {
    .idle = f_idle, .evict_rank = f_rank, .evict = f_evict, .admit = f_admit};

static struct group_set *set;
static struct group *g;

static void configure(uint32_t capacity)
{
	char name[] = "gpu";
	struct group_config gc = {.name = name, .capacity = capacity, .line = 1};
	group_set_configure(set, &gc, 1);
	g = group_set_find(set, "gpu");
}

static void join(struct fake *f, uint32_t weight, uint64_t used)
{
	f->m = group_join(g, f->name, weight, &ops, f);
	group_touch(f->m, used);
}

static bool trace_is(const char *want, const char *what)
{
	bool r = is_str(order, want, "%s", what);
	order[0] = '\0';
	return r;
}

static void test_capacity_one(void)
{
	configure(1);
	struct fake a = {.name = "a"}, b = {.name = "b"};
	join(&a, 1, 10);
	join(&b, 1, 20);
	ok(group_request(a.m), "a fits an empty group");
	is_int(group_used(g), 1, "a holds 1");
	a.busy = true;
	ok(!group_request(b.m), "b does not fit");
	ok(group_member_waiting(b.m) && trace_is("", "a busy: nothing is stopped"),
	   "b waits while a is busy");
	a.busy = false;
	group_member_idle(a.m);
	ok(trace_is("evict:a", "a idle: a is stopped for b") && a.evicted == 1,
	   "a becomes idle: evicted");
	is_int(group_used(g), 1, "a's weight counts until it is gone");
	group_member_idle(a.m); /* again: nothing more */
	ok(trace_is("", "no second eviction"), "a leaving is not stopped twice");
	group_release(a.m);
	ok(trace_is("admit:b", "b admitted") && group_member_holds(b.m) &&
	       !group_member_waiting(b.m),
	   "a gone: b admitted");
	is_int(group_used(g), 1, "b holds 1");
	is_int((long long)group_member_evictions(a.m), 1, "a's evictions counted");
	group_leaving(b.m);
	group_release(b.m);
	is_int(group_used(g), 0, "empty again");
	group_leave(a.m);
	group_leave(b.m);
}

static void test_lru(void)
{
	configure(2);
	struct fake a = {.name = "a"}, b = {.name = "b"}, c = {.name = "c"};
	join(&a, 1, 30);
	join(&b, 1, 10);
	join(&c, 1, 20);
	ok(group_request(a.m) && group_request(b.m), "a and b fit capacity 2");
	ok(!group_request(c.m) && trace_is("evict:b", "b, least recently used, is stopped"),
	   "c: the least recently used (b) is stopped");
	group_release(b.m);
	ok(trace_is("admit:c", "c admitted"), "b gone: c admitted");
	group_touch(c.m, 40);
	ok(!group_request(b.m) && trace_is("evict:a", "then a"), "b again: a is the LRU now");
	group_release(a.m);
	ok(trace_is("admit:b", "b admitted"), "a gone: b admitted");
	/* A frozen member (rank 0) goes first, whatever its use. */
	group_touch(b.m, 50);
	c.rank = 1, b.rank = 0;
	ok(!group_request(a.m) && trace_is("evict:b", "the frozen one first"),
	   "a frozen member goes before the least recently used one");
	group_release(b.m);
	ok(trace_is("admit:a", "a admitted"), "then a is admitted");
	group_release(a.m);
	group_release(c.m);
	group_leave(a.m);
	group_leave(b.m);
	group_leave(c.m);
}

static void test_weights(void)
{
	configure(3);
	struct fake a = {.name = "a"}, b = {.name = "b"}, c = {.name = "c"};
	join(&a, 2, 10);
	join(&b, 2, 20);
	join(&c, 1, 30);
	ok(group_request(a.m), "a (2) fits 3");
	ok(group_request(c.m), "c (1) fits the rest");
	c.busy = true;
	ok(!group_request(b.m) && trace_is("evict:a", "a alone makes room"),
	   "b (2): stopping a makes room, busy c stays");
	group_release(a.m);
	ok(trace_is("admit:b", "b admitted") && group_used(g) == 3, "b admitted, 3 of 3 used");
	/* Not enough idle weight: nobody is stopped for nothing. */
	b.busy = true;
	c.busy = false;
	ok(!group_request(a.m) && trace_is("", "c alone is not enough"),
	   "a (2) needs 2: idle c (1) is not stopped for nothing");
	b.busy = false;
	group_member_idle(b.m);
	ok(trace_is("evict:b", "b is enough"), "b idle: b (2) alone is enough, c stays");
	group_release(b.m);
	ok(trace_is("admit:a", "a admitted") && group_used(g) == 3, "a admitted");
	/* Only what is needed goes: c (1) is the least recently used, but b (2)
	 * alone makes room for a (2). */
	group_touch(c.m, 5);
	a.busy = true;
	ok(!group_request(b.m) && trace_is("", "a busy"), "b waits for busy a");
	group_cancel(b.m);
	a.busy = false;
	ok(!group_request(b.m) && trace_is("evict:a", "a alone"),
	   "b (2): a (2) goes, the less recently used c (1) is not needed and stays");
	group_release(a.m);
	ok(trace_is("admit:b", "b in"), "b admitted");
	group_touch(c.m, 6);
	ok(!group_request(a.m) && trace_is("evict:b", "b alone"), "a (2): b goes, c stays");
	group_release(b.m);
	ok(trace_is("admit:a", "a in"), "a admitted");
	/* Strict FIFO: a lighter waiter behind a heavier one waits too. */
	a.busy = c.busy = true;
	ok(!group_request(b.m), "b waits");
	group_leaving(c.m);
	group_release(c.m);
	ok(trace_is("", "1 free of 2 needed"), "c gone: b still does not fit");
	ok(!group_request(c.m) && group_member_waiting(c.m),
	   "c (1) would fit, but waits behind b (FIFO)");
	group_cancel(b.m);
	ok(trace_is("admit:c", "c next"), "b gives up: c admitted");
	a.busy = c.busy = false;
	group_release(a.m);
	group_release(c.m);
	group_leave(a.m);
	group_leave(b.m);
	group_leave(c.m);
}

static void test_spawn_fails(void)
{
	configure(1);
	struct fake a = {.name = "a"}, b = {.name = "b", .fail_spawn = true}, c = {.name = "c"};
	join(&a, 1, 10);
	join(&b, 1, 20);
	join(&c, 1, 30);
	ok(group_request(a.m), "a holds");
	a.busy = true;
	ok(!group_request(b.m) && !group_request(c.m), "b and c wait");
	a.busy = false;
	group_member_idle(a.m);
	group_release(a.m);
	ok(trace_is("evict:a admit:b admit:c", "b's failure lets c in"),
	   "b's spawn fails: its weight comes back and c is admitted");
	ok(group_member_holds(c.m) && group_used(g) == 1, "c holds, 1 of 1");
	group_release(c.m);
	group_leave(a.m);
	group_leave(b.m);
	group_leave(c.m);
}

static void test_reload(void)
{
	configure(3);
	struct fake a = {.name = "a"}, b = {.name = "b"}, c = {.name = "c"};
	join(&a, 1, 10);
	join(&b, 1, 20);
	join(&c, 1, 30);
	ok(group_request(a.m) && group_request(b.m) && group_request(c.m), "3 of 3");
	b.busy = true;
	configure(1);
	group_set_settle(set);
	ok(trace_is("evict:a evict:c", "idle ones go"), "capacity 1: the idle members are stopped");
	group_release(a.m);
	group_release(c.m);
	ok(group_used(g) == 1 && trace_is("", "b stays"), "busy b stays");
	/* Above capacity with a busy member, b stays until idle. */
	configure(2);
	group_set_settle(set);
	ok(group_request(a.m), "capacity 2 again: a fits");
	configure(1);
	group_set_settle(set);
	ok(trace_is("evict:a", "a goes, b stays"), "capacity 1: a goes, busy b stays");
	group_release(a.m);
	b.busy = false;
	group_member_idle(b.m);
	ok(trace_is("", "within capacity"), "b idle within the capacity: stays");
	/* Capacity grows: waiters are admitted. */
	b.busy = true;
	ok(!group_request(a.m) && !group_request(c.m), "a and c wait");
	configure(3);
	group_set_settle(set);
	ok(trace_is("admit:a admit:c", "both admitted"), "capacity 3: both waiters admitted");
	/* A group removed from the configuration lives while it has members. */
	group_set_configure(set, NULL, 0);
	ok(!group_set_find(set, "gpu"), "removed from the set");
	is_int(group_used(g), 3, "its members keep it");
	group_release(a.m);
	group_release(b.m);
	group_release(c.m);
	group_leave(a.m);
	group_leave(b.m);
	group_leave(c.m); /* the last one frees it (ASan tells otherwise) */
}

int main(void)
{
	log_set_level(LOG_ERR);
	set = group_set_new();
	test_capacity_one();
	test_lru();
	test_weights();
	test_spawn_fails();
	test_reload();
	group_set_free(set);
	return done_testing();
}
