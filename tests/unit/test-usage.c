/*
 * test-usage — the meter: recording starts, percentiles, and the state file
 * (round trip of every field; every kind of damage detected, moved aside and
 * replaced by a fresh meter without a crash; every other read error leaving
 * the file alone, refusing to write over it and tried again; the writer
 * thread: newest snapshot wins, the caller never waits for fsync, shutdown
 * writes everything, failures logged).
 */
#define _GNU_SOURCE 1

#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "usage_store.h"

#define NOW 1700000000000000ull

static char dir[256];

/* Fault injection: this program is linked with --wrap for open, read and
 * fsync (mk/usage.am), so usage.c's calls come here. While set, an open for
 * reading of a *.usage file fails with inject_open, a read with inject_read:
 * the errors (EACCES as root, ENFILE, ENOMEM, EIO) that cannot be had for real
 * in a test. fsync counts its calls and, while fsync_hold is set, waits for it
 * to be cleared: a disk as slow as the test wants. */
static int inject_open, inject_read;
static pthread_mutex_t fsync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fsync_cond = PTHREAD_COND_INITIALIZER;
static bool fsync_hold;   /* fsync waits while set */
static int fsync_waiting; /* how many wait now */
static int fsync_calls;   /* every fsync so far */

int __real_fsync(int fd);
int __wrap_fsync(int fd);
int __wrap_fsync(int fd)
{
	pthread_mutex_lock(&fsync_lock);
	fsync_calls++;
	fsync_waiting++;
	pthread_cond_broadcast(&fsync_cond);
	while (fsync_hold)
		pthread_cond_wait(&fsync_cond, &fsync_lock);
	fsync_waiting--;
	pthread_mutex_unlock(&fsync_lock);
	return __real_fsync(fd);
}

static void fsync_set_hold(bool hold)
{
	pthread_mutex_lock(&fsync_lock);
	fsync_hold = hold;
	pthread_cond_broadcast(&fsync_cond);
	pthread_mutex_unlock(&fsync_lock);
}

/* Wait until an fsync is held. */
static void fsync_wait_held(void)
{
	pthread_mutex_lock(&fsync_lock);
	while (!fsync_waiting)
		pthread_cond_wait(&fsync_cond, &fsync_lock);
	pthread_mutex_unlock(&fsync_lock);
}

static int fsync_count(void)
{
	pthread_mutex_lock(&fsync_lock);
	int n = fsync_calls;
	pthread_mutex_unlock(&fsync_lock);
	return n;
}

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);

int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & O_CREAT) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	size_t n = strlen(path);
	if (inject_open && !(flags & (O_CREAT | O_WRONLY | O_RDWR)) && n > 6 &&
	    !strcmp(path + n - 6, ".usage")) {
		errno = inject_open;
		return -1;
	}
	return __real_open(path, flags, mode);
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	if (inject_read) {
		errno = inject_read;
		return -1;
	}
	return __real_read(fd, buf, n);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = calloc(1, 1 << 17);
	*len = fread(buf, 1, (1 << 17) - 1, f);
	fclose(f);
	return buf;
}

static void spew(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "we");
	fwrite(data, 1, len, f);
	fclose(f);
}

/* How many NAME.usage.corrupt-* files dir holds. */
static int count_corrupt(const char *name)
{
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "%s.usage.corrupt-", name);
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

static void fill(struct usage *u)
{
	usage_init(u, NOW - 5000000);
	u->connections_total = 1284;
	u->connections_refused = 7;
	u->cold_starts = 17;
	u->billed_usec = 3723000001ull;
	u->frozen_usec = 86400000000ull;
	u->thaws = 42;
	u->last_thaw_usec = 250;
	u->cpu_usec = 31200000;
	u->peak_memory_bytes = 123456789012ull;
	u->bytes_in = UINT64_MAX;
	u->bytes_out = 99;
	for (unsigned i = 0; i < 300; i++)
		usage_record_start(u, 500 + (uint64_t)i * 997);
	usage_record_start(u, 20000000000ull); /* > UINT32_MAX usec, +Inf bucket */
	strcpy(u->last_exit, "killed by SIGKILL");
	for (unsigned i = 0; i < 300; i++)
		usage_request_done(u, 100 + i % 500, 90 + (uint64_t)i * 1231);
	usage_request_done(u, 0, 5);
	usage_request_done(u, 200, 10000000000ull);
}

