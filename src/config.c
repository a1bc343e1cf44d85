/*
 * config — loading and validating zeroproxy.conf and services.d/NAME.conf.
 *
 * inih does the key/section dispatch, but Debian's build passes no line numbers
 * to the handler, keeps a 200-byte stack line buffer that silently splits longer
 * lines, and treats indented lines as continuations of the previous value. So
 * ini_parse_stream() gets lines from our own reader, which:
 *   - counts physical lines (the handler runs right after the reader returned its
 *     line, so the reader's count is the handler's line number, exactly);
 *   - drops blank and comment lines, strips inline comments (';' at the start of
 *     a value or after whitespace, as inih itself does) and leading whitespace,
 *     so an indented line is an ordinary line, never a continuation;
 *   - reports malformed lines, over-long lines (ZP_CONFIG_MAX_LINE) and unknown
 *     sections itself, at their own line, and never hands them to inih;
 *   - hands inih "key=value" — or just "key=" when that would not fit inih's
 *     buffer, in which case the handler takes the value the reader kept.
 * The handler checks each key against a table {section, key, type, offset}.
 * Every error is collected (never only the first) as "PATH:LINE: [section] key:
 * reason"; cross-field and cross-file rules run after the files are read.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

/* DEFAULT_SERVICES_DIR is relative: the folder beside the zeroproxy.conf in
 * use (given with -c or the compiled-in one). The other two are absolute. */
#define DEFAULT_CONFIG_PATH    SYSCONFDIR "/zeroproxy/zeroproxy.conf"
#define DEFAULT_SERVICES_DIR   "services.d"
#define DEFAULT_CONTROL_SOCKET RUNSTATEDIR "/zeroproxy/control.sock"
#define DEFAULT_STATE_DIR      LOCALSTATEDIR "/lib/zeroproxy"

/* Longest physical line accepted; longer is an error, never a truncation. */
#define ZP_CONFIG_MAX_LINE 4096
/* Longest key name; anything longer cannot be a key of ours. */
#define MAX_KEY_LEN 64
/* Quoted values in messages are cut after this many bytes. */
#define QUOTE_MAX 80

/* The names of the enums, by value. */
static const char *const ready_names[] = {"connect", "notify", "socket", "command", NULL};
static const char *const kill_mode_names[] = {"mixed", "control-group", NULL};

const char *ready_name(enum zp_ready r)
{
	return (size_t)r < ZP_ARRAY_SIZE(ready_names) - 1 ? ready_names[r] : "?";
}

const char *kill_mode_name(enum zp_kill_mode m)
{
	return (size_t)m < ZP_ARRAY_SIZE(kill_mode_names) - 1 ? kill_mode_names[m] : "?";
}

/* ---- diagnostics ---- */

static void diag_push(char ***v, size_t *n, const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	char **nv = realloc(*v, (*n + 1) * sizeof(char *));
	if (!nv)
		abort();
	nv[(*n)++] = msg;
	*v = nv;
}

void diag_error(struct zp_diag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_push(&d->errors, &d->n_errors, fmt, ap);
	va_end(ap);
}

void diag_warning(struct zp_diag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_push(&d->warnings, &d->n_warnings, fmt, ap);
	va_end(ap);
}

void diag_free(struct zp_diag *d)
{
	for (size_t i = 0; i < d->n_errors; i++)
		free(d->errors[i]);
	for (size_t i = 0; i < d->n_warnings; i++)
		free(d->warnings[i]);
	free(d->errors);
	free(d->warnings);
	memset(d, 0, sizeof(*d));
}

/* s in double quotes for a message: '"', '\' and control bytes escaped, cut
 * after QUOTE_MAX bytes. Malloc'd. */
