/*
 * test-util — the value parsers of util.c (durations, booleans, signals,
 * integers, command lines, service names) and its small helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

static void duration_ok(const char *s, uint64_t want)
{
	uint64_t ms = 12345;
	int r = parse_duration(s, &ms);
	if (!is_int(r, 0, "parse_duration(\"%s\") succeeds", s))
		return;
	is_int((long long)(ms == ZP_INFINITY ? -1 : (long long)ms),
	       (long long)(want == ZP_INFINITY ? -1 : (long long)want),
	       "parse_duration(\"%s\") = %llu", s, (unsigned long long)want);
}

static void duration_bad(const char *s, int want)
{
	uint64_t ms = 777;
	int r = parse_duration(s, &ms);
	ok(r == want && ms == 777, "parse_duration(\"%s\") fails with %d (got %d)", s, want, r);
}

static void test_durations(void)
{
	duration_ok("250ms", 250);
	duration_ok("30s", 30000);
	duration_ok("5m", 300000);
	duration_ok("1h", 3600000);
	duration_ok("2d", 2 * 86400000ULL);
	duration_ok("1w", 7 * 86400000ULL);
	duration_ok("1h 30m", 5400000);
	duration_ok("1h30m", 5400000);
	duration_ok("1h  30m 15s", 5415000);
	duration_ok("1d2h3m4s5ms", 86400000ULL + 2 * 3600000 + 3 * 60000 + 4000 + 5);
	duration_ok("30", 30000);
	duration_ok("0", 0);
	duration_ok("0s", 0);
	duration_ok("1.5s", 1500);
	duration_ok("0.5h", 1800000);
	duration_ok(".5s", 500);
	duration_ok("2.", 2000);
	duration_ok("1.0005s", 1000);
	duration_ok("1.5", 1500);
	duration_ok("infinity", ZP_INFINITY);
	duration_ok("Infinity", ZP_INFINITY);
	duration_ok(" 5m ", 300000);
	duration_ok("10sec", 10000);
	duration_ok("2min", 120000);
	duration_ok("3hours", 3 * 3600000);
	duration_ok("1S", 1000);
	duration_ok("18446744073709551s", 18446744073709551000ULL);

	duration_bad("", -EINVAL);
	duration_bad("   ", -EINVAL);
	duration_bad("-5s", -EINVAL);
	duration_bad("5x", -EINVAL);
	duration_bad("5 s", -EINVAL);
	duration_bad("s", -EINVAL);
	duration_bad("1h 30", -EINVAL);
	duration_bad("30 1h", -EINVAL);
	duration_bad(".s", -EINVAL);
	duration_bad("1..5s", -EINVAL);
	duration_bad("infinityx", -EINVAL);
	duration_bad("inf", -EINVAL);
	duration_bad("1e3", -EINVAL);
	duration_bad("0x10", -EINVAL);
	duration_bad("5m,", -EINVAL);
	duration_bad("99999999999999999999", -ERANGE);
	duration_bad("18446744073709552s", -ERANGE);
	duration_bad("300000000000000d", -ERANGE);
	duration_bad("18446744073709551615ms", -ERANGE);
}

static void test_format_duration(void)
{
	static const struct {
		uint64_t ms;
		const char *want;
	} t[] = {
	    {250, "250ms"},
	    {30000, "30s"},
	    {300000, "5m"},
	    {5400000, "1h30m"},
	    {0, "0s"},
	    {1500, "1s500ms"},
	    {86400000, "1d"},
	    {ZP_INFINITY, "infinity"},
	    {90061001, "1d1h1m1s1ms"},
	};
	char buf[64];

	for (size_t i = 0; i < ZP_ARRAY_SIZE(t); i++) {
		format_duration(t[i].ms, buf, sizeof(buf));
		is_str(buf, t[i].want, "format_duration(%llu)", (unsigned long long)t[i].ms);
		uint64_t back;
		if (t[i].ms != 0)
			ok(parse_duration(buf, &back) == 0 && back == t[i].ms,
			   "format_duration(%llu) parses back", (unsigned long long)t[i].ms);
	}
	format_duration(5400000, buf, 4);
	ok(strlen(buf) < 4, "format_duration truncates into a short buffer");
}

static void test_bools(void)
{
	static const char *const yes[] = {"yes", "YES", "true", "True", "on", "1"};
	static const char *const no[] = {"no", "No", "false", "FALSE", "off", "0"};
	static const char *const bad[] = {"", "y", "n", "2", "yess", "enable", " yes"};
	bool b;

	for (size_t i = 0; i < ZP_ARRAY_SIZE(yes); i++)
		ok(parse_bool(yes[i], &b) == 0 && b, "parse_bool(\"%s\") = true", yes[i]);
	for (size_t i = 0; i < ZP_ARRAY_SIZE(no); i++)
		ok(parse_bool(no[i], &b) == 0 && !b, "parse_bool(\"%s\") = false", no[i]);
	for (size_t i = 0; i < ZP_ARRAY_SIZE(bad); i++)
		is_int(parse_bool(bad[i], &b), -EINVAL, "parse_bool(\"%s\") fails", bad[i]);
}

static void test_signals(void)
{
	static const struct {
		const char *s;
		int sig;
	} good[] = {
	    {"SIGTERM", SIGTERM},
	    {"TERM", SIGTERM},
	    {"term", SIGTERM},
	    {"sigint", SIGINT},
	    {"SIGKILL", SIGKILL},
	    {"HUP", SIGHUP},
	    {"SIGUSR1", SIGUSR1},
	    {"QUIT", SIGQUIT},
	    {"15", 15},
	    {"9", 9},
	    {"1", 1},
	    {"64", 64},
	    {"SIGWINCH", SIGWINCH},
	};
	static const char *const bad[] = {"",
					  "SIG",
					  "SIGFOO",
					  "FOO",
					  "0",
					  "65",
					  "-1",
					  "15x",
					  "SIG15",
					  "TERM ",
					  "999999999999999999999"};
	int sig;

	for (size_t i = 0; i < ZP_ARRAY_SIZE(good); i++)
		ok(parse_signal(good[i].s, &sig) == 0 && sig == good[i].sig,
		   "parse_signal(\"%s\") = %d", good[i].s, good[i].sig);
	for (size_t i = 0; i < ZP_ARRAY_SIZE(bad); i++)
		is_int(parse_signal(bad[i], &sig), -EINVAL, "parse_signal(\"%s\") fails", bad[i]);

	is_str(signal_name(SIGTERM), "SIGTERM", "signal_name(SIGTERM)");
	is_str(signal_name(SIGKILL), "SIGKILL", "signal_name(SIGKILL)");
	is_str(signal_name(SIGHUP), "SIGHUP", "signal_name(SIGHUP)");
	is_str(signal_name(42), "SIG42", "signal_name(42) has no name");
	is_str(signal_name(64), "SIG64", "signal_name(64)");
	ok(signal_name(0) != NULL && signal_name(1000) != NULL, "signal_name never NULL");
	for (int s = 1; s <= 31; s++) {
		int back;
		if (parse_signal(signal_name(s), &back) != 0 || back != s) {
			ok(false, "signal_name(%d) = %s parses back", s, signal_name(s));
			return;
		}
	}
	ok(true, "signal_name(1..31) all parse back");
}

static void test_uint(void)
{
	uint64_t v;

	ok(parse_uint("0", 10, &v) == 0 && v == 0, "parse_uint 0");
	ok(parse_uint("10", 10, &v) == 0 && v == 10, "parse_uint at max");
	is_int(parse_uint("11", 10, &v), -ERANGE, "parse_uint above max");
	is_int(parse_uint("", 10, &v), -EINVAL, "parse_uint empty");
	is_int(parse_uint("-1", 10, &v), -EINVAL, "parse_uint negative");
	is_int(parse_uint("+1", 10, &v), -EINVAL, "parse_uint plus sign");
	is_int(parse_uint(" 1", 10, &v), -EINVAL, "parse_uint leading space");
	is_int(parse_uint("1k", 10, &v), -EINVAL, "parse_uint junk");
	is_int(parse_uint("18446744073709551616", UINT64_MAX, &v), -ERANGE, "parse_uint overflow");
	ok(parse_uint("18446744073709551615", UINT64_MAX, &v) == 0 && v == UINT64_MAX,
	   "parse_uint UINT64_MAX");
}

/* argv joined with '|' for comparison. */
static char *join(char **argv)
{
	size_t n = 1;
	for (size_t i = 0; argv[i]; i++)
		n += strlen(argv[i]) + 1;
	char *s = xcalloc(1, n);
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			strcat(s, "|");
		strcat(s, argv[i]);
	}
	return s;
}