static void test_record(void)
{
	struct usage u;
	usage_init(&u, NOW);
	is_int((long long)u.first_seen_wall_usec, (long long)NOW, "init sets first_seen");
	ok(usage_start_percentile(&u, 50) == 0, "no samples: percentile 0");

	usage_record_start(&u, 1000);     /* le 0.001 (inclusive) */
	usage_record_start(&u, 1001);     /* le 0.0025 */
	usage_record_start(&u, 10000000); /* le 10 */
	usage_record_start(&u, 10000001); /* +Inf */
	usage_record_start(&u, 0);        /* le 0.001 */
	is_int((long long)u.start_buckets[0], 2, "bucket le=0.001");
	is_int((long long)u.start_buckets[1], 1, "bucket le=0.0025");
	is_int((long long)u.start_buckets[12], 1, "bucket le=10");
	is_int((long long)u.start_buckets[13], 1, "bucket +Inf");
	is_int((long long)u.start_count, 5, "start_count");
	is_int((long long)u.start_sum_usec, 20002002, "start_sum_usec");
	is_int((long long)u.last_start_usec, 0, "last_start_usec");
	is_int(u.n_samples, 5, "n_samples");
	ok(usage_start_bucket_le[13] > 1e300 && usage_start_bucket_le[0] == 0.001 &&
	       usage_start_bucket_le[9] == 1,
	   "bucket bounds");

	/* Nearest rank over 1..100. */
	usage_init(&u, NOW);
	for (unsigned i = 100; i >= 1; i--)
		usage_record_start(&u, i);
	ok(usage_start_percentile(&u, 50) == 50, "p50 of 1..100 is 50");
	ok(usage_start_percentile(&u, 99) == 99, "p99 of 1..100 is 99");
	ok(usage_start_percentile(&u, 100) == 100, "p100 is the max");
	ok(usage_start_percentile(&u, 0) == 1, "p0 is the min");
	ok(usage_start_percentile(&u, 99.5) == 100, "p99.5 rounds the rank up");

	/* The ring keeps the latest 256. */
	usage_init(&u, NOW);
	for (unsigned i = 1; i <= 1000; i++)
		usage_record_start(&u, i);
	is_int(u.n_samples, ZP_START_SAMPLES, "ring full");
	ok(usage_start_percentile(&u, 0) == 1000 - ZP_START_SAMPLES + 1, "oldest samples dropped");
	ok(usage_start_percentile(&u, 50) == 1000 - ZP_START_SAMPLES / 2, "p50 of the last 256");

	/* One sample. */
	usage_init(&u, NOW);
	usage_record_start(&u, 4242);
	ok(usage_start_percentile(&u, 50) == 4242 && usage_start_percentile(&u, 99) == 4242,
	   "one sample is every percentile");
}

static void test_round_trip(void)
{
	struct usage a, b;
	char why[USAGE_WHY_MAX] = "unset";

	usage_init(&b, 1);
	is_int(usage_load(dir, "none", NOW, &b, why, sizeof(why)), 0, "missing file: fresh meter");
	ok(!why[0] && b.first_seen_wall_usec == NOW && b.cold_starts == 0,
	   "missing file: first_seen is now, nothing else");

	fill(&a);
	is_int(usage_save(dir, "web", &a), 0, "save");
	char path[512];
	snprintf(path, sizeof(path), "%s/web.usage.tmp", dir);
	ok(access(path, F_OK) < 0, "no temp file left behind");

	memset(&b, 0xaa, sizeof(b));
	is_int(usage_load(dir, "web", NOW, &b, why, sizeof(why)), 0, "load");
	ok(!why[0], "no reason on success");
	ok(!memcmp(&a, &b, offsetof(struct usage, start_samples)),
	   "every counter, bucket and sum survives");
	is_int(b.n_samples, a.n_samples, "n_samples survives");
	bool same = true;
	for (uint32_t i = 0; i < ZP_START_SAMPLES; i++)
		same &= a.start_samples[(a.sample_pos + i) % ZP_START_SAMPLES] ==
			b.start_samples[(b.sample_pos + i) % ZP_START_SAMPLES];
	ok(same, "samples survive oldest to newest");
	is_int((long long)b.last_start_usec, (long long)a.last_start_usec, "last_start_usec");
	is_str(b.last_exit, a.last_exit, "last_exit");
	ok(usage_start_percentile(&a, 99) == usage_start_percentile(&b, 99), "same p99");
	ok(b.start_samples[(b.sample_pos + ZP_START_SAMPLES - 1) % ZP_START_SAMPLES] == UINT32_MAX,
	   "huge latency clamped in the ring");

	/* A partly filled ring. */
	usage_init(&a, NOW);
	usage_record_start(&a, 7);
	usage_record_start(&a, 9);
	a.last_exit[0] = '\0';
	usage_save(dir, "small", &a);
	usage_load(dir, "small", NOW + 1, &b, why, sizeof(why));
	ok(!memcmp(&a, &b, sizeof(a)), "a partly filled meter survives byte for byte");

	/* Control characters in last_exit keep the file line-structured. */
	strcpy(a.last_exit, "odd\nline");
	usage_save(dir, "small", &a);
	is_int(usage_load(dir, "small", NOW, &b, why, sizeof(why)), 0,
	       "newline in last_exit: loads");
	is_str(b.last_exit, "odd?line", "newline replaced");

	is_int(usage_save(dir, "../x", &a), -EINVAL, "save refuses a name with a slash");
	is_int(usage_load(dir, "../x", NOW, &b, why, sizeof(why)), -EINVAL,
	       "load refuses a name with a slash");
	is_str(why, "bad state file name for service \"../x\"", "  and says why");
	char small[8];
	memset(small, 'x', sizeof(small));
	usage_load(dir, "../x", NOW, &b, small, sizeof(small));
	is_str(small, "bad sta", "  a reason cut to the caller's buffer");
	is_int(usage_save("/nonexistent/dir", "x", &a), -ENOENT, "save into a missing dir fails");
	snprintf(path, sizeof(path), "%s/x.usage.tmp", dir);
}

