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
 *	last_exit exited 0
 *	end 9f3a61c2                          (FNV-1a 32 of every byte before)
 *
 * The checksum line comes last, so a file cut short anywhere (a full disk, a
 * crash of a file system that does not honour fsync) is detected; the file is
 * replaced with rename() after an fsync, so a kill -9 of zeroproxy leaves the
 * old or the new file, never a mix. Anything that does not check out is moved
 * aside for a human and the meter starts afresh: a bad file never stops a
 * service from running.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"
#include "usage.h"

#define USAGE_MAGIC   "zeroproxy-usage"
#define USAGE_VERSION 1
/* Far above what version 1 writes (about 4 KiB); a bigger file is not ours. */
#define USAGE_MAX_BYTES (64 * 1024)

const double usage_start_bucket_le[ZP_START_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, __builtin_inf(),
};

/* The same bounds in microseconds, so that recording needs no floating point. */
static const uint64_t bucket_le_usec[ZP_START_BUCKETS - 1] = {
    1000,   2500,   5000,    10000,   25000,   50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

void usage_init(struct zp_usage *u, uint64_t wall_now_usec)
{
	memset(u, 0, sizeof(*u));
	u->first_seen_wall_usec = wall_now_usec;
}

void usage_record_start(struct zp_usage *u, uint64_t latency_usec)
{
	size_t i = 0;
	while (i < ZP_START_BUCKETS - 1 && latency_usec > bucket_le_usec[i])
		i++;
	u->start_buckets[i]++;
	u->start_count++;
	u->start_sum_usec += latency_usec;
	u->last_start_usec = latency_usec;
	u->start_samples[u->sample_pos % ZP_START_SAMPLES] =
	    latency_usec > UINT32_MAX ? UINT32_MAX : (uint32_t)latency_usec;
	u->sample_pos = (u->sample_pos + 1) % ZP_START_SAMPLES;
	if (u->n_samples < ZP_START_SAMPLES)
		u->n_samples++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

double usage_start_percentile(const struct zp_usage *u, double p)
{
	uint32_t sorted[ZP_START_SAMPLES];
	size_t n = u->n_samples > ZP_START_SAMPLES ? ZP_START_SAMPLES : u->n_samples;

	if (n == 0)
		return 0;
	memcpy(sorted, u->start_samples, n * sizeof(sorted[0]));
	qsort(sorted, n, sizeof(sorted[0]), cmp_u32);
	/* Nearest rank: the smallest sample with at least p% of samples <= it. */
	if (!(p > 0))
		return sorted[0];
	if (p >= 100)
		return sorted[n - 1];
	double r = p / 100.0 * (double)n;
	size_t rank = (size_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
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

/* The samples oldest first, so that a reload keeps their order in the ring. */
static void format_samples(const struct zp_usage *u, struct strbuf *sb)
{
	uint32_t n = u->n_samples > ZP_START_SAMPLES ? ZP_START_SAMPLES : u->n_samples;
	uint32_t first = n < ZP_START_SAMPLES ? 0 : u->sample_pos % ZP_START_SAMPLES;

	sb_printf(sb, "start_samples %" PRIu32, n);
	for (uint32_t i = 0; i < n; i++)
		sb_printf(sb, " %" PRIu32, u->start_samples[(first + i) % ZP_START_SAMPLES]);
	sb_puts(sb, "\n");
}

static void format_usage(const struct zp_usage *u, struct strbuf *sb)
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
	sb_puts(sb, "start_buckets");
	for (size_t i = 0; i < ZP_START_BUCKETS; i++)
		sb_printf(sb, " %" PRIu64, u->start_buckets[i]);
	sb_puts(sb, "\n");
	sb_printf(sb, "start_count %" PRIu64 "\n", u->start_count);
	sb_printf(sb, "start_sum_usec %" PRIu64 "\n", u->start_sum_usec);
	format_samples(u, sb);
	sb_printf(sb, "last_start_usec %" PRIu64 "\n", u->last_start_usec);

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

int usage_save(const char *state_dir, const char *name, const struct zp_usage *u)
{
	struct strbuf sb = {0};
	char path[4096], tmp[4096];
	int r, fd = -1;

	if (!state_dir || !name_ok(name))
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.usage", state_dir, name) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;

	format_usage(u, &sb);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, sb.data, sb.len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	fd = -1;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		goto out;
	}

	/* Make the rename itself durable. */
	int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		goto out;
	}
	if (fsync(dfd) < 0)
		r = -errno;
	close(dfd);
out:
	sb_free(&sb);
	return r;
}

/* --- reading --- */

static char *why_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *why_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Read the whole file (at most USAGE_MAX_BYTES) into a NUL-terminated buffer.
 * -ENOENT when it does not exist, -EFBIG when too big, -errno otherwise. */
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
    {"connections_total", offsetof(struct zp_usage, connections_total)},
    {"connections_refused", offsetof(struct zp_usage, connections_refused)},
    {"cold_starts", offsetof(struct zp_usage, cold_starts)},
    {"billed_usec", offsetof(struct zp_usage, billed_usec)},
    {"cpu_usec", offsetof(struct zp_usage, cpu_usec)},
    {"peak_memory_bytes", offsetof(struct zp_usage, peak_memory_bytes)},
    {"bytes_in", offsetof(struct zp_usage, bytes_in)},
    {"bytes_out", offsetof(struct zp_usage, bytes_out)},
    {"first_seen_wall_usec", offsetof(struct zp_usage, first_seen_wall_usec)},
    {"start_count", offsetof(struct zp_usage, start_count)},
    {"start_sum_usec", offsetof(struct zp_usage, start_sum_usec)},
    {"last_start_usec", offsetof(struct zp_usage, last_start_usec)},
};

/* Apply one "key value" line (value may be empty). false: malformed; the
 * reason is in *why. Unknown keys are accepted and ignored: a newer
 * zeroproxy may have written them. */
static bool parse_line(struct zp_usage *u, const char *key, const char *val, unsigned line,
		       char **why)
{
	for (size_t i = 0; i < sizeof(u64_keys) / sizeof(u64_keys[0]); i++) {
		if (strcmp(key, u64_keys[i].key))
			continue;
		uint64_t v;
		if (!parse_one(val, &v)) {
			*why = why_printf("line %u: %s: bad number", line, key);
			return false;
		}
		memcpy((char *)u + u64_keys[i].offset, &v, sizeof(v));
		return true;
	}
	if (!strcmp(key, "start_buckets")) {
		uint64_t v[ZP_START_BUCKETS];
		size_t n;
		if (!parse_list(val, v, ZP_START_BUCKETS, &n) || n != ZP_START_BUCKETS) {
			*why = why_printf("line %u: start_buckets: expected %d numbers", line,
					  ZP_START_BUCKETS);
			return false;
		}
		memcpy(u->start_buckets, v, sizeof(v));
		return true;
	}
	if (!strcmp(key, "start_samples")) {
		uint64_t v[ZP_START_SAMPLES + 1];
		size_t n;
		if (!parse_list(val, v, ZP_START_SAMPLES + 1, &n) || v[0] != n - 1) {
			*why = why_printf("line %u: start_samples: bad list", line);
			return false;
		}
		for (size_t i = 1; i < n; i++) {
			if (v[i] > UINT32_MAX) {
				*why = why_printf("line %u: start_samples: value too big", line);
				return false;
			}
			u->start_samples[i - 1] = (uint32_t)v[i];
		}
		u->n_samples = (uint32_t)(n - 1);
		u->sample_pos = u->n_samples % ZP_START_SAMPLES;
		return true;
	}
	if (!strcmp(key, "last_exit")) {
		size_t l = strlen(val);
		if (l >= sizeof(u->last_exit))
			l = sizeof(u->last_exit) - 1;
		memcpy(u->last_exit, val, l);
		u->last_exit[l] = '\0';
		return true;
	}
	return true;
}

/* Check and parse the text of a usage file into u (already fresh). */
static bool parse_usage(char *buf, size_t len, struct zp_usage *u, char **why)
{
	if (len == 0) {
		*why = why_printf("empty file");
		return false;
	}
	if (memchr(buf, '\0', len)) {
		*why = why_printf("NUL byte in file");
		return false;
	}
	if (buf[len - 1] != '\n') {
		*why = why_printf("truncated (no final newline)");
		return false;
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
		*why = why_printf("truncated (no end line)");
		return false;
	}
	if (fnv1a(buf, (size_t)(last - buf)) != sum) {
		*why = why_printf("checksum mismatch");
		return false;
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
				*why = why_printf("not a zeroproxy usage file");
				return false;
			}
			if (version != USAGE_VERSION) {
				*why = why_printf("unsupported version %d", version);
				return false;
			}
			continue;
		}
		char *sp = strchr(l, ' ');
		const char *val = "";
		if (sp) {
			*sp = '\0';
			val = sp + 1;
		}
		if (!parse_line(u, l, val, line, why))
			return false;
	}
	if (line == 0) {
		*why = why_printf("not a zeroproxy usage file");
		return false;
	}
	return true;
}

