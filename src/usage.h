/*
 * usage — the per-service meter: counters and totals that survive restarts of
 * zeroproxy, kept in STATE_DIR/NAME.usage and written atomically.
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

struct zp_usage {
	uint64_t connections_total;    /* every accepted client connection */
	uint64_t connections_refused;  /* closed without reaching a backend */
	uint64_t cold_starts;          /* every instance start */
	uint64_t billed_usec;          /* lifetime of finished (or checkpointed) instances */
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
};

/* A fresh meter for a service first configured now. */
void usage_init(struct zp_usage *u, uint64_t wall_now_usec);

/* Record one start latency. */
void usage_record_start(struct zp_usage *u, uint64_t latency_usec);

/* The p-th percentile (0..100) of the recent start latencies in usec; 0 if none. */
double usage_start_percentile(const struct zp_usage *u, double p);

/* Load STATE_DIR/NAME.usage into u. A missing file gives a fresh meter (0).
 * A corrupt or unreadable one is renamed to NAME.usage.corrupt-TIMESTAMP, u is
 * fresh, and a malloc'd reason for the log is returned in *why (1). Never fails
 * otherwise. */
int usage_load(const char *state_dir, const char *name, uint64_t wall_now_usec, struct zp_usage *u,
	       char **why);

/* Write u to STATE_DIR/NAME.usage atomically (temp file, fsync, rename,
 * fsync of the directory). 0 or -errno. */
int usage_save(const char *state_dir, const char *name, const struct zp_usage *u);

#endif
