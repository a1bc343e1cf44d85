/*
 * usage — the per-service meter: counters and totals that survive restarts of
 * zeroproxy, kept in STATE_DIR/NAME.usage and written atomically, off the
 * event loop by a writer thread (struct usage_store; see usage.c).
 */
#ifndef ZP_USAGE_H
#define ZP_USAGE_H

#include <stdbool.h>
#include <stdint.h>

/* Upper bounds (seconds) of the start-latency histogram; the last is +Inf. */
#define ZP_START_BUCKETS 14
extern const double usage_start_bucket_le[ZP_START_BUCKETS];

/* How many recent start latencies are kept for p50/p99. */
#define ZP_START_SAMPLES 256

/* Upper bounds (seconds) of the request-duration histogram (protocol =
 * http), 0.5 ms to 60 s; the last is +Inf. */
#define ZP_REQUEST_BUCKETS 17
extern const double usage_request_bucket_le[ZP_REQUEST_BUCKETS];

/* How many recent request durations are kept for p50/p99. */
#define ZP_REQUEST_SAMPLES 256

/* Response classes counted: responses[0] is 1xx ... responses[4] is 5xx. */
#define ZP_RESPONSE_CLASSES 5

struct usage {
	uint64_t connections_total;    /* every accepted client connection */
	uint64_t connections_refused;  /* closed without reaching a backend */
	uint64_t cold_starts;          /* every instance start */
	uint64_t billed_usec;          /* unfrozen life of ended (or checkpointed) instances */
	uint64_t frozen_usec;          /* their frozen time (freeze_after) */
	uint64_t thaws;                /* frozen instances thawed to serve */
	uint64_t last_thaw_usec;       /* the latest thaw as its client felt it; 0: none yet */
	uint64_t cpu_usec;             /* CPU of finished (or checkpointed) instances */
	uint64_t peak_memory_bytes;    /* largest of any instance */
	uint64_t bytes_in;             /* client -> backend */
	uint64_t bytes_out;            /* backend -> client */
	uint64_t first_seen_wall_usec; /* wall clock when first configured */
	uint64_t start_buckets[ZP_START_BUCKETS]; /* per bucket, not cumulative */
	uint64_t start_count;
	uint64_t start_sum_usec;
	uint32_t start_samples[ZP_START_SAMPLES]; /* ring of recent latencies, usec */
	uint32_t n_samples;                       /* filled entries, <= ZP_START_SAMPLES */
	uint32_t sample_pos;                      /* next slot in the ring */
	uint64_t last_start_usec; /* latency of the latest start; valid if start_count */
	char last_exit[64];       /* "exited 0", "killed by SIGKILL"; "" before any */
	/* protocol = http (all 0 in tcp mode) */
	uint64_t requests_total;                      /* every request, answered or not */
	uint64_t responses[ZP_RESPONSE_CLASSES];      /* final responses by class, 1xx..5xx */
	uint64_t request_buckets[ZP_REQUEST_BUCKETS]; /* per bucket, not cumulative */
	uint64_t request_count;                       /* answered requests timed */
	uint64_t request_sum_usec;                    /* their durations summed */
	uint32_t request_samples[ZP_REQUEST_SAMPLES]; /* ring of recent durations, usec */
	uint32_t n_request_samples;                   /* filled entries */
	uint32_t request_sample_pos;                  /* next slot in the ring */
	uint64_t requests_ignored;    /* of requests_total, those idle_ignore matched */
	uint64_t connections_ignored; /* closed by the client before their first byte
				       * (wake_on = data, protocol = http) */
	int unread; /* errno of a failed read of the file (0: read, or none): while
		     * set, the meter holds only what was counted since, and is
		     * never written over the file it could not read */
};

/* A fresh meter for a service first configured now. */
void usage_init(struct usage *u, uint64_t wall_now_usec);

/* Record one start latency. */
void usage_record_start(struct usage *u, uint64_t latency_usec);

/* The p-th percentile (0..100) of the recent start latencies in usec; 0 if none. */
double usage_start_percentile(const struct usage *u, double p);

/* One HTTP request ended (protocol = http): counted in requests_total and,
 * when it was answered, its response in responses[] by class and its
 * duration (first request byte to last response byte) in the histogram and
 * the samples. status 0: no response (the connection ended first): counted
 * in requests_total only. A status outside 100..599 (a backend's nonsense,
 * which http-parser lets through up to 999) counts as 5xx. */
void usage_request_done(struct usage *u, unsigned status, uint64_t duration_usec);

/* The p-th percentile (0..100) of the recent request durations in usec; 0 if none. */
double usage_request_percentile(const struct usage *u, double p);

/* Add what since counted to u (counts and sums added, peak the larger, the
 * samples of since after u's (starts and requests), first_seen the earlier, the latest start and
 * exit from since when it has them). */
void usage_add(struct usage *u, const struct usage *since);

/* Room for any reason the loads below give (two paths and some words). */
/* Bytes of a usage file's path (and of its temp file's), at most. */
#define USAGE_PATH_MAX 4096

#define USAGE_WHY_MAX (2 * USAGE_PATH_MAX + 512)

/* Load STATE_DIR/NAME.usage into u; u is always usable afterwards. 0: the
 * file's figures, or a fresh meter when there is none. Else the meter is
 * fresh, why says what happened for the log, and the result what kind it
 * was: with u->unread set, the file could not be read (-EMFILE, -EACCES,
 * -EIO...) and is left as it is; -EBADMSG, its content failed its checks
 * and it was renamed to NAME.usage.corrupt-TIMESTAMP; -EINVAL or
 * -ENAMETOOLONG, no file name can be made of state_dir and name. */
int usage_load(const char *state_dir, const char *name, uint64_t wall_now_usec, struct usage *u,
	       char *why, size_t why_len);

/* Write u to STATE_DIR/NAME.usage atomically (temp file, fsync, rename,
 * fsync of the directory), on the calling thread. 0 or -errno; -EAGAIN when
 * u->unread (the file must not be replaced). */
int usage_save(const char *state_dir, const char *name, const struct usage *u);

/* The file primitives the writer (usage_store.c) shares with the above. */

/* Bytes of a formatted usage file, at most. */
#define USAGE_TEXT_MAX 16384

/* STATE_DIR/NAME.usage into path and, unless tmp is NULL, its temp file into
 * tmp (each size bytes). 0, -EINVAL (a bad name) or -ENAMETOOLONG. */
int usage_file_paths(const char *state_dir, const char *name, char *path, char *tmp, size_t size);

/* The paths of u's file (path and tmp of USAGE_PATH_MAX bytes each) and its text,
 * ready for usage_file_write(). 0, -EAGAIN when u->unread, or as
 * usage_file_paths(). */
struct strbuf;
int usage_file_prepare(const char *state_dir, const char *name, const struct usage *u, char *path,
		       char *tmp, struct strbuf *text);

/* Write text to tmp, fsync, rename over path, fsync dir. System calls only
 * (safe on a thread in a process that forks). 0 or -errno. */
int usage_file_write(const char *dir, const char *path, const char *tmp, const char *text,
		     size_t len);

/* Load path into u, as usage_load() does; tail ends the log line of a file
 * moved aside, *missing says the file did not exist. */
int usage_file_load(const char *path, uint64_t wall_now_usec, struct usage *u, const char *tail,
		    char *why, size_t why_len, bool *missing);

#endif
