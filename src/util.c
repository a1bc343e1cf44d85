/*
 * util — the small pure helpers every module shares: parsers for the value
 * types of the configuration (durations, booleans, signals, integers, command
 * lines, service names), NULL-terminated string vectors, allocation that
 * aborts, fd flags, clocks and path helpers. See util.h for each contract.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

/* Duration units, longest spelling first where one is a prefix of another. */
/* clang-format off */
static const struct {
	const char *name;
	uint64_t ms;
} duration_units[] = {
	{ "msec", 1ULL },
	{ "ms", 1ULL },
	{ "seconds", 1000ULL },
	{ "second", 1000ULL },
	{ "secs", 1000ULL },
	{ "sec", 1000ULL },
	{ "s", 1000ULL },
	{ "minutes", 60000ULL },
	{ "minute", 60000ULL },
	{ "mins", 60000ULL },
	{ "min", 60000ULL },
	{ "m", 60000ULL },
	{ "hours", 3600000ULL },
	{ "hour", 3600000ULL },
	{ "hr", 3600000ULL },
	{ "h", 3600000ULL },
	{ "days", 86400000ULL },
	{ "day", 86400000ULL },
	{ "d", 86400000ULL },
	{ "weeks", 604800000ULL },
	{ "week", 604800000ULL },
	{ "w", 604800000ULL },
};
/* clang-format on */

/* One "NUMBER[.FRACTION]" at *p; advances *p. The integer part and the
 * fraction digits are returned separately so that "1.5h" is computed exactly. */
static int parse_decimal(const char **p, uint64_t *ipart, uint64_t *frac, uint64_t *frac_div)
{
	const char *s = *p;
	uint64_t v = 0;
	bool digits = false;

	while (*s >= '0' && *s <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v))
			return -ERANGE;
		s++;
		digits = true;
	}
	*frac = 0;
	*frac_div = 1;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9') {
			/* Nine digits give millisecond precision even for weeks,
			 * and frac * unit cannot overflow. */
			if (*frac_div < 1000000000ULL) {
				*frac = *frac * 10 + (uint64_t)(*s - '0');
				*frac_div *= 10;
			}
			s++;
			digits = true;
		}
	}
	if (!digits)
		return -EINVAL;
	*ipart = v;
	*p = s;
	return 0;
}

int parse_duration(const char *s, uint64_t *ms)
{
	uint64_t total = 0;
	int components = 0;
	bool unitless = false;

	while (isspace((unsigned char)*s))
		s++;
	if (strncasecmp(s, "infinity", 8) == 0) {
		const char *e = s + 8;
		while (isspace((unsigned char)*e))
			e++;
		if (*e)
			return -EINVAL;
		*ms = ZP_INFINITY;
		return 0;
	}
	while (*s) {
		uint64_t ipart, frac, frac_div, unit = 0, v;
		int r = parse_decimal(&s, &ipart, &frac, &frac_div);
		if (r < 0)
			return r;
		size_t n = 0;
		while (isalpha((unsigned char)s[n]))
			n++;
		if (n == 0) {
			unit = 1000; /* a bare number means seconds */
			unitless = true;
		} else {
			for (size_t i = 0; i < ZP_ARRAY_SIZE(duration_units); i++)
				if (strlen(duration_units[i].name) == n &&
				    strncasecmp(s, duration_units[i].name, n) == 0) {
					unit = duration_units[i].ms;
					break;
				}
			if (!unit)
				return -EINVAL;
			s += n;
		}
		if (__builtin_mul_overflow(ipart, unit, &v) ||
		    __builtin_add_overflow(v, frac * unit / frac_div, &v) ||
		    __builtin_add_overflow(total, v, &total))
			return -ERANGE;
		components++;
		while (isspace((unsigned char)*s))
			s++;
	}
	/* "1h 30" is more likely a typo than 1h30s: a bare number stands alone. */
	if (components == 0 || (unitless && components > 1))
		return -EINVAL;
	if (total == ZP_INFINITY)
		return -ERANGE;
	*ms = total;
	return 0;
}

