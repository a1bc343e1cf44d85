/*
 * usage_store — the writer thread that saves the usage files, so that the
 * event loop never waits for the disk (the files themselves are usage.c's).
 *
 * A save must survive a kill -9 at any moment (the old file or the
 * new one, never a mix: a temp file renamed over the old one) and, for what
 * was saved when an instance stopped or the daemon shut down, a power loss
 * (the temp file fsynced before the rename, the directory after). Those two
 * fsyncs take milliseconds on a good disk and far longer on a busy or
 * networked one, and the thread that would wait for them relays every
 * connection. Writing and renaming on the loop with the fsyncs deferred would
 * not do: the rename must come after the file's fsync, or a power loss can
 * leave an empty file where the history was, and open() and rename() wait on
 * a busy journal too. So saves go to one writer thread (struct usage_store):
 *  - the loop formats the snapshot (microseconds) into the file's slot, one
 *    slot per file: a newer snapshot replaces one not yet written (newest
 *    wins), so memory is bounded by the number of files, and a slow disk
 *    delays writes without queueing them up;
 *  - the thread copies a slot's text under the lock and writes temp file,
 *    fsync, rename, fsync of the directory without it; the loop takes the
 *    lock only to copy a few KiB, never across I/O;
 *  - the thread touches no loop state: it reports each finished write with
 *    ev_async_send(), the one libev call meant for other threads, and the
 *    loop logs failures and drops finished slots;
 *  - it makes system calls only, no malloc or stdio: zeroproxy forks its
 *    backends (raw clone3, which runs no atfork handler), and a child must not
 *    inherit a libc lock the thread happened to hold;
 *  - it exists only while there is something to write: a save starts it when
 *    none runs, it ends when no slot is dirty, and the loop joins it. An idle
 *    daemon is one thread with nothing to wake it, as before; a thread start
 *    (tens of microseconds) per burst of saves is the price;
 *  - it blocks every signal, so signals reach the loop's thread;
 *  - usage_store_free() (at shutdown) waits for it to write every pending
 *    slot: the snapshots taken at shutdown are fsynced on disk before
 *    zeroproxy exits.
 * A kill -9 between a save and its write leaves the previous file, as a kill
 * just before the save would. A load while a write is pending (a service
 * removed and added back by reloads) takes the pending snapshot, not the
 * older file.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strbuf.h"
#include "usage_store.h"
#include "util.h"

/* One file's newest snapshot. Made, changed and freed by the loop's thread,
 * under the lock; while busy the writer reads dir, path, tmp (which never
 * change) without it. */
struct usage_slot {
	struct usage_slot *next;
	char *name;                /* the service, for the log */
	char *dir;                 /* STATE_DIR */
	char *path;                /* STATE_DIR/NAME.usage */
	char *tmp;                 /* STATE_DIR/NAME.usage.tmp */
	struct usage snap;         /* the newest snapshot: the file's content once written */
	char text[USAGE_TEXT_MAX]; /* snap, formatted */
	size_t len;
	bool dirty; /* text not yet taken by the writer */
	bool busy;  /* the writer writes it now */
	int err;    /* the last write's result, 0 or -errno; logged by the loop */
};

struct usage_store {
	struct ev_loop *loop;
	ev_async written;     /* the writer finished a write */
	pthread_t thread;     /* the writer, while joinable */
	bool joinable;        /* thread was started and not joined yet (loop's thread only) */
	pthread_mutex_t lock; /* running and the slots */
	bool running;         /* the writer will look for dirty slots before it ends */
	struct usage_slot *slots;
	char text[USAGE_TEXT_MAX]; /* the writer's copy of the text it writes */
};

static void slot_free(struct usage_slot *s)
{
	free(s->name);
	free(s->dir);
	free(s->path);
	free(s->tmp);
	free(s);
}

static struct usage_slot *slot_find(struct usage_store *st, const char *path)
{
	for (struct usage_slot *s = st->slots; s; s = s->next)
		if (!strcmp(s->path, path))
			return s;
	return NULL;
}

/* Write dirty slots until there are none, then end (running cleared under the
 * same lock as the last look, so a save either sees running or starts a new
 * writer). */
static void *writer_main(void *data)
{
	struct usage_store *st = data;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		struct usage_slot *s = st->slots;
		while (s && !s->dirty)
			s = s->next;
		if (!s) {
			st->running = false;
			pthread_mutex_unlock(&st->lock);
			/* So that the loop joins this thread now. */
			ev_async_send(st->loop, &st->written);
			return NULL;
		}
		size_t len = s->len;
		memcpy(st->text, s->text, len);
		s->dirty = false;
		s->busy = true;
		pthread_mutex_unlock(&st->lock);
		int r = usage_file_write(s->dir, s->path, s->tmp, st->text, len);
		pthread_mutex_lock(&st->lock);
		s->busy = false;
		s->err = r;
		ev_async_send(st->loop, &st->written);
	}
}

/* Log the writes that failed and drop the slots with nothing left to do.
 * Under the lock, on the loop's thread. */
static void store_reap(struct usage_store *st)
{
	for (struct usage_slot **p = &st->slots; *p;) {
		struct usage_slot *s = *p;
		if (s->err < 0) {
			log_warning("%s: cannot write usage to %s: %s", s->name, s->dir,
				    strerror(-s->err));
			s->err = 0;
		}
		if (s->dirty || s->busy) {
			p = &s->next;
			continue;
		}
		*p = s->next;
		slot_free(s);
	}
}

