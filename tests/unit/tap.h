/*
 * tap — a tiny Test Anything Protocol helper for the C unit tests: each check
 * prints "ok N - what" or "not ok N - what" (with the values on a "#" line when
 * they differ), and done_testing() prints the plan and returns the exit code.
 * automake's tap-driver reads the output. Header-only; one test program per
 * file, so the static counters are fine.
 */
#ifndef ZP_TAP_H
#define ZP_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int tap_n;        /* checks run so far */
static int tap_failed;   /* of which failed */
static bool tap_planned; /* plan() printed the plan already */

static void tap_vreport(bool pass, const char *fmt, va_list ap)
{
	tap_n++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_n);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

/* One check; returns cond. */
static inline __attribute__((format(printf, 2, 3))) bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vreport(cond, fmt, ap);
	va_end(ap);
	return cond;
}

/* Equal strings (NULL equals NULL only). */
static inline __attribute__((format(printf, 3, 4))) bool is_str(const char *got, const char *want,
								const char *fmt, ...)
{
	bool pass = (!got && !want) || (got && want && strcmp(got, want) == 0);
	va_list ap;
	va_start(ap, fmt);
	tap_vreport(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   got:      \"%s\"\n#   expected: \"%s\"\n", got ? got : "(null)",
		       want ? want : "(null)");
	return pass;
}

/* Equal integers. */
static inline __attribute__((format(printf, 3, 4))) bool is_int(long long got, long long want,
								const char *fmt, ...)
{
	bool pass = got == want;
	va_list ap;
	va_start(ap, fmt);
	tap_vreport(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   got:      %lld\n#   expected: %lld\n", got, want);
	return pass;
}

/* Print a diagnostic line. */
static inline __attribute__((format(printf, 1, 2))) void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

/* Announce the number of checks up front (optional). */
static inline void plan(int n)
{
	printf("1..%d\n", n);
	tap_planned = true;
}

/* Print the plan at the end (when plan() was not called) and return the exit
 * code for main: 0 when everything passed. */
static inline int done_testing(void)
{
	if (!tap_planned)
		printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