static char *quote(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(QUOTE_MAX * 4 + 8);
	char *o = out;

	*o++ = '"';
	for (size_t i = 0; i < n && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += sprintf(o, "\\x%02x", c);
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	if (n > QUOTE_MAX)
		o += sprintf(o, "...");
	*o = '\0';
	return out;
}

/* ---- the key tables ---- */

enum key_type {
	KT_DURATION,    /* uint64_t milliseconds, at least key.min */
	KT_U32,         /* uint32_t, at least key.min */
	KT_STRING,      /* char *, any text */
	KT_ABS_PATH,    /* char *, an absolute path */
	KT_EXEC,        /* exec and argv */
	KT_LISTEN,      /* one more listen address */
	KT_ADDRESS,     /* the backend's address */
	KT_READY,       /* enum zp_ready */
	KT_SIGNAL,      /* int */
	KT_ENV,         /* one more KEY=VALUE */
	KT_PATH,        /* char *, resolved against the config file's folder */
	KT_SOCKET_PATH, /* KT_PATH that must fit sun_path */
	KT_LOG_LEVEL,   /* int LOG_* */
	KT_METRICS,     /* HOST:PORT, sets has_metrics */
	KT_ARGV,        /* char **, a command line split like exec */
	KT_KILL_MODE,   /* enum zp_kill_mode */
};

struct key_def {
	const char *section; /* without brackets */
	const char *name;
	enum key_type type;
	size_t offset;   /* of the field in the target struct */
	bool repeatable; /* listen, environment */
	uint64_t min;    /* KT_DURATION / KT_U32: smallest accepted */
};

#define SVC(f) offsetof(struct zp_service_config, f)
#define GLB(f) offsetof(struct zp_config, f)

/* clang-format off */
static const struct key_def service_keys[] = {
	{ "service", "listen", KT_LISTEN, 0, true, 0 },
	{ "service", "idle_timeout", KT_DURATION, SVC(idle_timeout_ms), false, 0 },
	{ "service", "max_connections", KT_U32, SVC(max_connections), false, 1 },
	{ "service", "max_pending", KT_U32, SVC(max_pending), false, 0 },
	{ "service", "pending_timeout", KT_DURATION, SVC(pending_timeout_ms), false, 1 },
	{ "service", "connection_idle_timeout", KT_DURATION, SVC(connection_idle_timeout_ms),
	  false, 1 },
	{ "backend", "exec", KT_EXEC, 0, false, 0 },
	{ "backend", "address", KT_ADDRESS, 0, false, 0 },
	{ "backend", "ready", KT_READY, SVC(ready), false, 0 },
	{ "backend", "start_timeout", KT_DURATION, SVC(start_timeout_ms), false, 1 },
	{ "backend", "stop_signal", KT_SIGNAL, SVC(stop_signal), false, 0 },
	{ "backend", "stop_timeout", KT_DURATION, SVC(stop_timeout_ms), false, 0 },
	{ "backend", "user", KT_STRING, SVC(user), false, 0 },
	{ "backend", "group", KT_STRING, SVC(group), false, 0 },
	{ "backend", "working_directory", KT_ABS_PATH, SVC(working_directory), false, 0 },
	{ "backend", "environment", KT_ENV, 0, true, 0 },
	{ "backend", "ready_command", KT_ARGV, SVC(ready_argv), false, 0 },
	{ "backend", "kill_mode", KT_KILL_MODE, SVC(kill_mode), false, 0 },
};
/* clang-format on */

/* Indexes into service_keys for the cross-field rules. */
enum {
	K_LISTEN = 0,
	K_MAX_CONNECTIONS = 2,
	K_MAX_PENDING = 3,
	K_EXEC = 6,
	K_ADDRESS = 7,
	K_READY = 8,
	K_USER = 12,
	K_GROUP = 13,
	K_WORKING_DIRECTORY = 14,
	K_READY_COMMAND = 16,
};

static const char *const service_sections[] = {"service", "backend", NULL};

/* clang-format off */
static const struct key_def global_keys[] = {
	{ "zeroproxy", "services_dir", KT_PATH, GLB(services_dir), false, 0 },
	{ "zeroproxy", "control_socket", KT_SOCKET_PATH, GLB(control_socket), false, 0 },
	{ "zeroproxy", "state_dir", KT_PATH, GLB(state_dir), false, 0 },
	{ "zeroproxy", "log_level", KT_LOG_LEVEL, GLB(log_level), false, 0 },
	{ "zeroproxy", "metrics_listen", KT_METRICS, 0, false, 0 },
};
/* clang-format on */

enum {
	G_SERVICES_DIR = 0,
	G_CONTROL_SOCKET = 1,
	G_STATE_DIR = 2,
	G_LOG_LEVEL = 3,
	G_METRICS_LISTEN = 4,
};

static const char *const global_sections[] = {"zeroproxy", NULL};

#define MAX_KEYS 32
_Static_assert(ZP_ARRAY_SIZE(service_keys) <= MAX_KEYS, "MAX_KEYS too small");
_Static_assert(ZP_ARRAY_SIZE(global_keys) <= MAX_KEYS, "MAX_KEYS too small");

/* ---- one file being parsed ---- */

struct parser {
	const char *path;
	FILE *f;
	struct zp_diag *d;
	const struct key_def *keys;
	size_t n_keys;
	const char *const *sections; /* NULL-terminated */
	const char *sections_text;   /* "[service] or [backend]" */
	void *target;                /* struct zp_service_config or struct zp_config */
	const char *base_dir;        /* for KT_PATH */

	unsigned line;     /* physical line of the last line handed to inih */
	int section;       /* index into sections, or SEC_NONE / SEC_BAD */
	bool skipped_keys; /* keys were skipped under a bad section header */
	char *raw;         /* getline's buffer */
	size_t raw_cap;
	const char *value;    /* the value of the current line, as the reader cut it */
	bool value_long;      /* inih got "key=" only: use value */
	size_t errors_before; /* d->n_errors when this file began */

	unsigned first[MAX_KEYS]; /* line a key was first given on, 0: never */
	bool set[MAX_KEYS];       /* a key got a valid non-empty value */
	bool bad[MAX_KEYS];       /* a key had an invalid value */

	unsigned *listen_lines; /* line of each s->listen[i] */
	unsigned address_line;
};

enum { SEC_NONE = -1, SEC_BAD = -2 };

/* An error about key k at the current line. */
__attribute__((format(printf, 3, 4))) static void perr(struct parser *p, const struct key_def *k,
						       const char *fmt, ...)
{
	va_list ap;
	char *reason;

	va_start(ap, fmt);
	if (vasprintf(&reason, fmt, ap) < 0)
		abort();
	va_end(ap);
	diag_error(p->d, "%s:%u: [%s] %s: %s", p->path, p->line, k->section, k->name, reason);
	free(reason);
}

static bool key_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > MAX_KEY_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Cut an inline comment: ';' at the start of the value or after whitespace. */
static void strip_inline_comment(char *v)
{
	for (char *c = v; *c; c++)
		if (*c == ';' && (c == v || isspace((unsigned char)c[-1]))) {
			*c = '\0';
			break;
		}
}

static void syntax_error(struct parser *p, const char *expected, const char *line)
{
	char *q = quote(line);
	diag_error(p->d, "%s:%u: expected %s, got %s", p->path, p->line, expected, q);
	free(q);
}

/* A [section] line: 1 to hand it to inih, 0 to skip it. */
static int reader_section(struct parser *p, char *s, char *str, int num)
{
	char *close = strchr(s, ']');
	char *rest = close ? trim(close + 1) : NULL;

	if (!close || (*rest && *rest != ';' && *rest != '#')) {
		syntax_error(p, "[SECTION]", s);
		p->section = SEC_BAD;
		return 0;
	}
	*close = '\0';
	char *name = trim(s + 1);
	for (int i = 0; p->sections[i]; i++)
		if (strcmp(name, p->sections[i]) == 0) {
			p->section = i;
			snprintf(str, (size_t)num, "[%s]\n", name);
			return 1;
		}
	char *q = quote(name);
	diag_error(p->d, "%s:%u: [%s]: unknown section, expected %s", p->path, p->line,
		   strlen(name) > QUOTE_MAX ? q : name, p->sections_text);
	free(q);
	p->section = SEC_BAD;
	return 0;
}

/* A KEY = VALUE line: 1 to hand it to inih, 0 to skip it. */
static int reader_key(struct parser *p, char *s, char *str, int num)
{
	char *eq = strchr(s, '=');
	size_t klen = eq ? (size_t)(eq - s) : 0;

	while (klen > 0 && isspace((unsigned char)s[klen - 1]))
		klen--;
	if (!eq || !key_name_valid(s, klen)) {
		syntax_error(p, "KEY = VALUE or [SECTION]", s);
		return 0;
	}
	char *key = s;
	key[klen] = '\0';
	char *value = trim(eq + 1);
	strip_inline_comment(value);
	value = trim(value);
	if (p->section == SEC_NONE) {
		diag_error(p->d, "%s:%u: %s: key outside of a section, expected %s before it",
			   p->path, p->line, key, p->sections_text);
		return 0;
	}
	if (p->section == SEC_BAD) {
		p->skipped_keys = true; /* its header was reported */
		return 0;
	}
	p->value = value;
	size_t need = strlen(key) + 1 + strlen(value) + 3; /* "\r\n\0", as ini.h asks */
	p->value_long = need > (size_t)num;
	snprintf(str, (size_t)num, "%s=%s\n", key, p->value_long ? "" : value);
	return 1;
}

/* inih's fgets-like reader; see the comment at the top. */
static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;

	for (;;) {
		ssize_t n = getline(&p->raw, &p->raw_cap, p->f);
		if (n < 0)
			return NULL;
		p->line++;
		char *s = p->raw;
		size_t len = (size_t)n;
		if (len > 0 && s[len - 1] == '\n')
			s[--len] = '\0';
		if (len > 0 && s[len - 1] == '\r')
			s[--len] = '\0';
		if (strlen(s) != len) {
			diag_error(p->d, "%s:%u: unexpected NUL byte", p->path, p->line);
			continue;
		}
		if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0) {
			s += 3;
			len -= 3;
		}
		if (len > ZP_CONFIG_MAX_LINE) {
			diag_error(p->d, "%s:%u: line too long (%zu characters, at most %d)",
				   p->path, p->line, len, ZP_CONFIG_MAX_LINE);
			continue;
		}
		s = trim(s);
		if (*s == '\0' || *s == ';' || *s == '#')
			continue;
		if ((*s == '[' ? reader_section(p, s, str, num) : reader_key(p, s, str, num)))
			return str;
	}
}

