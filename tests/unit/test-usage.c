/*
 * test-usage — the meter: recording starts, percentiles, and the state file
 * (round trip of every field, and every kind of damage detected, moved aside
 * and replaced by a fresh meter without a crash).
 */
#define _GNU_SOURCE 1

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "usage.h"

#define NOW 1700000000000000ull

static char dir[256];

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

static void fill(struct zp_usage *u)
{
	usage_init(u, NOW - 5000000);
	u->connections_total = 1284;
	u->connections_refused = 7;
	u->cold_starts = 17;
	u->billed_usec = 3723000001ull;
	u->cpu_usec = 31200000;
	u->peak_memory_bytes = 123456789012ull;
	u->bytes_in = UINT64_MAX;
	u->bytes_out = 99;
	for (unsigned i = 0; i < 300; i++)
		usage_record_start(u, 500 + (uint64_t)i * 997);
	usage_record_start(u, 20000000000ull); /* > UINT32_MAX usec, +Inf bucket */
	strcpy(u->last_exit, "killed by SIGKILL");
}

static void test_record(void)
{
	struct zp_usage u;
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
	struct zp_usage a, b;
	char *why = (char *)"unset";

	usage_init(&b, 1);
	is_int(usage_load(dir, "none", NOW, &b, &why), 0, "missing file: fresh meter");
	ok(why == NULL && b.first_seen_wall_usec == NOW && b.cold_starts == 0,
	   "missing file: first_seen is now, nothing else");

	fill(&a);
	is_int(usage_save(dir, "web", &a), 0, "save");
	char path[512];
	snprintf(path, sizeof(path), "%s/web.usage.tmp", dir);
	ok(access(path, F_OK) < 0, "no temp file left behind");

	memset(&b, 0xaa, sizeof(b));
	is_int(usage_load(dir, "web", NOW, &b, &why), 0, "load");
	ok(why == NULL, "no reason on success");
	ok(!memcmp(&a, &b, offsetof(struct zp_usage, start_samples)),
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
	usage_load(dir, "small", NOW + 1, &b, &why);
	ok(!memcmp(&a, &b, sizeof(a)), "a partly filled meter survives byte for byte");

	/* Control characters in last_exit keep the file line-structured. */
	strcpy(a.last_exit, "odd\nline");
	usage_save(dir, "small", &a);
	is_int(usage_load(dir, "small", NOW, &b, &why), 0, "newline in last_exit: loads");
	is_str(b.last_exit, "odd?line", "newline replaced");

	is_int(usage_save(dir, "../x", &a), -EINVAL, "save refuses a name with a slash");
	is_int(usage_save("/nonexistent/dir", "x", &a), -ENOENT, "save into a missing dir fails");
	snprintf(path, sizeof(path), "%s/x.usage.tmp", dir);
}

/* Write text, load it, and check it was rejected and moved aside. */
static void expect_corrupt(const char *name, const char *data, size_t len, const char *what)
{
	char path[512];
	struct zp_usage u;
	char *why = NULL;
	int before = count_corrupt(name);

	snprintf(path, sizeof(path), "%s/%s.usage", dir, name);
	spew(path, data, len);
	memset(&u, 0x55, sizeof(u));
	int r = usage_load(dir, name, NOW, &u, &why);
	ok(r == 1 && why && u.cold_starts == 0 && u.first_seen_wall_usec == NOW &&
	       u.n_samples == 0 && access(path, F_OK) < 0 && count_corrupt(name) == before + 1,
	   "%s: moved aside, fresh meter (%s)", what, why ? why : "no reason");
	free(why);
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

static void test_corrupt(void)
{
	struct zp_usage a, b;
	char path[512];
	size_t len;
	char *why = NULL;

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

	/* A directory where the file should be. */
	snprintf(path, sizeof(path), "%s/c17.usage", dir);
	mkdir(path, 0755);
	int r = usage_load(dir, "c17", NOW, &b, &why);
	ok(r == 1 && why && access(path, F_OK) < 0, "a directory in the way: moved aside (%s)",
	   why ? why : "");
	free(why);

	/* Forward compatibility: unknown keys are ignored, missing ones are 0. */
	s = with_checksum("zeroproxy-usage 1\ncold_starts 3\nfuture_key 1 2 3\n\nnovalue\n", &len);
	snprintf(path, sizeof(path), "%s/fwd.usage", dir);
	spew(path, s, len);
	free(s);
	r = usage_load(dir, "fwd", NOW, &b, &why);
	ok(r == 0 && !why && b.cold_starts == 3 && b.connections_total == 0 &&
	       b.first_seen_wall_usec == NOW,
	   "unknown keys ignored, missing keys zero, missing first_seen is now");

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
		why = NULL;
		r = usage_load(dir, "fuzz", NOW, &b, &why);
		if (r != 0 && r != 1)
			crashed++;
		if (b.n_samples > ZP_START_SAMPLES || b.sample_pos >= ZP_START_SAMPLES)
			crashed++;
		free(why);
		unlink(path);
	}
	is_int(crashed, 0, "200 mangled files with valid checksums load or are rejected cleanly");
	free(good);
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
	test_corrupt();

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		note("could not remove %s", dir);
	return done_testing();
}