static void argv_ok(const char *line, const char *want, size_t n)
{
	char **argv = NULL;
	const char *err = NULL;
	int r = split_argv(line, &argv, &err);
	if (!is_int(r, 0, "split_argv(%s) succeeds", line)) {
		note("error: %s", err ? err : "?");
		return;
	}
	char *got = join(argv);
	ok(strv_length(argv) == n && strcmp(got, want) == 0, "split_argv(%s) = %s (%zu words)",
	   line, want, n);
	if (strcmp(got, want) != 0 || strv_length(argv) != n)
		note("got %s (%zu words)", got, strv_length(argv));
	free(got);
	strv_free(argv);
}

static void argv_bad(const char *line, const char *want_err)
{
	char **argv = (char **)0x1;
	const char *err = NULL;
	int r = split_argv(line, &argv, &err);
	ok(r == -EINVAL && err && strcmp(err, want_err) == 0 && argv == (char **)0x1,
	   "split_argv(%s) fails: %s", line, want_err);
	if (err && strcmp(err, want_err) != 0)
		note("got error \"%s\"", err);
}

static void test_split_argv(void)
{
	argv_ok("/bin/true", "/bin/true", 1);
	argv_ok("a b c", "a|b|c", 3);
	argv_ok("  a \t b  ", "a|b", 2);
	argv_ok("python3 -m http.server --bind 127.0.0.1 18080",
		"python3|-m|http.server|--bind|127.0.0.1|18080", 6);
	argv_ok("echo 'hello world'", "echo|hello world", 2);
	argv_ok("echo \"hello world\"", "echo|hello world", 2);
	argv_ok("echo 'a \"b\" c'", "echo|a \"b\" c", 2);
	argv_ok("echo \"a 'b' c\"", "echo|a 'b' c", 2);
	argv_ok("echo 'back\\slash'", "echo|back\\slash", 2);
	argv_ok("echo \"q\\\"uote\"", "echo|q\"uote", 2);
	argv_ok("echo \"b\\\\s\"", "echo|b\\s", 2);
	argv_ok("echo \"\\$HOME\"", "echo|$HOME", 2);
	argv_ok("echo \"\\`x\\`\"", "echo|`x`", 2);
	argv_ok("echo \"\\n\"", "echo|\\n", 2);
	argv_ok("echo $HOME `id` *", "echo|$HOME|`id`|*", 4);
	argv_ok("echo a\\ b", "echo|a b", 2);
	argv_ok("echo \\'x\\'", "echo|'x'", 2);
	argv_ok("echo \\\"", "echo|\"", 2);
	argv_ok("echo \\\\", "echo|\\", 2);
	argv_ok("a'b'\"c\"d", "abcd", 1);
	argv_ok("echo '' x", "echo||x", 3);
	argv_ok("echo \"\"", "echo|", 2);
	argv_ok("sh -c 'exec \"$0\" \"$@\"' a b", "sh|-c|exec \"$0\" \"$@\"|a|b", 5);
	argv_ok("x ; y", "x|;|y", 3);
	argv_ok("a|b>c", "a|b>c", 1);

	argv_bad("", "empty command");
	argv_bad("   \t ", "empty command");
	argv_bad("echo 'abc", "unterminated quote");
	argv_bad("echo \"abc", "unterminated quote");
	argv_bad("echo \"a\\\"", "unterminated quote");
	argv_bad("echo abc\\", "trailing backslash");
	argv_bad("'", "unterminated quote");
}