/* Levenshtein distance of two short strings, case-insensitive. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[MAX_KEY_LEN + 1];

	if (la > MAX_KEY_LEN || lb > MAX_KEY_LEN)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost =
			    tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1])
				? 0
				: 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static void unknown_key(struct parser *p, const char *section, const char *name)
{
	const struct key_def *close = NULL;
	size_t best = 3;

	for (size_t i = 0; i < p->n_keys; i++) {
		if (strcmp(p->keys[i].name, name) == 0) {
			diag_error(p->d, "%s:%u: [%s] %s: unknown key in [%s], %s belongs in [%s]",
				   p->path, p->line, section, name, section, name,
				   p->keys[i].section);
			return;
		}
		size_t dist = edit_distance(p->keys[i].name, name);
		if (dist < best) {
			best = dist;
			close = &p->keys[i];
		}
	}
	if (close && strcmp(close->section, section) == 0)
		diag_error(p->d, "%s:%u: [%s] %s: unknown key, did you mean %s?", p->path, p->line,
			   section, name, close->name);
	else if (close)
		diag_error(p->d, "%s:%u: [%s] %s: unknown key, did you mean %s in [%s]?", p->path,
			   p->line, section, name, close->name, close->section);
	else
		diag_error(p->d, "%s:%u: [%s] %s: unknown key", p->path, p->line, section, name);
}

#define FIELD(p, k, type) ((type *)((char *)(p)->target + (k)->offset))

/* Addresses clash when binding one would fail because of the other: equal, or
 * TCP on the same port where one side is a wildcard covering the other. */
static bool addr_clash(const struct zp_addr *a, const struct zp_addr *b)
{
	if (addr_equal(a, b))
		return true;
	if ((a->kind != ZP_ADDR_INET && a->kind != ZP_ADDR_ANY) ||
	    (b->kind != ZP_ADDR_INET && b->kind != ZP_ADDR_ANY))
		return false;
	/* The port sits at the same offset in sockaddr_in and sockaddr_in6. */
	if (((const struct sockaddr_in *)&a->sa)->sin_port !=
	    ((const struct sockaddr_in *)&b->sa)->sin_port)
		return false;
	if (a->kind == ZP_ADDR_ANY || b->kind == ZP_ADDR_ANY)
		return true; /* dual-stack wildcard (or its 0.0.0.0 fallback) */
	if (a->sa.ss_family != b->sa.ss_family)
		return false; /* explicit v6 sockets are V6ONLY */
	if (a->sa.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == INADDR_ANY ||
		       ((const struct sockaddr_in *)&b->sa)->sin_addr.s_addr == INADDR_ANY;
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr) ||
	       IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&b->sa)->sin6_addr);
}

static bool env_key_valid(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* A command line for exec or ready_command (split like a shell would, but
 * never run by one); NULL with the error reported. */
static char **parse_command(struct parser *p, const struct key_def *k, const char *v, const char *q)
{
	char **argv;
	const char *err = NULL;

	if (split_argv(v, &argv, &err) < 0) {
		perr(p, k, "expected a command line, got %s (%s)", q, err);
		return NULL;
	}
	if (argv[0][0] == '\0') {
		perr(p, k, "expected a command line, got %s (empty program name)", q);
		strv_free(argv);
		return NULL;
	}
	return argv;
}

/* The index of v in names (NULL-terminated), or -1 with the error reported. */
static int parse_name(struct parser *p, const struct key_def *k, const char *v, const char *q,
		      const char *const *names, const char *expected)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(v, names[i]) == 0)
			return i;
	perr(p, k, "expected %s, got %s", expected, q);
	return -1;
}

