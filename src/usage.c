/*
 * usage — the per-service meter and its file, STATE_DIR/NAME.usage.
 *
 * The file is small versioned text so that an operator can read it and a
 * newer zeroproxy can add keys an older one ignores:
 *
 *	zeroproxy-usage 1
 *	connections_total 1284
 *	...
 *	start_samples 3 1200 980 40211        (count, then oldest first)
 *	...
 *	requests_total 52                     (protocol = http: keys added to
 *	responses 0 50 0 2 0                   version 1 later; older files,
 *	...                                    without them, load them as 0)
 *	last_exit exited 0
 *	end 9f3a61c2                          (FNV-1a 32 of every byte before)
 *
 * Reading. The checksum line comes last, so a file cut short anywhere (a full
 * disk, a crash of a file system that does not honour fsync) is detected. A
 * file that was read whole and does not check out (checksum, format, size) is
 * moved aside to NAME.usage.corrupt-TIME for a human and the meter starts
 * afresh: a bad file never stops a service. A missing file is a first start.
 * Any other failure to read it (EMFILE, ENFILE, ENOMEM, EACCES, EIO, a
 * directory or a symbolic link in its place) says nothing about what it
 * holds, and is usually passing: the file is left alone, the meter counts
 * from zero marked unread (u->unread), and an unread meter is never written,
 * since that would replace the history still in the file. The read is tried
 * again before each save (usage_store_retry); once it works, the file's
 * figures and those counted since are added up. No timer for it: nothing
 * wakes an idle daemon, and the next save is when it matters.
 *
 * Writing. A save is atomic (temp file, fsync, rename, fsync of the
 * directory: the old file or the new one survives a kill -9 or a power loss,
 * never a mix). The daemon saves through the writer thread of usage_store.c,
 * so that its loop never waits for the disk; usage_save() here is the same
 * write on the caller's thread.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "strbuf.h"
#include "usage.h"
#include "util.h"

#define USAGE_MAGIC   "zeroproxy-usage"
#define USAGE_VERSION 1
/* Far above what version 1 writes (under 8 KiB: twice 256 samples of 10
 * digits, 14 + 17 + 5 numbers and 17 counters of 20; USAGE_TEXT_MAX, a
 * writer slot's buffer, has room to spare); a bigger file is not ours. */
#define USAGE_MAX_BYTES (64 * 1024)

const double usage_start_bucket_le[ZP_START_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, __builtin_inf(),
};

