/*
 * group — services that share one budget ([group NAME] capacity = N in
 * zeroproxy.conf; group and group_weight in a service). The group counts the
 * weight of every member that has an instance, from the moment it is allowed
 * to spawn until its instance is entirely gone (exited, its last process
 * reaped), so the sum never exceeds the capacity, also while instances start
 * and stop. A member that must start when the group is full asks for room:
 * it waits in the group's FIFO, and the group stops the least recently used
 * members that are idle (nothing in flight) until enough weight is on its
 * way out; when it has left, the first waiter is admitted. If the idle
 * members cannot make enough room, none is stopped: the waiter waits until a
 * member becomes idle or stops (strict FIFO: a later, lighter waiter never
 * overtakes the first, so a heavy one cannot starve).
 *
 * Pure bookkeeping: no loop, no I/O. The members are services, seen through
 * struct group_member_ops, so this file sits below service.c (which owns one
 * membership per group it is in) and is unit-tested on its own.
 */
#ifndef ZP_GROUP_H
#define ZP_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct group;
struct group_member;
struct group_set;

/* What the group asks of a member (its owner, a service). */
struct group_member_ops {
	/* Nothing in flight: it may be stopped to make room (one predicate: tcp
	 * mode says "no connection", http mode "no request in flight"). */
	bool (*idle)(void *owner);
	/* Eviction order: lower goes first (a frozen member before a warm one),
	 * the least recently used first among equals. */
	int (*evict_rank)(void *owner);
	/* Stop the instance now to make room for the member called for_whom
	 * (NULL: the capacity shrank). The weight stays counted until
	 * group_release(). */
	void (*evict)(void *owner, const char *group, const char *for_whom);
	/* Room was made: the weight is taken, spawn now (or group_release()
	 * if that fails). */
	void (*admit)(void *owner);
};

/* --- the groups of a configuration --- */

struct group_set *group_set_new(void);
/* Free the set; groups that still have members live on until the last one
 * leaves. */
void group_set_free(struct group_set *s);

/* Apply the [group] sections of a configuration: new groups are made,
 * capacities changed, groups no longer configured leave the set (their
 * members keep them until they leave). Call group_set_settle() once the
 * services have joined their new groups. */
void group_set_configure(struct group_set *s, const struct group_config *g, size_t n);

/* After a reload: admit waiters that fit the new capacities, stop idle
 * members of groups above their capacity. */
void group_set_settle(struct group_set *s);

/* The configured group called name, or NULL. */
struct group *group_set_find(const struct group_set *s, const char *name);

/* --- a group --- */

const char *group_name(const struct group *g);
uint32_t group_capacity(const struct group *g);
/* The weight of the members that have an instance. */
uint32_t group_used(const struct group *g);

/* --- a member --- */

/* Join g as name with weight (ownership of nothing; name is copied). */
struct group_member *group_join(struct group *g, const char *name, uint32_t weight,
				const struct group_member_ops *ops, void *owner);
/* Leave the group; a wait is cancelled. A weight still held (the instance of
 * a service freed at exit) is dropped without admitting anyone. NULL is
 * fine. */
void group_leave(struct group_member *m);

struct group *group_member_group(const struct group_member *m);
/* Future requests take weight (a held weight stays as it was taken). */
void group_member_set_weight(struct group_member *m, uint32_t weight);

/* The member must start: true when its weight is taken (spawn now), false
 * when it waits (group_member_ops.admit comes when there is room). */
bool group_request(struct group_member *m);
/* No longer waiting (its connections gave up, `zeroproxy stop`). NULL is
 * fine. */
void group_cancel(struct group_member *m);
/* Its instance is stopping: the weight is on its way out. */
void group_leaving(struct group_member *m);
/* Its instance is entirely gone: the weight is free again. */
void group_release(struct group_member *m);
/* It was used at usec (monotonic): the LRU order. */
void group_touch(struct group_member *m, uint64_t usec);
/* It became idle: a waiter (or a capacity too small) may stop it now. */
void group_member_idle(struct group_member *m);

bool group_member_holds(const struct group_member *m);
bool group_member_waiting(const struct group_member *m);
/* How often it was stopped to make room. */
uint64_t group_member_evictions(const struct group_member *m);

#endif