/* Parse a non-empty value into the target; false (with the error reported) when invalid. */
static bool parse_value(struct parser *p, const struct key_def *k, const char *v)
{
	struct zp_service_config *s = p->target;
	struct zp_config *c = p->target;
	char *q = quote(v);
	bool ok = false;
	const char *err = NULL;
	uint64_t u;
	int r;

	switch (k->type) {
	case KT_DURATION:
		r = parse_duration(v, &u);
		if (r == -ERANGE)
			perr(p, k, "expected a shorter duration (or infinity), got %s", q);
		else if (r < 0)
			perr(p, k,
			     "expected a duration such as 250ms, 30s, 5m, 1h 30m or infinity, got "
			     "%s",
			     q);
		else if (u < k->min)
			perr(p, k, "expected a duration greater than 0, got %s", q);
		else {
			*FIELD(p, k, uint64_t) = u;
			ok = true;
		}
		break;
	case KT_U32:
		r = parse_uint(v, UINT32_MAX, &u);
		if (r < 0 || u < k->min)
			perr(p, k, "expected a whole number from %llu to %u, got %s",
			     (unsigned long long)k->min, UINT32_MAX, q);
		else {
			*FIELD(p, k, uint32_t) = (uint32_t)u;
			ok = true;
		}
		break;
	case KT_ABS_PATH:
		if (v[0] != '/') {
			perr(p, k, "expected an absolute path, got %s", q);
			break;
		}
		/* fall through */
	case KT_STRING:
		free(*FIELD(p, k, char *));
		*FIELD(p, k, char *) = xstrdup(v);
		ok = true;
		break;
	case KT_EXEC: {
		char **argv = parse_command(p, k, v, q);
		if (argv) {
			s->exec = xstrdup(v);
			s->argv = argv;
			ok = true;
		}
		break;
	}
	case KT_ARGV: {
		char **argv = parse_command(p, k, v, q);
		if (argv) {
			strv_free(*FIELD(p, k, char **));
			*FIELD(p, k, char **) = argv;
			ok = true;
		}
		break;
	}
	case KT_LISTEN: {
		struct zp_addr a;
		if (addr_parse(v, true, true, &a, &err) < 0) {
			perr(p, k, "%s, got %s", err, q);
			break;
		}
		for (size_t i = 0; i < s->n_listen; i++)
			if (addr_clash(&a, &s->listen[i])) {
				perr(p, k, "%s is already used by listen = %s at line %u", a.text,
				     s->listen[i].text, p->listen_lines[i]);
				goto done;
			}
		s->listen = realloc(s->listen, (s->n_listen + 1) * sizeof(*s->listen));
		p->listen_lines = realloc(p->listen_lines, (s->n_listen + 1) * sizeof(unsigned));
		if (!s->listen || !p->listen_lines)
			abort();
		p->listen_lines[s->n_listen] = p->line;
		s->listen[s->n_listen++] = a;
		ok = true;
		break;
	}
	case KT_ADDRESS:
		if (addr_parse(v, false, false, &s->address, &err) < 0) {
			perr(p, k, "%s, got %s", err, q);
		} else {
			s->has_address = true;
			p->address_line = p->line;
			ok = true;
		}
		break;
	case KT_READY:
		r = parse_name(p, k, v, q, ready_names, "connect, notify, socket or command");
		if ((ok = r >= 0))
			s->ready = (enum zp_ready)r;
		break;
	case KT_KILL_MODE:
		r = parse_name(p, k, v, q, kill_mode_names, "mixed or control-group");
		if ((ok = r >= 0))
			s->kill_mode = (enum zp_kill_mode)r;
		break;
	case KT_SIGNAL:
		if (parse_signal(v, FIELD(p, k, int)) < 0)
			perr(p, k,
			     "expected a signal name such as SIGTERM or TERM, or a number from 1 "
			     "to 64, got %s",
			     q);
		else
			ok = true;
		break;
	case KT_ENV: {
		const char *eq = strchr(v, '=');
		size_t n = eq ? (size_t)(eq - v) : 0;
		if (!eq || !env_key_valid(v, n)) {
			perr(p, k,
			     "expected KEY=VALUE with a KEY of letters, digits and _ not starting "
			     "with a digit, got %s",
			     q);
			break;
		}
		/* A later value for the same KEY replaces the earlier, as in systemd. */
		for (size_t i = 0; s->environment && s->environment[i]; i++)
			if (strncmp(s->environment[i], v, n + 1) == 0) {
				free(s->environment[i]);
				s->environment[i] = xstrdup(v);
				ok = true;
				goto done;
			}
		if (strv_push(&s->environment, v) < 0)
			abort();
		ok = true;
		break;
	}
	case KT_PATH:
	case KT_SOCKET_PATH: {
		char *path = path_join(p->base_dir, v);
		if (k->type == KT_SOCKET_PATH &&
		    strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
			perr(p, k, "expected a socket path of at most 107 bytes, got %s", q);
			free(path);
			break;
		}
		free(*FIELD(p, k, char *));
		*FIELD(p, k, char *) = path;
		ok = true;
		break;
	}
	case KT_LOG_LEVEL:
		if (log_parse_level(v, FIELD(p, k, int)) < 0)
			perr(p, k, "expected error, warning, notice, info or debug, got %s", q);
		else
			ok = true;
		break;
	case KT_METRICS:
		r = addr_parse(v, false, false, &c->metrics_listen, &err);
		if (r == 0 && c->metrics_listen.kind == ZP_ADDR_INET) {
			c->has_metrics = true;
			ok = true;
			break;
		}
		/* Keep a specific reason (a bad port), else name the forms accepted here. */
		if (r < 0 && !strstr(err, "expected HOST:PORT") && strncmp(v, "unix:", 5) != 0 &&
		    strncmp(v, "systemd:", 8) != 0 && strncmp(v, "*:", 2) != 0)
			perr(p, k, "%s, got %s", err, q);
		else
			perr(p, k, "expected HOST:PORT or [V6]:PORT, got %s", q);
		memset(&c->metrics_listen, 0, sizeof(c->metrics_listen));
		break;
	}
done:
	free(q);
	return ok;
}