/* The same bounds in microseconds, so that recording needs no floating point. */
static const uint64_t bucket_le_usec[ZP_START_BUCKETS - 1] = {
    1000,   2500,   5000,    10000,   25000,   50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

/* Requests: from half a millisecond (a local backend's answer through the
 * relay) to a minute (slow uploads, long polls); longer ones, tunnels
 * included, fall in +Inf. */
const double usage_request_bucket_le[ZP_REQUEST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,           0.05, 0.1, 0.25, 0.5, 1,
    2.5,    5,     10,     30,    60,   __builtin_inf(),
};

static const uint64_t request_le_usec[ZP_REQUEST_BUCKETS - 1] = {
    500,    1000,   2500,    5000,    10000,   25000,    50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};

void usage_init(struct usage *u, uint64_t wall_now_usec)
{
	memset(u, 0, sizeof(*u));
	u->first_seen_wall_usec = wall_now_usec;
}

/* A ring of recent samples (start latencies, request durations) inside
 * struct usage: cap slots, *n filled, *pos the next to write. */
struct ring {
	uint32_t *v;
	uint32_t *n, *pos;
	uint32_t cap;
};

/* u's ring of start latencies or of request durations. u is const for the
 * readers (percentiles, formatting, the since of usage_add), which never
 * write through the ring. */
static struct ring ring_of(const struct usage *u, bool requests)
{
	struct usage *w = (struct usage *)u;
	if (requests)
		return (struct ring){w->request_samples, &w->n_request_samples,
				     &w->request_sample_pos, ZP_REQUEST_SAMPLES};
	return (struct ring){w->start_samples, &w->n_samples, &w->sample_pos, ZP_START_SAMPLES};
}

static void ring_push(struct ring r, uint64_t v)
{
	r.v[*r.pos % r.cap] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	*r.pos = (*r.pos + 1) % r.cap;
	if (*r.n < r.cap)
		(*r.n)++;
}

static uint32_t ring_count(struct ring r)
{
	return *r.n > r.cap ? r.cap : *r.n;
}

/* The i-th oldest of the recent samples (i < ring_count()). */
static uint32_t ring_at(struct ring r, uint32_t i)
{
	uint32_t first = ring_count(r) < r.cap ? 0 : *r.pos % r.cap;
	return r.v[(first + i) % r.cap];
}

/* since's samples after r's, oldest first. */
static void ring_append(struct ring r, struct ring since)
{
	for (uint32_t i = 0, n = ring_count(since); i < n; i++)
		ring_push(r, ring_at(since, i));
}

/* The bucket of v among n bounds le_usec (the last bucket, +Inf, has none). */
static size_t bucket_of(const uint64_t *le_usec, size_t n, uint64_t v)
{
	size_t i = 0;
	while (i < n - 1 && v > le_usec[i])
		i++;
	return i;
}

void usage_record_start(struct usage *u, uint64_t latency_usec)
{
	u->start_buckets[bucket_of(bucket_le_usec, ZP_START_BUCKETS, latency_usec)]++;
	u->start_count++;
	u->start_sum_usec += latency_usec;
	u->last_start_usec = latency_usec;
	ring_push(ring_of(u, false), latency_usec);
}

void usage_request_done(struct usage *u, unsigned status, uint64_t duration_usec)
{
	u->requests_total++;
	if (status == 0)
		return;
	u->responses[status >= 100 && status < 600 ? status / 100 - 1 : 4]++;
	u->request_buckets[bucket_of(request_le_usec, ZP_REQUEST_BUCKETS, duration_usec)]++;
	u->request_count++;
	u->request_sum_usec += duration_usec;
	ring_push(ring_of(u, true), duration_usec);
}

void usage_add(struct usage *u, const struct usage *since)
{
	u->connections_total += since->connections_total;
	u->connections_refused += since->connections_refused;
	u->cold_starts += since->cold_starts;
	u->billed_usec += since->billed_usec;
	u->frozen_usec += since->frozen_usec;
	u->thaws += since->thaws;
	if (since->last_thaw_usec)
		u->last_thaw_usec = since->last_thaw_usec;
	u->cpu_usec += since->cpu_usec;
	if (since->peak_memory_bytes > u->peak_memory_bytes)
		u->peak_memory_bytes = since->peak_memory_bytes;
	u->bytes_in += since->bytes_in;
	u->bytes_out += since->bytes_out;
	if (since->first_seen_wall_usec &&
	    (!u->first_seen_wall_usec || since->first_seen_wall_usec < u->first_seen_wall_usec))
		u->first_seen_wall_usec = since->first_seen_wall_usec;
	for (size_t i = 0; i < ZP_START_BUCKETS; i++)
		u->start_buckets[i] += since->start_buckets[i];
	u->start_count += since->start_count;
	u->start_sum_usec += since->start_sum_usec;
	ring_append(ring_of(u, false), ring_of(since, false));
	if (since->start_count)
		u->last_start_usec = since->last_start_usec;
	if (since->last_exit[0])
		memcpy(u->last_exit, since->last_exit, sizeof(u->last_exit));
	u->requests_total += since->requests_total;
	for (size_t i = 0; i < ZP_RESPONSE_CLASSES; i++)
		u->responses[i] += since->responses[i];
	for (size_t i = 0; i < ZP_REQUEST_BUCKETS; i++)
		u->request_buckets[i] += since->request_buckets[i];
	u->request_count += since->request_count;
	u->request_sum_usec += since->request_sum_usec;
	u->requests_ignored += since->requests_ignored;
	u->connections_ignored += since->connections_ignored;
	ring_append(ring_of(u, true), ring_of(since, true));
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least p% of samples <= it. */
static double ring_percentile(struct ring r, double p)
{
	uint32_t
	    sorted[ZP_START_SAMPLES > ZP_REQUEST_SAMPLES ? ZP_START_SAMPLES : ZP_REQUEST_SAMPLES];
	size_t n = ring_count(r);

	if (n == 0)
		return 0;
	memcpy(sorted, r.v, n * sizeof(sorted[0]));
	qsort(sorted, n, sizeof(sorted[0]), cmp_u32);
	if (!(p > 0))
		return sorted[0];
	if (p >= 100)
		return sorted[n - 1];
	double x = p / 100.0 * (double)n;
	size_t rank = (size_t)x;
	if ((double)rank < x)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

double usage_start_percentile(const struct usage *u, double p)
{
	return ring_percentile(ring_of(u, false), p);
}

double usage_request_percentile(const struct usage *u, double p)
{
	return ring_percentile(ring_of(u, true), p);
}

static uint32_t fnv1a(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 16777619u;
	}
	return h;
}

/* --- writing --- */

/* "KEY COUNT V..." of a ring's samples, oldest first, so that a reload keeps
 * their order. */
static void format_samples(const char *key, struct ring r, struct strbuf *sb)
{
	uint32_t n = ring_count(r);

	sb_printf(sb, "%s %" PRIu32, key, n);
	for (uint32_t i = 0; i < n; i++)
		sb_printf(sb, " %" PRIu32, ring_at(r, i));
	sb_puts(sb, "\n");
}

static void format_list(const char *key, const uint64_t *v, size_t n, struct strbuf *sb)
{
	sb_puts(sb, key);
	for (size_t i = 0; i < n; i++)
		sb_printf(sb, " %" PRIu64, v[i]);
	sb_puts(sb, "\n");
}

static void format_usage(const struct usage *u, struct strbuf *sb)
{
	sb_printf(sb, "%s %d\n", USAGE_MAGIC, USAGE_VERSION);
	sb_printf(sb, "connections_total %" PRIu64 "\n", u->connections_total);
	sb_printf(sb, "connections_refused %" PRIu64 "\n", u->connections_refused);
	sb_printf(sb, "cold_starts %" PRIu64 "\n", u->cold_starts);
	sb_printf(sb, "billed_usec %" PRIu64 "\n", u->billed_usec);
	sb_printf(sb, "cpu_usec %" PRIu64 "\n", u->cpu_usec);
	sb_printf(sb, "peak_memory_bytes %" PRIu64 "\n", u->peak_memory_bytes);
	sb_printf(sb, "bytes_in %" PRIu64 "\n", u->bytes_in);
	sb_printf(sb, "bytes_out %" PRIu64 "\n", u->bytes_out);
	sb_printf(sb, "first_seen_wall_usec %" PRIu64 "\n", u->first_seen_wall_usec);
	format_list("start_buckets", u->start_buckets, ZP_START_BUCKETS, sb);
	sb_printf(sb, "start_count %" PRIu64 "\n", u->start_count);
	sb_printf(sb, "start_sum_usec %" PRIu64 "\n", u->start_sum_usec);
	format_samples("start_samples", ring_of(u, false), sb);
	sb_printf(sb, "last_start_usec %" PRIu64 "\n", u->last_start_usec);
	/* Added after version 1 came out: a file without them reads as 0. */
	sb_printf(sb, "frozen_usec %" PRIu64 "\n", u->frozen_usec);
	sb_printf(sb, "thaws %" PRIu64 "\n", u->thaws);
	sb_printf(sb, "last_thaw_usec %" PRIu64 "\n", u->last_thaw_usec);
	/* Added after version 1 was first written: a file without these lines
	 * (an older zeroproxy's) loads with them 0, and an older zeroproxy
	 * ignores them (unknown keys). */
	sb_printf(sb, "requests_total %" PRIu64 "\n", u->requests_total);
	format_list("responses", u->responses, ZP_RESPONSE_CLASSES, sb);
	format_list("request_buckets", u->request_buckets, ZP_REQUEST_BUCKETS, sb);
	sb_printf(sb, "request_count %" PRIu64 "\n", u->request_count);
	sb_printf(sb, "request_sum_usec %" PRIu64 "\n", u->request_sum_usec);
	sb_printf(sb, "requests_ignored %" PRIu64 "\n", u->requests_ignored);
	sb_printf(sb, "connections_ignored %" PRIu64 "\n", u->connections_ignored);
	format_samples("request_samples", ring_of(u, true), sb);

	/* last_exit is ours ("exited 0"), but keep the file line-structured
	 * whatever it holds. */
	char exit_text[sizeof(u->last_exit)];
	size_t k = 0;
	for (; k < sizeof(exit_text) - 1 && u->last_exit[k]; k++) {
		unsigned char c = (unsigned char)u->last_exit[k];
		exit_text[k] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	exit_text[k] = '\0';
	sb_printf(sb, "last_exit %s\n", exit_text);

	sb_printf(sb, "end %08" PRIx32 "\n", fnv1a(sb->data, sb->len));
}

static bool name_ok(const char *name)
{
	return name && *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* STATE_DIR/NAME.usage into path (and its temp file's name into tmp when not
 * NULL). 0, -EINVAL or -ENAMETOOLONG. */
int usage_file_paths(const char *state_dir, const char *name, char *path, char *tmp, size_t size)
{
	if (!state_dir || !name_ok(name))
		return -EINVAL;
	if ((size_t)snprintf(path, size, "%s/%s.usage", state_dir, name) >= size ||
	    (tmp && (size_t)snprintf(tmp, size, "%s.tmp", path) >= size))
		return -ENAMETOOLONG;
	return 0;
}

/* Replace path with text atomically: tmp written, fsynced, renamed over path,
 * then dir fsynced. System calls only: the writer thread runs it. 0 or
 * -errno. */
int usage_file_write(const char *dir, const char *path, const char *tmp, const char *text,
		     size_t len)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	int r = write_all(fd, text, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp); /* r says what failed */
		return r;
	}
	/* Make the rename itself durable. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}

/* What a save of u needs: the paths (USAGE_PATH_MAX bytes each) and the text in sb. 0,
 * or -errno with nothing to free. */
int usage_file_prepare(const char *state_dir, const char *name, const struct usage *u, char *path,
		       char *tmp, struct strbuf *sb)
{
	int r = usage_file_paths(state_dir, name, path, tmp, USAGE_PATH_MAX);
	if (r < 0)
		return r;
	if (u->unread)
		return -EAGAIN;
	format_usage(u, sb);
	return 0;
}

int usage_save(const char *state_dir, const char *name, const struct usage *u)
{
	char path[USAGE_PATH_MAX], tmp[USAGE_PATH_MAX];
	struct strbuf sb = {0};
	int r = usage_file_prepare(state_dir, name, u, path, tmp, &sb);
	if (r < 0)
		return r;
	r = usage_file_write(state_dir, path, tmp, sb.data, sb.len);
	sb_free(&sb);
	return r;
}

/* --- reading --- */

/* Read the whole file (at most USAGE_MAX_BYTES) into a NUL-terminated buffer.
 * -ENOENT when it does not exist, -EFBIG when too big, -EISDIR or -EINVAL when
 * not a regular file, -errno otherwise. */
static int read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;

	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0 && !S_ISREG(st.st_mode))
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if (r < 0) {
		close(fd);
		return r;
	}
	char *buf = malloc(USAGE_MAX_BYTES + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t n = 0;
	for (;;) {
		ssize_t got = read(fd, buf + n, USAGE_MAX_BYTES + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			free(buf);
			close(fd);
			return r;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > USAGE_MAX_BYTES) {
			free(buf);
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* One decimal uint64 from *p, which then points after it. No sign, no space
 * before, at most 20 digits. */
static bool take_u64(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	size_t digits = 0;

	while (*s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
		s++;
		digits++;
	}
	if (digits == 0)
		return false;
	*p = s;
	*v = x;
	return true;
}

/* A value made of exactly one number. */
static bool parse_one(const char *s, uint64_t *v)
{
	return take_u64(&s, v) && *s == '\0';
}

/* A value made of numbers separated by single spaces; *n is how many were
 * found (at most max). */
static bool parse_list(const char *s, uint64_t *v, size_t max, size_t *n)
{
	size_t k = 0;
	for (;;) {
		if (k == max || !take_u64(&s, &v[k]))
			return false;
		k++;
		if (*s == '\0')
			break;
		if (*s != ' ')
			return false;
		s++;
	}
	*n = k;
	return true;
}

struct u64_key {
	const char *key;
	size_t offset;
};

static const struct u64_key u64_keys[] = {
    {"connections_total", offsetof(struct usage, connections_total)},
    {"connections_refused", offsetof(struct usage, connections_refused)},
    {"cold_starts", offsetof(struct usage, cold_starts)},
    {"billed_usec", offsetof(struct usage, billed_usec)},
    {"cpu_usec", offsetof(struct usage, cpu_usec)},
    {"peak_memory_bytes", offsetof(struct usage, peak_memory_bytes)},
    {"bytes_in", offsetof(struct usage, bytes_in)},
    {"bytes_out", offsetof(struct usage, bytes_out)},
    {"first_seen_wall_usec", offsetof(struct usage, first_seen_wall_usec)},
    {"start_count", offsetof(struct usage, start_count)},
    {"start_sum_usec", offsetof(struct usage, start_sum_usec)},
    {"last_start_usec", offsetof(struct usage, last_start_usec)},
    {"frozen_usec", offsetof(struct usage, frozen_usec)},
    {"thaws", offsetof(struct usage, thaws)},
    {"last_thaw_usec", offsetof(struct usage, last_thaw_usec)},
    {"requests_total", offsetof(struct usage, requests_total)},
    {"request_count", offsetof(struct usage, request_count)},
    {"request_sum_usec", offsetof(struct usage, request_sum_usec)},
    {"requests_ignored", offsetof(struct usage, requests_ignored)},
    {"connections_ignored", offsetof(struct usage, connections_ignored)},
};

/* The lines of a fixed number of numbers. */
struct list_key {
	const char *key;
	size_t offset;
	size_t n;
};

static const struct list_key list_keys[] = {
    {"start_buckets", offsetof(struct usage, start_buckets), ZP_START_BUCKETS},
    {"responses", offsetof(struct usage, responses), ZP_RESPONSE_CLASSES},
    {"request_buckets", offsetof(struct usage, request_buckets), ZP_REQUEST_BUCKETS},
};

/* "COUNT V..." into a ring. 0, or -EBADMSG with the reason in why. */
static int parse_samples(struct ring r, const char *key, const char *val, unsigned line, char *why,
			 size_t why_len)
{
	uint64_t
	    v[(ZP_START_SAMPLES > ZP_REQUEST_SAMPLES ? ZP_START_SAMPLES : ZP_REQUEST_SAMPLES) + 1];
	size_t n;
	if (!parse_list(val, v, r.cap + 1, &n) || v[0] != n - 1) {
		snprintf(why, why_len, "line %u: %s: bad list", line, key);
		return -EBADMSG;
	}
	for (size_t i = 1; i < n; i++) {
		if (v[i] > UINT32_MAX) {
			snprintf(why, why_len, "line %u: %s: value too big", line, key);
			return -EBADMSG;
		}
		r.v[i - 1] = (uint32_t)v[i];
	}
	*r.n = (uint32_t)(n - 1);
	*r.pos = *r.n % r.cap;
	return 0;
}

/* Apply one "key value" line (value may be empty). 0, or -EBADMSG when it
 * is malformed, with the reason in why. Unknown keys are accepted and
 * ignored: a newer zeroproxy may have written them. */
static int parse_line(struct usage *u, const char *key, const char *val, unsigned line, char *why,
		      size_t why_len)
{
	for (size_t i = 0; i < sizeof(u64_keys) / sizeof(u64_keys[0]); i++) {
		if (strcmp(key, u64_keys[i].key))
			continue;
		uint64_t v;
		if (!parse_one(val, &v)) {
			snprintf(why, why_len, "line %u: %s: bad number", line, key);
			return -EBADMSG;
		}
		memcpy((char *)u + u64_keys[i].offset, &v, sizeof(v));
		return 0;
	}
	for (size_t i = 0; i < sizeof(list_keys) / sizeof(list_keys[0]); i++) {
		const struct list_key *k = &list_keys[i];
		if (strcmp(key, k->key))
			continue;
		uint64_t v[ZP_START_BUCKETS > ZP_REQUEST_BUCKETS ? ZP_START_BUCKETS
								 : ZP_REQUEST_BUCKETS];
		size_t n;
		if (!parse_list(val, v, k->n, &n) || n != k->n) {
			snprintf(why, why_len, "line %u: %s: expected %zu numbers", line, key,
				 k->n);
			return -EBADMSG;
		}
		memcpy((char *)u + k->offset, v, n * sizeof(v[0]));
		return 0;
	}
	if (!strcmp(key, "start_samples"))
		return parse_samples(ring_of(u, false), key, val, line, why, why_len);
	if (!strcmp(key, "request_samples"))
		return parse_samples(ring_of(u, true), key, val, line, why, why_len);
	if (!strcmp(key, "last_exit")) {
		size_t l = strlen(val);
		if (l >= sizeof(u->last_exit))
			l = sizeof(u->last_exit) - 1;
		memcpy(u->last_exit, val, l);
		u->last_exit[l] = '\0';
		return 0;
	}
	return 0;
}

/* Check and parse the text of a usage file into u (already fresh). 0, or
 * -EBADMSG with the reason in why. */
static int parse_usage(char *buf, size_t len, struct usage *u, char *why, size_t why_len)
{
	if (len == 0) {
		snprintf(why, why_len, "empty file");
		return -EBADMSG;
	}
	if (memchr(buf, '\0', len)) {
		snprintf(why, why_len, "NUL byte in file");
		return -EBADMSG;
	}
	if (buf[len - 1] != '\n') {
		snprintf(why, why_len, "truncated (no final newline)");
		return -EBADMSG;
	}
	/* The last line must be "end CHECKSUM" over everything before it. */
	char *last = buf + len - 1;
	while (last > buf && last[-1] != '\n')
		last--;
	uint32_t sum = 0;
	bool end_ok = (size_t)(last - buf) + 13 == len && !strncmp(last, "end ", 4);
	for (size_t i = 4; end_ok && i < 12; i++) {
		const char *hex = "0123456789abcdef", *d = strchr(hex, last[i]);
		if (!last[i] || !d)
			end_ok = false;
		else
			sum = sum << 4 | (uint32_t)(d - hex);
	}
	if (!end_ok) {
		snprintf(why, why_len, "truncated (no end line)");
		return -EBADMSG;
	}
	if (fnv1a(buf, (size_t)(last - buf)) != sum) {
		snprintf(why, why_len, "checksum mismatch");
		return -EBADMSG;
	}
	*last = '\0';

	unsigned line = 0;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line++;
		if (line == 1) {
			char magic[32];
			int version;
			char extra;
			if (sscanf(l, "%31s %d%c", magic, &version, &extra) != 2 ||
			    strcmp(magic, USAGE_MAGIC)) {
				snprintf(why, why_len, "not a zeroproxy usage file");
				return -EBADMSG;
			}
			if (version != USAGE_VERSION) {
				snprintf(why, why_len, "unsupported version %d", version);
				return -EBADMSG;
			}
			continue;
		}
		char *sp = strchr(l, ' ');
		const char *val = "";
		if (sp) {
			*sp = '\0';
			val = sp + 1;
		}
		int r = parse_line(u, l, val, line, why, why_len);
		if (r < 0)
			return r;
	}
	if (line == 0) {
		snprintf(why, why_len, "not a zeroproxy usage file");
		return -EBADMSG;
	}
	return 0;
}

/* Read and check the file at path into u (fresh from wall_now_usec), as
 * usage_load() says; on a move aside, tail ends the reason in why. *missing
 * says whether there was no file (then 0). */
int usage_file_load(const char *path, uint64_t wall_now_usec, struct usage *u, const char *tail,
		    char *why, size_t why_len, bool *missing)
{
	char *buf = NULL, reason[256];
	size_t len = 0;

	why[0] = '\0';
	*missing = false;
	usage_init(u, wall_now_usec);
	int r = read_file(path, &buf, &len);
	if (r == -ENOENT) {
		*missing = true;
		return 0;
	}
	if (r < 0 && r != -EFBIG) {
		/* Says nothing about the content: leave the file alone. */
		snprintf(why, why_len,
			 "%s: cannot read: %s; left as it is and read again at the next save "
			 "(counting from zero until then)",
			 path, r == -EINVAL ? "not a regular file" : strerror(-r));
		u->unread = -r;
		return r;
	}
	if (r == -EFBIG)
		snprintf(reason, sizeof(reason), "larger than %d bytes", USAGE_MAX_BYTES);
	else
		r = parse_usage(buf, len, u, reason, sizeof(reason));
	free(buf);
	if (r == 0) {
		if (u->first_seen_wall_usec == 0)
			u->first_seen_wall_usec = wall_now_usec;
		return 0;
	}

	/* Keep the bad file for a human and start afresh. */
	usage_init(u, wall_now_usec);
	char aside[4200];
	snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path,
		 (long long)(wall_now_usec / 1000000));
	if (rename(path, aside) == 0)
		snprintf(why, why_len, "%s: %s; moved aside to %s, %s", path, reason, aside, tail);
	else
		snprintf(why, why_len, "%s: %s; could not move it aside (%s), %s", path, reason,
			 strerror(errno), tail);
	return -EBADMSG;
}

int usage_load(const char *state_dir, const char *name, uint64_t wall_now_usec, struct usage *u,
	       char *why, size_t why_len)
{
	char path[USAGE_PATH_MAX];
	bool missing;

	why[0] = '\0';
	int r = usage_file_paths(state_dir, name, path, NULL, sizeof(path));
	if (r < 0) {
		usage_init(u, wall_now_usec);
		snprintf(why, why_len, "bad state file name for service \"%s\"", name ? name : "");
		return r;
	}
	return usage_file_load(path, wall_now_usec, u, "starting afresh", why, why_len, &missing);
}