static void on_written(struct ev_loop *loop, ev_async *w, int revents)
{
	struct usage_store *st = w->data;
	pthread_mutex_lock(&st->lock);
	store_reap(st);
	bool ended = !st->running;
	pthread_mutex_unlock(&st->lock);
	/* A writer that found nothing more to do is leaving (no I/O left):
	 * join it, so that an idle daemon is one thread again. */
	if (ended && st->joinable) {
		pthread_join(st->thread, NULL);
		st->joinable = false;
	}
}

int usage_store_new(struct ev_loop *loop, struct usage_store **out)
{
	struct usage_store *st = xcalloc(1, sizeof(*st));
	st->loop = loop;
	ev_async_init(&st->written, on_written);
	st->written.data = st;
	int r = pthread_mutex_init(&st->lock, NULL);
	if (r) {
		free(st);
		return -r;
	}
	ev_async_start(loop, &st->written);
	*out = st;
	return 0;
}

/* A save found no writer running: start one (st->running is set). The one
 * before has cleared running and has no I/O left: joining it is immediate.
 * Without a thread the slots are written here, on the caller's thread. */
static void writer_start(struct usage_store *st)
{
	if (st->joinable)
		pthread_join(st->thread, NULL);
	st->joinable = false;
	/* Every signal stays with the loop's thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&st->thread, NULL, writer_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0) {
		st->joinable = true;
		return;
	}
	log_warning("usage files: cannot start the writer thread (%s); writing on the event loop",
		    strerror(r));
	writer_main(st);
	pthread_mutex_lock(&st->lock);
	store_reap(st);
	pthread_mutex_unlock(&st->lock);
}

void usage_store_free(struct usage_store *st)
{
	if (!st)
		return;
	/* The writer ends once every slot is written (or failed). */
	if (st->joinable)
		pthread_join(st->thread, NULL);
	store_reap(st);
	ev_async_stop(st->loop, &st->written);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* The pending snapshot of path into u: true if there is one. */
static bool store_pending(struct usage_store *st, const char *path, struct usage *u)
{
	if (!st)
		return false;
	pthread_mutex_lock(&st->lock);
	struct usage_slot *s = slot_find(st, path);
	if (s)
		*u = s->snap;
	pthread_mutex_unlock(&st->lock);
	/* With no slot the writer is not writing that file: reading it
	 * without the lock is safe, as only this thread makes slots. */
	return s != NULL;
}

int usage_store_load(struct usage_store *st, const char *state_dir, const char *name,
		     uint64_t wall_now_usec, struct usage *u, char *why, size_t why_len)
{
	char path[USAGE_PATH_MAX];

	why[0] = '\0';
	if (usage_file_paths(state_dir, name, path, NULL, sizeof(path)) == 0 &&
	    store_pending(st, path, u))
		return 0;
	return usage_load(state_dir, name, wall_now_usec, u, why, why_len);
}

int usage_store_retry(struct usage_store *st, const char *state_dir, const char *name,
		      uint64_t wall_now_usec, struct usage *u, char *why, size_t why_len)
{
	char path[USAGE_PATH_MAX];
	struct usage file;
	bool missing = false;
	int r;

	why[0] = '\0';
	if (!u->unread)
		return 0;
	if (usage_file_paths(state_dir, name, path, NULL, sizeof(path)) < 0)
		return 0; /* never unread: usage_load() said so */
	if (store_pending(st, path, &file))
		r = 0;
	else
		r = usage_file_load(path, wall_now_usec, &file, "keeping what was counted since",
				    why, why_len, &missing);
	if (r < 0) {
		/* Still unreadable, or moved aside: what u counted stays. */
		u->unread = file.unread;
		return r;
	}
	if (missing) {
		snprintf(why, why_len,
			 "%s: gone meanwhile; counting on from what was counted since", path);
	} else {
		usage_add(&file, u);
		file.unread = 0;
		*u = file;
		snprintf(why, why_len,
			 "%s: read at last; its figures and those counted since are added up",
			 path);
	}
	u->unread = 0;
	return 0;
}

int usage_store_save(struct usage_store *st, const char *state_dir, const char *name,
		     const struct usage *u)
{
	if (!st)
		return usage_save(state_dir, name, u);
	char path[USAGE_PATH_MAX], tmp[USAGE_PATH_MAX];
	struct strbuf sb = {0};
	int r = usage_file_prepare(state_dir, name, u, path, tmp, &sb);
	if (r < 0)
		return r;
	if (sb.len > USAGE_TEXT_MAX) {
		sb_free(&sb);
		return -EFBIG; /* cannot happen: version 1 is bounded */
	}
	pthread_mutex_lock(&st->lock);
	struct usage_slot *s = slot_find(st, path);
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->name = xstrdup(name);
		s->dir = xstrdup(state_dir);
		s->path = xstrdup(path);
		s->tmp = xstrdup(tmp);
		s->next = st->slots;
		st->slots = s;
	}
	s->snap = *u;
	memcpy(s->text, sb.data, sb.len);
	s->len = sb.len;
	s->dirty = true;
	bool start = !st->running;
	st->running = true;
	pthread_mutex_unlock(&st->lock);
	sb_free(&sb);
	if (start)
		writer_start(st);
	return 0;
}