/* Reset a key to its default on an empty value. */
static void reset_value(struct parser *p, const struct key_def *k)
{
	struct zp_service_config *s = p->target;
	struct zp_config *c = p->target;

	switch (k->type) {
	case KT_STRING:
	case KT_ABS_PATH:
		free(*FIELD(p, k, char *));
		*FIELD(p, k, char *) = NULL;
		break;
	case KT_ADDRESS: s->has_address = false; break;
	case KT_METRICS: c->has_metrics = false; break;
	default:
		/* Not given twice, so the field still holds its default; repeatable keys
		 * with an empty value add nothing. */
		break;
	}
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	const char *v = p->value_long ? p->value : value;
	const struct key_def *k = NULL;
	size_t i;

	if (p->section < 0 || strcmp(section, p->sections[p->section]) != 0) {
		/* Cannot happen: the reader hands inih only lines of known sections. */
		diag_error(p->d, "%s:%u: internal error: section %s", p->path, p->line, section);
		return 1;
	}
	for (i = 0; i < p->n_keys; i++)
		if (strcmp(p->keys[i].section, section) == 0 &&
		    strcmp(p->keys[i].name, name) == 0) {
			k = &p->keys[i];
			break;
		}
	if (!k) {
		unknown_key(p, section, name);
		return 1;
	}
	if (p->first[i] && !k->repeatable) {
		perr(p, k, "given twice, first at line %u", p->first[i]);
		return 1;
	}
	if (!p->first[i])
		p->first[i] = p->line;
	if (*v == '\0') {
		reset_value(p, k);
		if (!k->repeatable)
			p->set[i] = false;
		return 1;
	}
	if (parse_value(p, k, v))
		p->set[i] = true;
	else
		p->bad[i] = true;
	return 1;
}

/* Run inih over an open file. Returns the number of errors it added. */
static size_t parse_file(struct parser *p)
{
	p->section = SEC_NONE;
	p->errors_before = p->d->n_errors;
	int r = ini_parse_stream(reader, p, handler, p);
	if (ferror(p->f))
		diag_error(p->d, "%s: cannot read: %s", p->path, strerror(errno));
	else if (r != 0 && p->d->n_errors == p->errors_before)
		diag_error(p->d, "%s:%u: cannot parse this line", p->path, p->line);
	free(p->raw);
	p->raw = NULL;
	return p->d->n_errors - p->errors_before;
}

/* Open a config file for reading; NULL with errno set. Directories and other
 * non-regular files are refused up front (a FIFO would block). */
static FILE *open_config(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return NULL;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return NULL;
	}
	return fopen(path, "re");
}

static const char *open_error(int e)
{
	return e == EINVAL ? "not a regular file" : strerror(e);
}

/* ---- services ---- */

void service_config_free(struct zp_service_config *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->path);
	free(s->listen);
	free(s->exec);
	strv_free(s->argv);
	strv_free(s->ready_argv);
	free(s->user);
	free(s->group);
	free(s->working_directory);
	strv_free(s->environment);
	free(s);
}

/* The value of PATH for the backend: its own environment = PATH=..., else ours. */
static const char *exec_search_path(const struct zp_service_config *s)
{
	for (size_t i = 0; s->environment && s->environment[i]; i++)
		if (strncmp(s->environment[i], "PATH=", 5) == 0)
			return s->environment[i] + 5;
	const char *env = getenv("PATH");
	return env && *env ? env : "/usr/local/bin:/usr/bin:/bin";
}

/* 0 when path is an executable regular file, else -errno. */
static int check_executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return -EACCES;
	return 0;
}

/* Warnings only: the program is looked up again at each start, where a missing
 * one is a start failure; `zeroproxy check` tells early. */
static void warn_exec(struct parser *p, const struct zp_service_config *s, unsigned line)
{
	const char *prog = s->argv[0];
	int r;

	if (strchr(prog, '/')) {
		char *full = prog[0] != '/' && s->working_directory
				 ? path_join(s->working_directory, prog)
				 : xstrdup(prog);
		r = check_executable(full);
		if (r < 0)
			diag_warning(p->d, "%s:%u: [backend] exec: cannot execute %s: %s", p->path,
				     line, full, strerror(-r));
		free(full);
		return;
	}
	const char *search = exec_search_path(s);
	char *copy = xstrdup(search), *save = NULL, *found_bad = NULL;
	int bad_err = 0;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full = path_join(*dir ? dir : ".", prog);
		r = check_executable(full);
		if (r == 0) {
			free(full);
			free(found_bad);
			free(copy);
			return;
		}
		if (r != -ENOENT && r != -ENOTDIR && !found_bad) {
			found_bad = full;
			bad_err = -r;
		} else {
			free(full);
		}
	}
	if (found_bad)
		diag_warning(p->d, "%s:%u: [backend] exec: cannot execute %s: %s", p->path, line,
			     found_bad, strerror(bad_err));
	else
		diag_warning(p->d, "%s:%u: [backend] exec: program %s not found in PATH (%s)",
			     p->path, line, prog, search);
	free(found_bad);
	free(copy);
}

static void warn_working_directory(struct parser *p, const struct zp_service_config *s,
				   unsigned line)
{
	struct stat st;

	if (stat(s->working_directory, &st) < 0)
		diag_warning(p->d, "%s:%u: [backend] working_directory: cannot access %s: %s",
			     p->path, line, s->working_directory, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		diag_warning(p->d, "%s:%u: [backend] working_directory: %s is not a directory",
			     p->path, line, s->working_directory);
}

/* Warnings only, like warn_exec: the user and group are looked up again at
 * each start, where a missing one fails the start. */
static void warn_credentials(struct parser *p, const struct zp_service_config *s)
{
	static const size_t keys[] = {K_USER, K_GROUP};

	for (size_t i = 0; i < ZP_ARRAY_SIZE(keys); i++) {
		const char *what = service_keys[keys[i]].name;
		const char *name = i == 0 ? s->user : s->group;
		if (!name)
			continue;
		errno = 0;
		if (i == 0 ? getpwnam(name) != NULL : getgrnam(name) != NULL)
			continue;
		int e = errno;
		unsigned line = p->first[keys[i]];
		/* "Not found" may come with any of these, says getpwnam(3). */
		if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM)
			diag_warning(p->d, "%s:%u: [backend] %s: no such %s %s", p->path, line,
				     what, what, name);
		else
			diag_warning(p->d, "%s:%u: [backend] %s: cannot look up %s: %s", p->path,
				     line, what, name, strerror(e));
	}
}

