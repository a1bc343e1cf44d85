/*
 * budget — the file descriptors zeroproxy has for client connections, and
 * the listener throttling that keeps it within them.
 *
 * Each client connection costs two fds (client and backend) out of
 * RLIMIT_NOFILE, and two more per direction that splices (its pipe). Pipes
 * are counted in the same units as connections (two fds each) and granted
 * only while a slot for one more connection remains. When the budget is used up the listeners
 * pause, so that clients wait in the kernel's listen queue instead of being accepted by a daemon
 * with no fd left to reach their backend; they resume once a connection closes. The services count
 * their connections here; the daemon sizes the budget after every configuration and says how to
 * reach every listener. (The listener's own EMFILE pause, in listener.c, is the last line of
 * defence when something else ate the fds.)
 */
#ifndef ZP_BUDGET_H
#define ZP_BUDGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include "config.h"
#include "listener.h"

/* Calls fn on every listener of the running configuration. */
typedef void (*budget_each_listener_fn)(void *data, void (*fn)(struct listener *l));

/* Client connections all services may hold at once. */
struct conn_budget {
	uint32_t open;                         /* client connections open, every service */
	uint32_t pipes;                        /* splice pipes open (two fds each) */
	uint32_t max;                          /* at most */
	bool throttled;                        /* some listener paused for it */
	budget_each_listener_fn each_listener; /* the listeners to pause and resume */
	void *data;                            /* for each_listener */
};

/* An empty budget (max 0 until budget_update()) that pauses and resumes the
 * listeners each_listener reaches. */
void budget_init(struct conn_budget *b, budget_each_listener_fn each_listener, void *data);

/* Raise the soft RLIMIT_NOFILE to the hard one; the old soft limit, for the
 * backends (0: it was not raised, they get ours). */
rlim_t budget_nofile_raise(void);

/* Refuse to start with fewer fds than cfg needs to serve one connection at
 * all: 0, or -EMFILE after logging how many it needs. */
int budget_nofile_check(const struct config *cfg);

/* Size the budget from the fds open now (after a configuration was applied);
 * wanted: the services' max_connections added up, to say when the limit is
 * the tighter one. */
void budget_update(struct conn_budget *b, uint64_t wanted);

/* After a configuration was applied (its listeners all accept): pause them
 * all while the budget is used up, resume them when it has room. */
void budget_apply(struct conn_budget *b);

/* A client connection was accepted / closed. Closing one resumes the
 * listeners paused for the budget once it has room again. */
void budget_conn_opened(struct conn_budget *b);
void budget_conn_closed(struct conn_budget *b);

/* After an accept: whether the listener may accept more. false: the budget is
 * used up (said once), the listener is to pause until resumed. */
bool budget_accept_more(struct conn_budget *b);

/* A relay asks for a splice pipe: true (counted) while, after it, one more
 * connection still fits; false: it copies instead. A released pipe resumes
 * the listeners paused for the budget once it has room again. */
bool budget_pipe_take(struct conn_budget *b);
void budget_pipe_released(struct conn_budget *b);

#endif