void format_duration(uint64_t ms, char *buf, size_t len)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} parts[] = {
	    {"d", 86400000ULL}, {"h", 3600000ULL}, {"m", 60000ULL}, {"s", 1000ULL}, {"ms", 1ULL},
	};
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (ms == ZP_INFINITY) {
		snprintf(buf, len, "infinity");
		return;
	}
	if (ms == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	for (size_t i = 0; i < ZP_ARRAY_SIZE(parts) && ms > 0; i++) {
		uint64_t n = ms / parts[i].ms;
		if (n == 0)
			continue;
		ms -= n * parts[i].ms;
		int w = snprintf(buf + used, len - used, "%llu%s", (unsigned long long)n,
				 parts[i].suffix);
		if (w < 0 || (size_t)w >= len - used)
			return;
		used += (size_t)w;
	}
}

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < ZP_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Signal names by number; the macros keep it right on every architecture. */
/* clang-format off */
static const struct {
	int sig;
	const char *name;
} signal_names[] = {
	{ SIGHUP, "SIGHUP" },       { SIGINT, "SIGINT" },       { SIGQUIT, "SIGQUIT" },
	{ SIGILL, "SIGILL" },       { SIGTRAP, "SIGTRAP" },     { SIGABRT, "SIGABRT" },
	{ SIGBUS, "SIGBUS" },       { SIGFPE, "SIGFPE" },       { SIGKILL, "SIGKILL" },
	{ SIGUSR1, "SIGUSR1" },     { SIGSEGV, "SIGSEGV" },     { SIGUSR2, "SIGUSR2" },
	{ SIGPIPE, "SIGPIPE" },     { SIGALRM, "SIGALRM" },     { SIGTERM, "SIGTERM" },
	{ SIGSTKFLT, "SIGSTKFLT" }, { SIGCHLD, "SIGCHLD" },     { SIGCONT, "SIGCONT" },
	{ SIGSTOP, "SIGSTOP" },     { SIGTSTP, "SIGTSTP" },     { SIGTTIN, "SIGTTIN" },
	{ SIGTTOU, "SIGTTOU" },     { SIGURG, "SIGURG" },       { SIGXCPU, "SIGXCPU" },
	{ SIGXFSZ, "SIGXFSZ" },     { SIGVTALRM, "SIGVTALRM" }, { SIGPROF, "SIGPROF" },
	{ SIGWINCH, "SIGWINCH" },   { SIGIO, "SIGIO" },         { SIGPWR, "SIGPWR" },
	{ SIGSYS, "SIGSYS" },
};
/* clang-format on */

/* "SIGn" for the numbers without a name (the real-time range). */
/* clang-format off */
#define SIGNUM(n) [n] = "SIG" #n
static const char *const signal_numbers[65] = {
	SIGNUM(1),  SIGNUM(2),  SIGNUM(3),  SIGNUM(4),  SIGNUM(5),  SIGNUM(6),  SIGNUM(7),
	SIGNUM(8),  SIGNUM(9),  SIGNUM(10), SIGNUM(11), SIGNUM(12), SIGNUM(13), SIGNUM(14),
	SIGNUM(15), SIGNUM(16), SIGNUM(17), SIGNUM(18), SIGNUM(19), SIGNUM(20), SIGNUM(21),
	SIGNUM(22), SIGNUM(23), SIGNUM(24), SIGNUM(25), SIGNUM(26), SIGNUM(27), SIGNUM(28),
	SIGNUM(29), SIGNUM(30), SIGNUM(31), SIGNUM(32), SIGNUM(33), SIGNUM(34), SIGNUM(35),
	SIGNUM(36), SIGNUM(37), SIGNUM(38), SIGNUM(39), SIGNUM(40), SIGNUM(41), SIGNUM(42),
	SIGNUM(43), SIGNUM(44), SIGNUM(45), SIGNUM(46), SIGNUM(47), SIGNUM(48), SIGNUM(49),
	SIGNUM(50), SIGNUM(51), SIGNUM(52), SIGNUM(53), SIGNUM(54), SIGNUM(55), SIGNUM(56),
	SIGNUM(57), SIGNUM(58), SIGNUM(59), SIGNUM(60), SIGNUM(61), SIGNUM(62), SIGNUM(63),
	SIGNUM(64),
};
/* clang-format on */
#undef SIGNUM

int parse_signal(const char *s, int *sig)
{
	uint64_t n;

	if (*s >= '0' && *s <= '9') {
		if (parse_uint(s, 64, &n) < 0 || n == 0)
			return -EINVAL;
		*sig = (int)n;
		return 0;
	}
	const char *bare = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	for (size_t i = 0; i < ZP_ARRAY_SIZE(signal_names); i++)
		if (strcasecmp(bare, signal_names[i].name + 3) == 0) {
			*sig = signal_names[i].sig;
			return 0;
		}
	return -EINVAL;
}

const char *signal_name(int sig)
{
	for (size_t i = 0; i < ZP_ARRAY_SIZE(signal_names); i++)
		if (signal_names[i].sig == sig)
			return signal_names[i].name;
	if (sig >= 1 && sig <= 64)
		return signal_numbers[sig];
	return "SIG?";
}