/* A required service key k with no value: at the line of its (empty) value
 * when it was written, at the file when it was left out. */
static void required(struct parser *p, size_t k, const char *what)
{
	const struct key_def *key = &service_keys[k];

	if (p->first[k])
		diag_error(p->d, "%s:%u: [%s] %s: %s, got an empty value", p->path, p->first[k],
			   key->section, key->name, what);
	else
		diag_error(p->d, "%s: [%s] %s: %s, not given", p->path, key->section, key->name,
			   what);
}

/* ready = command needs ready_command, and ready_command needs ready =
 * command; the second of the two keys is the one in error. */
static void ready_command_check(struct parser *p, const struct zp_service_config *s)
{
	const struct key_def *ready = &service_keys[K_READY];
	const struct key_def *cmd = &service_keys[K_READY_COMMAND];

	if (p->bad[K_READY] || p->bad[K_READY_COMMAND])
		return;
	if (s->ready == ZP_READY_COMMAND && !s->ready_argv) {
		p->line = p->first[K_READY];
		perr(p, ready, "command needs ready_command, not given");
	} else if (s->ready != ZP_READY_COMMAND && s->ready_argv) {
		if (p->first[K_READY] > p->first[K_READY_COMMAND]) {
			p->line = p->first[K_READY];
			perr(p, ready, "ready_command (line %u) needs ready = command, got %s",
			     p->first[K_READY_COMMAND], ready_name(s->ready));
		} else {
			p->line = p->first[K_READY_COMMAND];
			perr(p, cmd, "only with ready = command, ready is %s",
			     ready_name(s->ready));
		}
	}
}

/* The rules between keys of one file, once all of it is read. */
static void service_finish(struct parser *p, struct zp_service_config *s)
{
	/* The default max_pending follows a max_connections set lower; one written
	 * out must fit. */
	if (!p->set[K_MAX_PENDING] && s->max_pending > s->max_connections)
		s->max_pending = s->max_connections;
	if (p->set[K_MAX_PENDING] && !p->bad[K_MAX_CONNECTIONS] &&
	    s->max_pending > s->max_connections) {
		p->line = p->first[K_MAX_PENDING];
		perr(p, &service_keys[K_MAX_PENDING],
		     "expected at most max_connections (%u), got \"%u\"", s->max_connections,
		     s->max_pending);
	}

	if (s->has_address) {
		for (size_t i = 0; i < s->n_listen; i++)
			if (addr_clash(&s->address, &s->listen[i])) {
				p->line = p->address_line;
				perr(p, &service_keys[K_ADDRESS],
				     "%s is already used by listen = %s at line %u",
				     s->address.text, s->listen[i].text, p->listen_lines[i]);
				break;
			}
	}

	/* "Required" would only echo an error at a bad section header. */
	if (!p->skipped_keys) {
		if (s->n_listen == 0 && !p->bad[K_LISTEN])
			required(p, K_LISTEN, "required");
		if (!s->exec && !p->bad[K_EXEC])
			required(p, K_EXEC, "required");
		if (!s->has_address && s->ready != ZP_READY_SOCKET && !p->bad[K_ADDRESS] &&
		    !p->bad[K_READY])
			required(p, K_ADDRESS, "required unless ready = socket");
	}

	ready_command_check(p, s);

	if (s->argv)
		warn_exec(p, s, p->first[K_EXEC]);
	if (s->working_directory)
		warn_working_directory(p, s, p->first[K_WORKING_DIRECTORY]);
	warn_credentials(p, s);
}

/* Parse one service file. Always returns the struct (with what was valid) so
 * that config_load can check the listen addresses of every file; *lines gets
 * the line of each listen and *address_line that of address. */
static struct zp_service_config *service_parse(const char *path, const char *name,
					       struct zp_diag *d, unsigned **lines,
					       unsigned *address_line, size_t *n_errors)
{
	struct zp_service_config *s = xcalloc(1, sizeof(*s));
	struct parser p = {
	    .path = path,
	    .d = d,
	    .keys = service_keys,
	    .n_keys = ZP_ARRAY_SIZE(service_keys),
	    .sections = service_sections,
	    .sections_text = "[service] or [backend]",
	    .target = s,
	    .base_dir = ".",
	};

	s->name = xstrdup(name);
	s->path = xstrdup(path);
	s->idle_timeout_ms = ZP_DEFAULT_IDLE_TIMEOUT_MS;
	s->max_connections = ZP_DEFAULT_MAX_CONNECTIONS;
	s->max_pending = ZP_DEFAULT_MAX_PENDING;
	s->pending_timeout_ms = ZP_DEFAULT_PENDING_TIMEOUT_MS;
	s->connection_idle_timeout_ms = ZP_DEFAULT_CONN_IDLE_TIMEOUT_MS;
	s->ready = ZP_READY_CONNECT;
	s->start_timeout_ms = ZP_DEFAULT_START_TIMEOUT_MS;
	s->stop_signal = SIGTERM;
	s->stop_timeout_ms = ZP_DEFAULT_STOP_TIMEOUT_MS;
	s->kill_mode = ZP_KILL_MIXED;

	size_t before = d->n_errors;
	p.f = open_config(path);
	if (!p.f) {
		diag_error(d, "%s: cannot read: %s", path, open_error(errno));
	} else {
		parse_file(&p);
		fclose(p.f);
		service_finish(&p, s);
	}
	*n_errors = d->n_errors - before;
	*lines = p.listen_lines;
	*address_line = p.address_line;
	return s;
}

