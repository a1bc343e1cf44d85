/*
 * usage_store — the writer thread of the usage files: one slot per file with
 * its newest snapshot, written (temp file, fsync, rename, fsync of the
 * directory) off the event loop; see usage_store.c.
 */
#ifndef ZP_USAGE_STORE_H
#define ZP_USAGE_STORE_H

#include "usage.h"

struct ev_loop;
struct usage_store;

/* Start the writer; failures of its writes are logged on loop. 0 or -errno
 * (then run without: usage_store_* with a NULL store work on the caller's
 * thread). */
int usage_store_new(struct ev_loop *loop, struct usage_store **out);

/* Write every snapshot still pending (fsynced, on disk when it returns), log
 * what failed, stop the thread. NULL is fine. */
void usage_store_free(struct usage_store *st);

/* usage_load(), but a snapshot still waiting for (or in) its write is the
 * file's content: it is newer than what the disk holds. */
int usage_store_load(struct usage_store *st, const char *state_dir, const char *name,
		     uint64_t wall_now_usec, struct usage *u, char *why, size_t why_len);

/* When u->unread, read the file again: once it can be, its figures and what u
 * counted since are added up in u and u->unread is clear (a file moved aside
 * or gone meanwhile leaves u as it is, no longer unread). Returns what the
 * read found, as usage_load() does (0 when u was not unread), and in why what
 * happened for the log, also on success ("" when nothing did). */
int usage_store_retry(struct usage_store *st, const char *state_dir, const char *name,
		      uint64_t wall_now_usec, struct usage *u, char *why, size_t why_len);

/* Queue u for writing to STATE_DIR/NAME.usage (replacing a snapshot of the
 * same file not yet written); the writer logs a failure. 0, -EAGAIN when
 * u->unread, -EINVAL/-ENAMETOOLONG for a bad name. */
int usage_store_save(struct usage_store *st, const char *state_dir, const char *name,
		     const struct usage *u);

#endif