int usage_load(const char *state_dir, const char *name, uint64_t wall_now_usec, struct zp_usage *u,
	       char **why)
{
	char path[4096];
	char *buf = NULL, *reason = NULL;
	size_t len = 0;

	*why = NULL;
	usage_init(u, wall_now_usec);
	if (!state_dir || !name_ok(name) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s.usage", state_dir, name) >= sizeof(path)) {
		*why = why_printf("bad state file name for service \"%s\"", name ? name : "");
		return 1;
	}

	int r = read_file(path, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		reason = why_printf("cannot read: %s", strerror(-r));
	else if (!parse_usage(buf, len, u, &reason))
		usage_init(u, wall_now_usec);
	free(buf);
	if (!reason) {
		if (u->first_seen_wall_usec == 0)
			u->first_seen_wall_usec = wall_now_usec;
		return 0;
	}

	/* Keep the bad file for a human and start afresh. */
	char aside[4200];
	snprintf(aside, sizeof(aside), "%s.corrupt-%lld", path,
		 (long long)(wall_now_usec / 1000000));
	if (rename(path, aside) == 0)
		*why = why_printf("%s: %s; moved aside to %s, starting afresh", path,
				  reason ? reason : "unreadable", aside);
	else
		*why = why_printf("%s: %s; could not move it aside (%s), starting afresh", path,
				  reason ? reason : "unreadable", strerror(errno));
	free(reason);
	if (!*why)
		*why = strdup("corrupt usage file");
	return 1;
}