struct zp_service_config *service_config_load(const char *path, const char *name, struct zp_diag *d)
{
	unsigned *lines, address_line;
	size_t n_errors;
	struct zp_service_config *s =
	    service_parse(path, name, d, &lines, &address_line, &n_errors);

	free(lines);
	if (n_errors) {
		service_config_free(s);
		return NULL;
	}
	return s;
}

/* ---- the whole configuration ---- */

void config_free(struct zp_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->services_dir);
	free(c->control_socket);
	free(c->state_dir);
	for (size_t i = 0; i < c->n_services; i++)
		service_config_free(c->services[i]);
	free(c->services);
	free(c);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_service(const void *a, const void *b)
{
	return strcmp((*(struct zp_service_config *const *)a)->name,
		      (*(struct zp_service_config *const *)b)->name);
}

/* The names of the *.conf files in dir, sorted; NULL with errno on failure. */
static char **list_service_files(const char *dir, size_t *n)
{
	DIR *dh = opendir(dir);
	char **v = NULL;
	struct dirent *de;

	*n = 0;
	if (!dh)
		return NULL;
	while ((de = readdir(dh))) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		if (strv_push(&v, de->d_name) < 0)
			abort();
		(*n)++;
	}
	closedir(dh);
	if (!v)
		v = xcalloc(1, sizeof(char *));
	qsort(v, *n, sizeof(char *), cmp_str);
	return v;
}

/* Where each service's listen and address were written, for cross-file checks. */
struct service_lines {
	unsigned *listen;
	unsigned address;
};

/* Listen addresses are unique across services; a backend address and
 * metrics_listen must not be anyone's listen address. */
static void check_across(struct zp_config *c, struct service_lines *lines, struct zp_diag *d,
			 unsigned metrics_line)
{
	for (size_t i = 0; i < c->n_services; i++) {
		struct zp_service_config *s = c->services[i];
		for (size_t j = 0; j < c->n_services; j++) {
			struct zp_service_config *o = c->services[j];
			if (j == i)
				continue;
			for (size_t li = 0; j < i && li < s->n_listen; li++)
				for (size_t lj = 0; lj < o->n_listen; lj++)
					if (addr_clash(&s->listen[li], &o->listen[lj])) {
						diag_error(
						    d,
						    "%s:%u: [service] listen: %s is already used "
						    "by service %s (listen = %s at %s:%u)",
						    s->path, lines[i].listen[li],
						    s->listen[li].text, o->name, o->listen[lj].text,
						    o->path, lines[j].listen[lj]);
						break;
					}
			for (size_t lj = 0; s->has_address && lj < o->n_listen; lj++)
				if (addr_clash(&s->address, &o->listen[lj])) {
					diag_error(d,
						   "%s:%u: [backend] address: %s is already used "
						   "by service %s (listen = %s at %s:%u)",
						   s->path, lines[i].address, s->address.text,
						   o->name, o->listen[lj].text, o->path,
						   lines[j].listen[lj]);
					break;
				}
		}
		for (size_t li = 0; c->has_metrics && li < s->n_listen; li++)
			if (addr_clash(&c->metrics_listen, &s->listen[li])) {
				diag_error(d,
					   "%s:%u: [zeroproxy] metrics_listen: %s is already used "
					   "by service %s (listen = %s at %s:%u)",
					   c->path, metrics_line, c->metrics_listen.text, s->name,
					   s->listen[li].text, s->path, lines[i].listen[li]);
				break;
			}
	}
}

/* The folder relative paths in path are resolved against, made absolute so
 * that nothing depends on the daemon's working directory later. */
static char *config_base_dir(const char *path)
{
	char *dir = path_dirname(path);
	if (dir[0] == '/')
		return dir;
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return dir;
	char *abs = strcmp(dir, ".") == 0 ? xstrdup(cwd) : path_join(cwd, dir);
	free(cwd);
	free(dir);
	return abs;
}