int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v))
			return -ERANGE;
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* split_argv's word under construction. */
struct word {
	char *buf;
	size_t len;
	bool started; /* a word exists even when empty ("" or '') */
};

static void word_add(struct word *w, char c)
{
	w->buf[w->len++] = c;
	w->started = true;
}

int split_argv(const char *s, char ***argv, const char **err)
{
	/* No word can be longer than the whole line. */
	struct word w = {.buf = xmalloc(strlen(s) + 1)};
	char **v = NULL;
	const char *reason = NULL;
	enum { PLAIN, SINGLE, DOUBLE } q = PLAIN;

	for (const char *p = s;; p++) {
		char c = *p;
		if (q == SINGLE) {
			if (c == '\0') {
				reason = "unterminated quote";
				break;
			}
			if (c == '\'')
				q = PLAIN;
			else
				word_add(&w, c);
			continue;
		}
		if (q == DOUBLE) {
			if (c == '\0') {
				reason = "unterminated quote";
				break;
			}
			if (c == '"') {
				q = PLAIN;
			} else if (c == '\\' && p[1] && strchr("\"\\$`", p[1])) {
				word_add(&w, *++p);
			} else {
				word_add(&w, c);
			}
			continue;
		}
		if (c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (w.started) {
				w.buf[w.len] = '\0';
				if (strv_push(&v, w.buf) < 0)
					abort();
				w.len = 0;
				w.started = false;
			}
			if (c == '\0')
				break;
		} else if (c == '\'') {
			q = SINGLE;
			w.started = true;
		} else if (c == '"') {
			q = DOUBLE;
			w.started = true;
		} else if (c == '\\') {
			if (p[1] == '\0') {
				reason = "trailing backslash";
				break;
			}
			word_add(&w, *++p);
		} else {
			word_add(&w, c);
		}
	}
	free(w.buf);
	if (!reason && !v)
		reason = "empty command";
	if (reason) {
		strv_free(v);
		if (err)
			*err = reason;
		return -EINVAL;
	}
	*argv = v;
	return 0;
}

bool service_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

size_t strv_length(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

int strv_push(char ***v, const char *s)
{
	size_t n = strv_length(*v);
	char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	char **nv = realloc(*v, (n + 2) * sizeof(char *));
	if (!nv) {
		free(copy);
		return -ENOMEM;
	}
	nv[n] = copy;
	nv[n + 1] = NULL;
	*v = nv;
	return 0;
}

void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

char **strv_copy(char *const *v)
{
	if (!v)
		return NULL;
	size_t n = strv_length(v);
	char **c = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c[i] = xstrdup(v[i]);
	return c;
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		abort();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	int r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		abort();
	return p;
}

int fd_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	int nfl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0)
		return -errno;
	return 0;
}

int fd_set_cloexec(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		return -errno;
	int nfl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
	if (nfl != fl && fcntl(fd, F_SETFD, nfl) < 0)
		return -errno;
	return 0;
}

static uint64_t clock_usec(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

uint64_t now_usec(void)
{
	return clock_usec(CLOCK_MONOTONIC);
}

uint64_t wall_usec(void)
{
	return clock_usec(CLOCK_REALTIME);
}

char *path_dirname(const char *path)
{
	size_t n = strlen(path);

	/* Drop trailing slashes, then the last component, then the slashes before it. */
	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	if (n == 0)
		return xstrdup(".");
	while (n > 1 && path[n - 1] == '/')
		n--;
	return xasprintf("%.*s", (int)n, path);
}

char *path_join(const char *dir, const char *path)
{
	size_t n;

	if (path[0] != '/') {
		/* "./x" and "x" are the same place; keep messages free of "/./". */
		while (path[0] == '.' && path[1] == '/') {
			path += 2;
			while (*path == '/')
				path++;
		}
		if (strcmp(path, ".") == 0)
			path = "";
	}
	n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (path[0] == '/' || dir[0] == '\0' || (strcmp(dir, ".") == 0 && n > 0))
		return xasprintf("%.*s", (int)n, path);
	if (n == 0)
		return xstrdup(dir);
	size_t dn = strlen(dir);
	return xasprintf("%s%s%.*s", dir, dir[dn - 1] == '/' ? "" : "/", (int)n, path);
}

ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	while (n < size - 1) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

bool errno_out_of_resources(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

int mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			int err = -errno;
			free(p);
			return err;
		}
		*s = '/';
	}
	int r = mkdir(p, mode) < 0 && errno != EEXIST ? -errno : 0;
	free(p);
	return r;
}