/* Write text, load it, and check it was rejected and moved aside. */
static void expect_corrupt(const char *name, const char *data, size_t len, const char *what)
{
	char path[512];
	struct usage u;
	char why[USAGE_WHY_MAX];
	int before = count_corrupt(name);

	snprintf(path, sizeof(path), "%s/%s.usage", dir, name);
	spew(path, data, len);
	memset(&u, 0x55, sizeof(u));
	int r = usage_load(dir, name, NOW, &u, why, sizeof(why));
	ok(r == -EBADMSG && why[0] && u.cold_starts == 0 && u.first_seen_wall_usec == NOW &&
	       u.n_samples == 0 && access(path, F_OK) < 0 && count_corrupt(name) == before + 1,
	   "%s: moved aside, fresh meter (%s)", what, why);
	/* Another corrupt file in the same second must not fail. */
	unlink(path);
}

/* A valid file with an arbitrary body (the checksum is made right). */
static char *with_checksum(const char *body, size_t *len)
{
	uint32_t h = 2166136261u;
	for (const char *p = body; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	char *s = NULL;
	*len = (size_t)asprintf(&s, "%send %08x\n", body, h);
	return s;
}

/* protocol = http: requests, classes, the duration histogram and samples. */
static void test_requests(void)
{
	struct usage u;
	usage_init(&u, NOW);
	ok(usage_request_percentile(&u, 50) == 0, "requests: no samples: percentile 0");

	usage_request_done(&u, 101, 400);      /* 1xx, le 0.0005 */
	usage_request_done(&u, 200, 500);      /* 2xx, le 0.0005 (inclusive) */
	usage_request_done(&u, 204, 501);      /* le 0.001 */
	usage_request_done(&u, 304, 60000000); /* le 60 */
	usage_request_done(&u, 404, 60000001); /* +Inf */
	usage_request_done(&u, 503, 2000);     /* le 0.0025 */
	usage_request_done(&u, 599, 2000);
	usage_request_done(&u, 99, 2000);  /* nonsense: 5xx */
	usage_request_done(&u, 600, 2000); /* nonsense: 5xx */
	usage_request_done(&u, 0, 777);    /* no response */
	is_int((long long)u.requests_total, 10, "requests_total counts every request");
	ok(u.responses[0] == 1 && u.responses[1] == 2 && u.responses[2] == 1 &&
	       u.responses[3] == 1 && u.responses[4] == 4,
	   "responses by class; outside 100..599 is 5xx");
	is_int((long long)u.request_count, 9, "request_count: answered requests only");
	is_int((long long)u.request_sum_usec, 120009402, "request_sum_usec");
	ok(u.request_buckets[0] == 2 && u.request_buckets[1] == 1 && u.request_buckets[2] == 4 &&
	       u.request_buckets[15] == 1 && u.request_buckets[16] == 1,
	   "request buckets");
	is_int(u.n_request_samples, 9, "one sample per answered request");
	ok(usage_request_bucket_le[0] == 0.0005 && usage_request_bucket_le[15] == 60 &&
	       usage_request_bucket_le[16] > 1e300,
	   "request bucket bounds");
	ok(u.start_count == 0 && u.n_samples == 0 && u.connections_total == 0,
	   "requests touch no start figure");

	usage_init(&u, NOW);
	for (unsigned i = 1; i <= 1000; i++)
		usage_request_done(&u, 200, i);
	is_int(u.n_request_samples, ZP_REQUEST_SAMPLES, "request ring full");
	ok(usage_request_percentile(&u, 0) == 1000 - ZP_REQUEST_SAMPLES + 1 &&
	       usage_request_percentile(&u, 50) == 1000 - ZP_REQUEST_SAMPLES / 2 &&
	       usage_request_percentile(&u, 100) == 1000,
	   "request percentiles over the latest 256");
	ok(usage_start_percentile(&u, 50) == 0, "  and not in the start samples");

	/* Round trip of every request figure. */
	struct usage a, b;
	char why[USAGE_WHY_MAX];
	fill(&a);
	is_int(usage_save(dir, "req", &a), 0, "requests: save");
	memset(&b, 0xaa, sizeof(b));
	is_int(usage_load(dir, "req", NOW, &b, why, sizeof(why)), 0, "requests: load");
	ok(b.requests_total == a.requests_total && b.request_count == a.request_count &&
	       b.request_sum_usec == a.request_sum_usec &&
	       !memcmp(b.responses, a.responses, sizeof(a.responses)) &&
	       !memcmp(b.request_buckets, a.request_buckets, sizeof(a.request_buckets)),
	   "requests, classes, buckets and sums survive");
	bool same = b.n_request_samples == a.n_request_samples;
	for (uint32_t i = 0; i < ZP_REQUEST_SAMPLES; i++)
		same &= a.request_samples[(a.request_sample_pos + i) % ZP_REQUEST_SAMPLES] ==
			b.request_samples[(b.request_sample_pos + i) % ZP_REQUEST_SAMPLES];
	ok(same, "request samples survive oldest to newest");
	ok(b.request_samples[(b.request_sample_pos + ZP_REQUEST_SAMPLES - 1) %
			     ZP_REQUEST_SAMPLES] == UINT32_MAX,
	   "huge duration clamped in the ring");
	ok(usage_request_percentile(&a, 99) == usage_request_percentile(&b, 99),
	   "same request p99");
	a.requests_ignored = 77;
	a.connections_ignored = 1ULL << 40;
	is_int(usage_save(dir, "ign", &a), 0, "ignored: save");
	memset(&b, 0xaa, sizeof(b));
	is_int(usage_load(dir, "ign", NOW, &b, why, sizeof(why)), 0, "ignored: load");
	ok(b.requests_ignored == 77 && b.connections_ignored == 1ULL << 40,
	   "requests_ignored and connections_ignored survive");
	usage_add(&b, &a);
	ok(b.requests_ignored == 154 && b.connections_ignored == 1ULL << 41,
	   "usage_add adds requests_ignored and connections_ignored");

	/* A file an older zeroproxy wrote (no request lines) loads, requests 0. */
	size_t len;
	char *s = with_checksum("zeroproxy-usage 1\nconnections_total 12\nconnections_refused 0\n"
				"cold_starts 2\nbilled_usec 5000000\ncpu_usec 100\n"
				"peak_memory_bytes 4096\nbytes_in 10\nbytes_out 20\n"
				"first_seen_wall_usec 1600000000000000\n"
				"start_buckets 0 0 0 0 0 0 1 1 0 0 0 0 0 0\nstart_count 2\n"
				"start_sum_usec 300000\nstart_samples 2 100000 200000\n"
				"last_start_usec 200000\nlast_exit exited 0\n",
				&len);
	char path[512];
	snprintf(path, sizeof(path), "%s/old.usage", dir);
	spew(path, s, len);
	free(s);
	memset(&b, 0x55, sizeof(b));
	int r = usage_load(dir, "old", NOW, &b, why, sizeof(why));
	bool zero = b.requests_total == 0 && b.request_count == 0 && b.request_sum_usec == 0 &&
		    b.n_request_samples == 0 && b.request_sample_pos == 0 &&
		    b.requests_ignored == 0 && b.connections_ignored == 0;
	for (size_t i = 0; i < ZP_RESPONSE_CLASSES; i++)
		zero &= b.responses[i] == 0;
	for (size_t i = 0; i < ZP_REQUEST_BUCKETS; i++)
		zero &= b.request_buckets[i] == 0;
	ok(r == 0 && !why[0] && b.connections_total == 12 && b.cold_starts == 2 &&
	       b.start_count == 2 && usage_start_percentile(&b, 99) == 200000 && zero,
	   "a file without request lines (older zeroproxy) loads, requests 0 (%s)", why);

	/* usage_add adds every request figure, samples appended in order. */
	usage_init(&a, NOW);
	usage_init(&b, NOW);
	usage_request_done(&a, 200, 3);
	usage_request_done(&b, 500, 7);
	usage_request_done(&b, 0, 1);
	usage_request_done(&b, 201, 9);
	usage_add(&a, &b);
	ok(a.requests_total == 4 && a.request_count == 3 && a.request_sum_usec == 19 &&
	       a.responses[1] == 2 && a.responses[4] == 1 && a.request_buckets[0] == 3 &&
	       a.n_request_samples == 3 && a.request_samples[0] == 3 && a.request_samples[1] == 7 &&
	       a.request_samples[2] == 9,
	   "add: requests, classes, buckets, sums, samples in order");
}

static void test_corrupt(void)
{
	struct usage a, b;
	char path[512];
	size_t len;
	char why[USAGE_WHY_MAX];

	fill(&a);
	usage_save(dir, "good", &a);
	snprintf(path, sizeof(path), "%s/good.usage", dir);
	char *good = slurp(path, &len);

	expect_corrupt("c1", "", 0, "empty file");
	expect_corrupt("c2", good, len / 2, "truncated in the middle");
	expect_corrupt("c3", good, len - 1, "truncated by one byte");
	expect_corrupt("c4", good, len - 13, "end line missing");

	char *flip = strdup(good);
	flip[40] ^= 0x01;
	expect_corrupt("c5", flip, len, "one bit flipped");
	free(flip);

	expect_corrupt("c6",
		       "\x7f"
		       "ELF\0\0\0binary",
		       12, "binary junk");
	char *s = with_checksum("something-else 1\n", &len);
	expect_corrupt("c7", s, len, "wrong magic");
	free(s);
	s = with_checksum("zeroproxy-usage 2\ncold_starts 3\n", &len);
	expect_corrupt("c8", s, len, "unknown version");
	free(s);
	s = with_checksum("zeroproxy-usage 1\ncold_starts 3x\n", &len);
	expect_corrupt("c9", s, len, "bad number");
	free(s);
	s = with_checksum("zeroproxy-usage 1\ncold_starts 99999999999999999999999\n", &len);
	expect_corrupt("c10", s, len, "number overflows");
	free(s);
	s = with_checksum("zeroproxy-usage 1\ncold_starts -1\n", &len);
	expect_corrupt("c11", s, len, "negative number");
	free(s);
	s = with_checksum("zeroproxy-usage 1\nstart_buckets 1 2 3\n", &len);
	expect_corrupt("c12", s, len, "too few buckets");
	free(s);
	s = with_checksum("zeroproxy-usage 1\nstart_samples 3 1 2\n", &len);
	expect_corrupt("c13", s, len, "sample count mismatch");
	free(s);
	s = with_checksum("zeroproxy-usage 1\nstart_samples 1 4294967296\n", &len);
	expect_corrupt("c14", s, len, "sample too big");
	free(s);
	s = with_checksum("zeroproxy-usage 1\nresponses 1 2 3 4\n", &len);
	expect_corrupt("c17", s, len, "too few response classes");
	free(s);
	s = with_checksum("zeroproxy-usage 1\nrequest_buckets 1 2 3\n", &len);
	expect_corrupt("c18", s, len, "too few request buckets");
	free(s);
	s = with_checksum("zeroproxy-usage 1\nrequest_samples 2 1\n", &len);
	expect_corrupt("c19", s, len, "request sample count mismatch");
	free(s);
	s = with_checksum("zeroproxy-usage 1\nrequests_total x\n", &len);
	expect_corrupt("c20", s, len, "bad requests_total");
	free(s);

	/* Too many samples for the ring. */
	struct strbuf_like {
		char *p;
		size_t n;
	} big = {NULL, 0};
	FILE *m = open_memstream(&big.p, &big.n);
	fprintf(m, "zeroproxy-usage 1\nstart_samples 300");
	for (int i = 0; i < 300; i++)
		fprintf(m, " %d", i);
	fprintf(m, "\n");
	fclose(m);
	s = with_checksum(big.p, &len);
	expect_corrupt("c15", s, len, "more samples than the ring holds");
	free(s);
	free(big.p);

	/* A huge file and one huge line. */
	char *huge = malloc(200000);
	memset(huge, 'a', 200000);
	expect_corrupt("c16", huge, 200000, "200 KB of one line");
	free(huge);

	int r;
	/* Forward compatibility: unknown keys are ignored, missing ones are 0. */
	s = with_checksum("zeroproxy-usage 1\ncold_starts 3\nfuture_key 1 2 3\n\nnovalue\n", &len);
	snprintf(path, sizeof(path), "%s/fwd.usage", dir);
	spew(path, s, len);
	free(s);
	r = usage_load(dir, "fwd", NOW, &b, why, sizeof(why));
	ok(r == 0 && !why[0] && b.cold_starts == 3 && b.connections_total == 0 &&
	       b.first_seen_wall_usec == NOW,
	   "unknown keys ignored, missing keys zero, missing first_seen is now");
	/* Backward compatibility: a file written before freeze_after. */
	s = with_checksum("zeroproxy-usage 1\ncold_starts 3\nbilled_usec 5000000\n", &len);
	snprintf(path, sizeof(path), "%s/old.usage", dir);
	spew(path, s, len);
	free(s);
	r = usage_load(dir, "old", NOW, &b, why, sizeof(why));
	ok(r == 0 && !why[0] && b.billed_usec == 5000000 && b.frozen_usec == 0 && b.thaws == 0 &&
	       b.last_thaw_usec == 0,
	   "a file without frozen_usec, thaws and last_thaw_usec loads with none");

	/* A garbage file never crashes: random bytes with a valid checksum. */
	srand(42);
	int crashed = 0;
	for (int round = 0; round < 200; round++) {
		char body[600];
		size_t n = strlen(good) > 500 ? 500 : strlen(good);
		memcpy(body, good, n);
		for (int k = 0; k < 8; k++)
			body[rand() % n] = (char)(rand() % 96 + 32);
		if (round % 3 == 0)
			body[rand() % n] = '\n';
		body[n] = '\0';
		s = with_checksum(body, &len);
		snprintf(path, sizeof(path), "%s/fuzz.usage", dir);
		spew(path, s, len);
		free(s);
		r = usage_load(dir, "fuzz", NOW, &b, why, sizeof(why));
		if (r != 0 && r != -EBADMSG)
			crashed++;
		if (b.n_samples > ZP_START_SAMPLES || b.sample_pos >= ZP_START_SAMPLES)
			crashed++;
		unlink(path);
	}
	is_int(crashed, 0, "200 mangled files with valid checksums load or are rejected cleanly");
	free(good);
}

/* The faults for expect_unreadable(): on, then off again. */
static int fault_errno;
static struct rlimit saved_rl;

static void inject_on(void)
{
	if (fault_errno == EIO)
		inject_read = EIO;
	else
		inject_open = fault_errno;
}

static void inject_off(void)
{
	inject_open = inject_read = 0;
}

/* EMFILE for real: the soft limit at the lowest free descriptor. */
static void emfile_on(void)
{
	getrlimit(RLIMIT_NOFILE, &saved_rl);
	int probe = dup(0);
	close(probe);
	struct rlimit low = saved_rl;
	low.rlim_cur = (rlim_t)probe;
	setrlimit(RLIMIT_NOFILE, &low);
}

static void emfile_off(void)
{
	setrlimit(RLIMIT_NOFILE, &saved_rl);
}

static bool same_file(const char *path, const char *want, size_t want_len)
{
	size_t len;
	char *got = slurp(path, &len);
	bool same = got && len == want_len && !memcmp(got, want, len);
	free(got);
	return same;
}

/* Every error other than a missing file or a bad content says nothing about
 * the file: it is left as it is (same bytes, nothing moved aside), the meter
 * counts from zero marked unread and is never written, the read is tried
 * again at the next save, and once it works the two are added up. */
static void expect_unreadable(const char *name, int err, const char *what, void (*on)(void),
			      void (*off)(void))
{
	char path[512];
	struct usage a, u, b;
	char why[USAGE_WHY_MAX];
	size_t len0;

	fill(&a);
	usage_save(dir, name, &a);
	snprintf(path, sizeof(path), "%s/%s.usage", dir, name);
	char *before = slurp(path, &len0);

	memset(&u, 0x55, sizeof(u));
	on();
	int r = usage_load(dir, name, NOW, &u, why, sizeof(why));
	off();
	ok(r == -err && why[0] && strstr(why, strerror(err)), "%s: reported as unreadable (%s)",
	   what, why);
	ok(same_file(path, before, len0) && count_corrupt(name) == 0,
	   "%s: the file is left as it was, nothing moved aside", what);
	ok(u.cold_starts == 0 && u.connections_total == 0 && u.first_seen_wall_usec == NOW &&
	       u.unread == err,
	   "%s: the meter counts from zero meanwhile, marked unread", what);

	/* Counted meanwhile: never written over the file. */
	u.connections_total = 5;
	usage_record_start(&u, 777);
	strcpy(u.last_exit, "exited 0");
	is_int(usage_save(dir, name, &u), -EAGAIN, "%s: usage_save refuses an unread meter", what);
	is_int(usage_store_save(NULL, dir, name, &u), -EAGAIN,
	       "%s: usage_store_save refuses an unread meter", what);
	ok(same_file(path, before, len0), "%s: the file still as it was", what);

	/* Tried again while the fault lasts: still unread, nothing lost. */
	on();
	r = usage_store_retry(NULL, dir, name, NOW + 1, &u, why, sizeof(why));
	off();
	ok(r == -err && why[0] && u.unread == err && u.connections_total == 5 &&
	       same_file(path, before, len0),
	   "%s: a retry during the fault changes nothing (%s)", what, why);

	/* And once it is over: the file's figures plus the ones since. */
	r = usage_store_retry(NULL, dir, name, NOW + 2, &u, why, sizeof(why));
	ok(r == 0 && why[0] && strstr(why, "read at last") && u.unread == 0,
	   "%s: the retry after the fault reads the file (%s)", what, why);
	ok(u.connections_total == a.connections_total + 5 && u.cold_starts == a.cold_starts &&
	       u.bytes_in == a.bytes_in && u.billed_usec == a.billed_usec &&
	       u.start_count == a.start_count + 1 && u.last_start_usec == 777 &&
	       !strcmp(u.last_exit, "exited 0") &&
	       u.first_seen_wall_usec == a.first_seen_wall_usec &&
	       u.n_samples == ZP_START_SAMPLES &&
	       u.start_samples[(u.sample_pos + ZP_START_SAMPLES - 1) % ZP_START_SAMPLES] == 777,
	   "%s: history and what was counted since are added up", what);
	is_int(usage_store_save(NULL, dir, name, &u), 0, "%s: then saved", what);
	usage_load(dir, name, NOW, &b, why, sizeof(why));
	ok(!why[0] && b.connections_total == a.connections_total + 5 && b.unread == 0,
	   "%s: and the file has both", what);
	free(before);
}

/* A good file NAME, loaded into u with the injected fault. */
static void load_unread(const char *name, struct usage *u)
{
	struct usage a;
	char why[USAGE_WHY_MAX];
	fill(&a);
	usage_save(dir, name, &a);
	inject_on();
	usage_load(dir, name, NOW, u, why, sizeof(why));
	inject_off();
}

static void test_unreadable(void)
{
	static const struct {
		int err;
		const char *name;
	} injected[] = {
	    {EACCES, "e-acces"},
	    {ENFILE, "e-nfile"},
	    {ENOMEM, "e-nomem"},
	    {EIO, "e-io"},
	};
	for (size_t i = 0; i < sizeof(injected) / sizeof(injected[0]); i++) {
		fault_errno = injected[i].err;
		expect_unreadable(injected[i].name, injected[i].err, strerror(injected[i].err),
				  inject_on, inject_off);
	}
	expect_unreadable("e-mfile", EMFILE, "EMFILE (a real one)", emfile_on, emfile_off);

	/* A directory and a symbolic link where the file should be: not a
	 * content that failed its check either. */
	struct usage u;
	char why[USAGE_WHY_MAX];
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/e-isdir.usage", dir);
	mkdir(path, 0755);
	int r = usage_load(dir, "e-isdir", NOW, &u, why, sizeof(why));
	ok(r == -EISDIR && why[0] && u.unread == EISDIR && stat(path, &st) == 0 &&
	       S_ISDIR(st.st_mode) && count_corrupt("e-isdir") == 0,
	   "EISDIR: a directory in the way is left there (%s)", why);
	is_int(usage_store_save(NULL, dir, "e-isdir", &u), -EAGAIN, "EISDIR: no write");
	r = usage_store_retry(NULL, dir, "e-isdir", NOW, &u, why, sizeof(why));
	ok(r == -EISDIR && u.unread == EISDIR, "EISDIR: still unread on a retry");

	snprintf(path, sizeof(path), "%s/e-loop.usage", dir);
	if (symlink("good.usage", path) < 0)
		note("symlink: %s", strerror(errno));
	r = usage_load(dir, "e-loop", NOW, &u, why, sizeof(why));
	ok(r == -ELOOP && why[0] && u.unread == ELOOP && lstat(path, &st) == 0 &&
	       S_ISLNK(st.st_mode) && count_corrupt("e-loop") == 0,
	   "ELOOP: a symbolic link in the way is left there (%s)", why);

	/* The file damaged meanwhile: moved aside at the retry, and what was
	 * counted since is kept. */
	fault_errno = EACCES;
	load_unread("e-then-bad", &u);
	u.cold_starts = 2;
	snprintf(path, sizeof(path), "%s/e-then-bad.usage", dir);
	spew(path, "junk\n", 5);
	r = usage_store_retry(NULL, dir, "e-then-bad", NOW, &u, why, sizeof(why));
	ok(r == -EBADMSG && u.unread == 0 && u.cold_starts == 2 &&
	       count_corrupt("e-then-bad") == 1 && why[0] && strstr(why, "keeping"),
	   "damaged before the retry: moved aside, the counts since kept (%s)", why);

	/* Gone meanwhile: the counts since, and writable again. */
	load_unread("e-then-gone", &u);
	u.cold_starts = 3;
	snprintf(path, sizeof(path), "%s/e-then-gone.usage", dir);
	unlink(path);
	r = usage_store_retry(NULL, dir, "e-then-gone", NOW, &u, why, sizeof(why));
	ok(r == 0 && u.unread == 0 && u.cold_starts == 3 && u.first_seen_wall_usec == NOW &&
	       why[0] && strstr(why, "gone"),
	   "gone before the retry: the counts since kept (%s)", why);
	is_int(usage_store_save(NULL, dir, "e-then-gone", &u), 0, "and written again");

	/* Nothing to do for a meter that was read. */
	usage_init(&u, NOW);
	strcpy(why, "unset");
	r = usage_store_retry(NULL, dir, "e-then-gone", NOW, &u, why, sizeof(why));
	ok(r == 0 && !why[0], "a retry of a read meter does nothing");
}

static void test_add_frozen(void)
{
	struct usage a, b;
	usage_init(&a, NOW);
	usage_init(&b, NOW);
	a.frozen_usec = 10;
	a.thaws = 2;
	a.last_thaw_usec = 300;
	b.frozen_usec = 5;
	b.thaws = 1;
	usage_add(&a, &b);
	ok(a.frozen_usec == 15 && a.thaws == 3 && a.last_thaw_usec == 300,
	   "add: frozen time and thaws added, the latest thaw kept when none since");
	usage_init(&b, NOW);
	b.last_thaw_usec = 700;
	usage_add(&a, &b);
	ok(a.last_thaw_usec == 700 && a.thaws == 3,
	   "add: the latest thaw from since when it has one");
}

static void test_add(void)
{
	struct usage a, b;
	usage_init(&a, NOW - 10);
	usage_init(&b, NOW);
	a.connections_total = 3;
	a.peak_memory_bytes = 100;
	usage_record_start(&a, 5);
	strcpy(a.last_exit, "exited 1");
	b.connections_total = 4;
	b.peak_memory_bytes = 50;
	usage_add(&a, &b);
	ok(a.connections_total == 7 && a.peak_memory_bytes == 100 && a.start_count == 1 &&
	       a.last_start_usec == 5 && !strcmp(a.last_exit, "exited 1") &&
	       a.first_seen_wall_usec == NOW - 10 && a.n_samples == 1,
	   "add: nothing started or exited since keeps the latest start and exit");
	usage_record_start(&b, 9);
	usage_record_start(&b, 11);
	strcpy(b.last_exit, "killed by SIGKILL");
	b.first_seen_wall_usec = NOW - 20;
	b.peak_memory_bytes = 200;
	usage_add(&a, &b);
	ok(a.start_count == 3 && a.last_start_usec == 11 && a.n_samples == 3 &&
	       a.start_samples[0] == 5 && a.start_samples[1] == 9 && a.start_samples[2] == 11 &&
	       a.start_buckets[0] == 3 && a.start_sum_usec == 25 && a.peak_memory_bytes == 200 &&
	       !strcmp(a.last_exit, "killed by SIGKILL") && a.first_seen_wall_usec == NOW - 20,
	   "add: samples appended in order, sums, buckets, peak, first_seen, last exit");
}

/* A slot's newest snapshot wins, the caller never waits for the disk, and
 * usage_store_free() writes what is pending. */
static void test_store(void)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct usage_store *st = NULL;
	struct usage u, b;
	char path[512];
	char why[USAGE_WHY_MAX];

	is_int(usage_store_new(loop, &st), 0, "store: writer started");
	snprintf(path, sizeof(path), "%s/w.usage", dir);

	/* The disk stalls in the first write: the saves after it return at
	 * once (this would hang otherwise: alarm below) and replace each other. */
	alarm(20);
	int calls0 = fsync_count();
	fsync_set_hold(true);
	usage_init(&u, NOW);
	u.cold_starts = 1;
	is_int(usage_store_save(st, dir, "w", &u), 0, "store: first save queued");
	fsync_wait_held();
	for (int i = 2; i <= 100; i++) {
		u.cold_starts = (uint64_t)i;
		usage_store_save(st, dir, "w", &u);
	}
	ok(1, "store: 99 more saves while the disk stalls did not wait for it");
	ok(access(path, F_OK) < 0, "store: nothing renamed into place before the fsync");
	memset(&b, 0, sizeof(b));
	int r = usage_store_load(st, dir, "w", NOW, &b, why, sizeof(why));
	ok(r == 0 && !why[0] && b.cold_starts == 100,
	   "store: a load meanwhile sees the newest snapshot, not the disk (%llu)",
	   (unsigned long long)b.cold_starts);
	fsync_set_hold(false);
	alarm(0);

	/* Another file, and one that cannot be written (logged by the loop). */
	u.cold_starts = 7;
	usage_store_save(st, dir, "w2", &u);
	usage_store_save(st, "/nonexistent-zp-dir", "w3", &u);
	is_int(usage_store_save(st, dir, "../x", &u), -EINVAL, "store: a bad name refused");
	u.unread = EIO;
	is_int(usage_store_save(st, dir, "w4", &u), -EAGAIN, "store: an unread meter refused");
	u.unread = 0;

	char logpath[512];
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int saved_err = dup(2);
	dup2(logfd, 2);
	/* The writer wakes the loop after each write: the failure is logged
	 * there. */
	for (int i = 0; i < 50; i++) {
		size_t len = 0;
		ev_run(loop, EVRUN_NOWAIT);
		char *log = slurp(logpath, &len);
		bool seen = log && strstr(log, "w3: cannot write usage to /nonexistent-zp-dir");
		free(log);
		if (seen)
			break;
		usleep(20000);
	}
	usage_store_free(st);
	dup2(saved_err, 2);
	close(saved_err);
	close(logfd);
	size_t len = 0;
	char *log = slurp(logpath, &len);
	ok(log && strstr(log, "w3: cannot write usage to /nonexistent-zp-dir: No such file"),
	   "store: a failed write is logged with the service's name");
	free(log);

	usage_load(dir, "w", NOW, &b, why, sizeof(why));
	ok(!why[0] && b.cold_starts == 100, "store: the file has the newest snapshot");
	is_int(fsync_count() - calls0, 2 * 2 + 2,
	       "store: 3 writes of 2 fsyncs: the stalled one, the newest, w2 (not 100)");
	usage_load(dir, "w2", NOW, &b, why, sizeof(why));
	ok(!why[0] && b.cold_starts == 7, "store: freeing it wrote what was pending");
	snprintf(path, sizeof(path), "%s/w.usage.tmp", dir);
	ok(access(path, F_OK) < 0, "store: no temp file left");

	/* Started and freed with nothing to write. */
	st = NULL;
	is_int(usage_store_new(loop, &st), 0, "store: a second writer");
	usage_store_free(st);
	usage_store_free(NULL);
	ev_loop_destroy(loop);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "%s/zp-test-usage.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_record();
	test_round_trip();
	test_add_frozen();
	test_requests();
	test_corrupt();
	test_unreadable();
	test_add();
	test_store();

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		note("could not remove %s", dir);
	return done_testing();
}