static void test_service_names(void)
{
	static const char *const good[] = {
	    "web",
	    "a",
	    "my-app_2.v1",
	    "A.B",
	    "..a",
	    "-x",
	    "0123456789012345678901234567890123456789012345678901234567890123"};
	static const char *const bad[] = {
	    "",     ".",    "..",
	    "a b",  "a/b",  "a:b",
	    "café", "x\ty", "01234567890123456789012345678901234567890123456789012345678901234"};

	for (size_t i = 0; i < ZP_ARRAY_SIZE(good); i++)
		ok(service_name_valid(good[i]), "service name \"%s\" is valid", good[i]);
	for (size_t i = 0; i < ZP_ARRAY_SIZE(bad); i++)
		ok(!service_name_valid(bad[i]), "service name \"%s\" is invalid", bad[i]);
}

static void test_strv(void)
{
	char **v = NULL;

	is_int((long long)strv_length(v), 0, "strv_length(NULL)");
	ok(strv_push(&v, "a") == 0 && strv_push(&v, "b") == 0, "strv_push");
	is_int((long long)strv_length(v), 2, "strv_length after two pushes");
	char **c = strv_copy(v);
	ok(c && c != v && strv_length(c) == 2 && strcmp(c[0], "a") == 0 && strcmp(c[1], "b") == 0 &&
	       c[0] != v[0] && !c[2],
	   "strv_copy copies deeply");
	ok(strv_copy(NULL) == NULL, "strv_copy(NULL)");
	strv_free(v);
	strv_free(c);
	strv_free(NULL);
}