static void load_services(struct zp_config *c, struct zp_diag *d, unsigned services_dir_line,
			  unsigned metrics_line)
{
	size_t n_files;
	char **files = list_service_files(c->services_dir, &n_files);

	if (!files) {
		int e = errno;
		if (services_dir_line)
			diag_error(d, "%s:%u: [zeroproxy] services_dir: cannot open %s: %s",
				   c->path, services_dir_line, c->services_dir, strerror(e));
		else if (e == ENOENT)
			diag_warning(d,
				     "%s: [zeroproxy] services_dir: %s does not exist, no services",
				     c->path, c->services_dir);
		else
			diag_error(d, "%s: [zeroproxy] services_dir: cannot open %s: %s", c->path,
				   c->services_dir, strerror(e));
		return;
	}

	struct service_lines *lines = xcalloc(n_files, sizeof(*lines));
	c->services = xcalloc(n_files, sizeof(*c->services));
	for (size_t i = 0; i < n_files; i++) {
		char *full = path_join(c->services_dir, files[i]);
		char *name = xasprintf("%.*s", (int)(strlen(files[i]) - 5), files[i]);
		struct stat st;
		size_t n_errors;

		if (stat(full, &st) < 0)
			diag_error(d, "%s: cannot read: %s", full, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			diag_error(d, "%s: is a directory, expected a service file", full);
		else if (!service_name_valid(name))
			diag_error(d,
				   "%s: invalid service name \"%s\", expected letters, digits, _ . "
				   "and - (at most 64)",
				   full, name);
		else {
			size_t k = c->n_services++;
			c->services[k] = service_parse(full, name, d, &lines[k].listen,
						       &lines[k].address, &n_errors);
		}
		free(name);
		free(full);
	}
	strv_free(files);

	/* readdir order was sorted by file name; sort by service name all the same. */
	check_across(c, lines, d, metrics_line);
	for (size_t i = 0; i < c->n_services; i++)
		free(lines[i].listen);
	free(lines);
	qsort(c->services, c->n_services, sizeof(*c->services), cmp_service);
}

/* Parse the global file into a new config with no services; *services_dir_line
 * and *metrics_line say where those keys were set (0: not set). */
static struct zp_config *load_global(const char *path, bool explicit_path, struct zp_diag *d,
				     unsigned *services_dir_line, unsigned *metrics_line)
{
	struct zp_config *c = xcalloc(1, sizeof(*c));
	char *base;

	c->path = xstrdup(path ? path : DEFAULT_CONFIG_PATH);
	base = config_base_dir(c->path);
	c->services_dir = path_join(base, DEFAULT_SERVICES_DIR);
	c->control_socket = xstrdup(DEFAULT_CONTROL_SOCKET);
	c->state_dir = xstrdup(DEFAULT_STATE_DIR);
	c->log_level = LOG_INFO;

	struct parser p = {
	    .path = c->path,
	    .d = d,
	    .keys = global_keys,
	    .n_keys = ZP_ARRAY_SIZE(global_keys),
	    .sections = global_sections,
	    .sections_text = "[zeroproxy]",
	    .target = c,
	    .base_dir = base,
	};
	p.f = open_config(c->path);
	if (p.f) {
		parse_file(&p);
		fclose(p.f);
	} else if (errno != ENOENT || explicit_path) {
		diag_error(d, "%s: cannot read: %s", c->path, open_error(errno));
	}
	/* An empty value means the default; reset_value left the paths alone. */
	if (p.first[G_SERVICES_DIR] && !p.set[G_SERVICES_DIR]) {
		free(c->services_dir);
		c->services_dir = path_join(base, DEFAULT_SERVICES_DIR);
	}
	if (p.first[G_CONTROL_SOCKET] && !p.set[G_CONTROL_SOCKET]) {
		free(c->control_socket);
		c->control_socket = xstrdup(DEFAULT_CONTROL_SOCKET);
	}
	if (p.first[G_STATE_DIR] && !p.set[G_STATE_DIR]) {
		free(c->state_dir);
		c->state_dir = xstrdup(DEFAULT_STATE_DIR);
	}
	if (p.first[G_LOG_LEVEL] && !p.set[G_LOG_LEVEL])
		c->log_level = LOG_INFO;
	free(base);
	*services_dir_line = p.set[G_SERVICES_DIR] ? p.first[G_SERVICES_DIR] : 0;
	*metrics_line = p.first[G_METRICS_LISTEN];
	return c;
}

int config_load_global(const char *path, bool explicit_path, struct zp_config **out,
		       struct zp_diag *d)
{
	size_t before = d->n_errors;
	unsigned services_dir_line, metrics_line;
	struct zp_config *c =
	    load_global(path, explicit_path, d, &services_dir_line, &metrics_line);

	*out = NULL;
	if (d->n_errors > before) {
		config_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

int config_load(const char *path, bool explicit_path, struct zp_config **out, struct zp_diag *d)
{
	size_t before = d->n_errors;
	unsigned services_dir_line, metrics_line;
	struct zp_config *c =
	    load_global(path, explicit_path, d, &services_dir_line, &metrics_line);

	*out = NULL;
	load_services(c, d, services_dir_line, metrics_line);
	if (d->n_errors > before) {
		config_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

struct zp_service_config *config_find(const struct zp_config *c, const char *name)
{
	size_t lo = 0, hi = c->n_services;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(name, c->services[mid]->name);
		if (r == 0)
			return c->services[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static bool str_equal(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool strv_equal(char *const *a, char *const *b)
{
	size_t n = strv_length(a);

	if (n != strv_length(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool addr_same(const struct zp_addr *a, const struct zp_addr *b)
{
	return addr_equal(a, b) && strcmp(a->text, b->text) == 0;
}

bool service_config_equal(const struct zp_service_config *a, const struct zp_service_config *b)
{
	if (!str_equal(a->name, b->name) || a->n_listen != b->n_listen)
		return false;
	for (size_t i = 0; i < a->n_listen; i++)
		if (!addr_same(&a->listen[i], &b->listen[i]))
			return false;
	if (a->has_address != b->has_address ||
	    (a->has_address && !addr_same(&a->address, &b->address)))
		return false;
	return a->idle_timeout_ms == b->idle_timeout_ms &&
	       a->max_connections == b->max_connections && a->max_pending == b->max_pending &&
	       a->pending_timeout_ms == b->pending_timeout_ms &&
	       a->connection_idle_timeout_ms == b->connection_idle_timeout_ms &&
	       str_equal(a->exec, b->exec) && strv_equal(a->argv, b->argv) &&
	       a->ready == b->ready && a->start_timeout_ms == b->start_timeout_ms &&
	       a->stop_signal == b->stop_signal && a->stop_timeout_ms == b->stop_timeout_ms &&
	       strv_equal(a->ready_argv, b->ready_argv) && a->kill_mode == b->kill_mode &&
	       str_equal(a->user, b->user) && str_equal(a->group, b->group) &&
	       str_equal(a->working_directory, b->working_directory) &&
	       strv_equal(a->environment, b->environment);
}

void config_print_summary(const struct zp_config *c, FILE *f)
{
	if (c->n_services == 0) {
		fprintf(f, "no services in %s\n", c->services_dir);
		return;
	}
	for (size_t i = 0; i < c->n_services; i++) {
		const struct zp_service_config *s = c->services[i];
		char idle[64];

		fprintf(f, "%s: listen ", s->name);
		for (size_t j = 0; j < s->n_listen; j++)
			fprintf(f, "%s%s", j ? ", " : "", s->listen[j].text);
		format_duration(s->idle_timeout_ms, idle, sizeof(idle));
		fprintf(f, " -> backend %s (ready=%s), exec %s, idle_timeout %s\n",
			s->has_address ? s->address.text : "private socket", ready_name(s->ready),
			s->argv ? s->argv[0] : "-", idle);
	}
}