static void test_misc(void)
{
	char *s = xasprintf("%s-%d", "x", 42);
	is_str(s, "x-42", "xasprintf");
	free(s);

	static const struct {
		const char *in, *want;
	} dn[] = {
	    {"/etc/zeroproxy/zeroproxy.conf", "/etc/zeroproxy"},
	    {"zeroproxy.conf", "."},
	    {"/zeroproxy.conf", "/"},
	    {"a/b", "a"},
	    {"a/b/", "a"},
	    {"a//b", "a"},
	    {"/", "/"},
	    {"", "."},
	};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(dn); i++) {
		s = path_dirname(dn[i].in);
		is_str(s, dn[i].want, "path_dirname(\"%s\")", dn[i].in);
		free(s);
	}
	static const struct {
		const char *dir, *path, *want;
	} pj[] = {
	    {"/etc/zeroproxy", "services.d", "/etc/zeroproxy/services.d"},
	    {"/etc/zeroproxy/", "services.d", "/etc/zeroproxy/services.d"},
	    {"/etc/zeroproxy", "/srv/x", "/srv/x"},
	    {".", "x", "x"},
	    {"a", "../b", "a/../b"},
	    {"/", "x", "/x"},
	    {"/etc", "./services.d/", "/etc/services.d"},
	    {"/etc", ".//a/./b", "/etc/a/./b"},
	    {"/etc", ".", "/etc"},
	    {"/etc", "./", "/etc"},
	    {".", ".", "."},
	    {"/etc", "/srv/", "/srv"},
	    {"/etc", "/", "/"},
	};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(pj); i++) {
		s = path_join(pj[i].dir, pj[i].path);
		is_str(s, pj[i].want, "path_join(\"%s\", \"%s\")", pj[i].dir, pj[i].path);
		free(s);
	}

	int p[2];
	if (pipe(p) == 0) {
		ok(fd_set_nonblock(p[0], true) == 0 && (fcntl(p[0], F_GETFL) & O_NONBLOCK),
		   "fd_set_nonblock on");
		ok(fd_set_nonblock(p[0], false) == 0 && !(fcntl(p[0], F_GETFL) & O_NONBLOCK),
		   "fd_set_nonblock off");
		ok(fd_set_cloexec(p[1], true) == 0 && (fcntl(p[1], F_GETFD) & FD_CLOEXEC),
		   "fd_set_cloexec on");
		ok(fd_set_cloexec(p[1], false) == 0 && !(fcntl(p[1], F_GETFD) & FD_CLOEXEC),
		   "fd_set_cloexec off");
		close(p[0]);
		close(p[1]);
	}
	is_int(fd_set_nonblock(-1, true), -EBADF, "fd_set_nonblock on a bad fd");

	uint64_t a = now_usec(), b = now_usec();
	ok(a > 0 && b >= a, "now_usec is monotonic");
	ok(wall_usec() > 1600000000ULL * 1000000ULL, "wall_usec is the wall clock");
}

int main(void)
{
	test_durations();
	test_format_duration();
	test_bools();
	test_signals();
	test_uint();
	test_split_argv();
	test_service_names();
	test_strv();
	test_misc();
	return done_testing();
}
