/*
 * conf_parser — reading one configuration file against a key table; see
 * conf_parser.h.
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
 *   - reports malformed lines, over-long lines (CONF_MAX_LINE) and unknown
 *     sections itself, at their own line, and never hands them to inih;
 *   - hands inih "key=value" — or just "key=" when that would not fit inih's
 *     buffer, in which case the handler takes the value the reader kept.
 * The handler finds the key's row and calls its parse function. Every error is
 * collected (never only the first); the caller's cross-field rules run after
 * conf_parse() and ask about keys by name.
 */
#include "conf_parser.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"
#include "util.h"

/* Longest physical line accepted; longer is an error, never a truncation. */
#define CONF_MAX_LINE 4096
/* Longest key name; anything longer cannot be a key of ours. */
#define MAX_KEY_LEN 64
/* Quoted values in messages are cut after this many bytes. */
#define QUOTE_MAX 80

enum { SEC_NONE = -1, SEC_BAD = -2 };

/* How a key fared in the file (or in the current block of a named section);
 * conf_parse() allocates one per row of the table. */
struct conf_key_state {
	unsigned first; /* line it was first given on, 0: never */
	bool set;       /* got a valid non-empty value */
	bool bad;       /* had an invalid value */
};

char *conf_quote(const char *s)
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

/* "a", "a or b", "a, b or c" of the n strings items. Malloc'd. */
static char *join_or(const char *const *items, size_t n)
{
	char *out = xstrdup("");

	for (size_t i = 0; i < n; i++) {
		const char *sep = ", ";
		if (i == 0)
			sep = "";
		else if (i + 1 == n)
			sep = " or ";
		char *next = xasprintf("%s%s%s", out, sep, items[i]);
		free(out);
		out = next;
	}
	return out;
}

/* ---- the keys, by name ---- */

static const char *key_id(const struct conf_key *k)
{
	return k->id ? k->id : k->name;
}

const struct conf_key *conf_key(const struct conf_parser *p, const char *name)
{
	for (size_t i = 0; i < p->n_keys; i++)
		if (strcmp(key_id(&p->keys[i]), name) == 0)
			return &p->keys[i];
	fprintf(stderr, "conf_parser: %s: no key %s in the table\n", p->path, name);
	abort();
}

static const struct conf_key_state *key_state(const struct conf_parser *p, const char *name)
{
	static const struct conf_key_state never;
	size_t i = (size_t)(conf_key(p, name) - p->keys);

	return p->state ? &p->state[i] : &never;
}

unsigned conf_key_line(const struct conf_parser *p, const char *name)
{
	return key_state(p, name)->first;
}

bool conf_key_set(const struct conf_parser *p, const char *name)
{
	return key_state(p, name)->set;
}

bool conf_key_bad(const struct conf_parser *p, const char *name)
{
	return key_state(p, name)->bad;
}

const char *conf_key_later(const struct conf_parser *p, const char *a, const char *b)
{
	return conf_key_line(p, a) > conf_key_line(p, b) ? a : b;
}

bool conf_skipped_keys(const struct conf_parser *p)
{
	return p->skipped_keys;
}

/* Names are what the rules look keys up by: two rows of one name would leave
 * the second unreachable. */
static void check_table(const struct conf_parser *p)
{
	for (size_t i = 0; i < p->n_keys; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(key_id(&p->keys[i]), key_id(&p->keys[j])) == 0) {
				fprintf(stderr, "conf_parser: key %s twice in the table\n",
					key_id(&p->keys[i]));
				abort();
			}
}

/* ---- messages ---- */

static void key_vmessage(struct conf_parser *p, bool error, const struct conf_key *k, unsigned line,
			 const char *fmt, va_list ap)
{
	char *reason, *where, *section;

	if (vasprintf(&reason, fmt, ap) < 0)
		abort();
	where = line ? xasprintf("%s:%u", p->path, line) : xstrdup(p->path);
	/* A key of the named block being read carries the block's ARG. */
	if (p->block && strcmp(k->section, p->sections[p->section].name) == 0)
		section = xasprintf("%s %s", k->section, p->block_arg);
	else
		section = xstrdup(k->section);
	if (error)
		diag_error(p->d, "%s: [%s] %s: %s", where, section, k->name, reason);
	else
		diag_warning(p->d, "%s: [%s] %s: %s", where, section, k->name, reason);
	free(section);
	free(where);
	free(reason);
}

void conf_error(struct conf_parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	key_vmessage(p, true, p->key, p->line, fmt, ap);
	va_end(ap);
}

void conf_key_error(struct conf_parser *p, const char *name, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	key_vmessage(p, true, conf_key(p, name), line, fmt, ap);
	va_end(ap);
}

void conf_key_warning(struct conf_parser *p, const char *name, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	key_vmessage(p, false, conf_key(p, name), line, fmt, ap);
	va_end(ap);
}

/* ---- the reader ---- */

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

static void syntax_error(struct conf_parser *p, const char *expected, const char *line)
{
	char *q = conf_quote(line);
	diag_error(p->d, "%s:%u: expected %s, got %s", p->path, p->line, expected, q);
	free(q);
}

/* The end of the current section's block: a named one runs its own rules. */
static void end_block(struct conf_parser *p)
{
	if (p->block && p->sections[p->section].close)
		p->sections[p->section].close(p);
	p->block = NULL;
	free(p->block_arg);
	p->block_arg = NULL;
}

/* Enter the named section sec at a [NAME ARG] header: 0, or -EINVAL when its
 * open hook refused ARG. */
static int open_block(struct conf_parser *p, const struct conf_section *sec, const char *arg)
{
	for (size_t i = 0; i < p->n_keys; i++)
		if (strcmp(p->keys[i].section, sec->name) == 0)
			memset(&p->state[i], 0, sizeof(p->state[i]));
	p->block_arg = xstrdup(arg);
	p->section = (int)(sec - p->sections); /* for the hook's messages */
	p->block = sec->open(p, arg);
	if (p->block)
		return 0;
	free(p->block_arg);
	p->block_arg = NULL;
	return -EINVAL;
}

/* A [section] line: 1 to hand it to inih, 0 to skip it. */
static int reader_section(struct conf_parser *p, char *s, char *str, int num)
{
	char *close = strchr(s, ']');
	char *rest = close ? trim(close + 1) : NULL;

	end_block(p);
	if (!close || (*rest && *rest != ';' && *rest != '#')) {
		syntax_error(p, "[SECTION]", s);
		p->section = SEC_BAD;
		return 0;
	}
	*close = '\0';
	char *name = trim(s + 1);
	size_t n = strcspn(name, " \t");
	const char *arg = name + n + strspn(name + n, " \t");
	for (size_t i = 0; i < p->n_sections; i++) {
		const struct conf_section *sec = &p->sections[i];
		if (strlen(sec->name) != n || strncmp(name, sec->name, n) != 0 ||
		    !sec->open != !*arg)
			continue;
		if (sec->open && open_block(p, sec, arg) < 0) {
			p->section = SEC_BAD;
			return 0;
		}
		p->section = (int)i;
		snprintf(str, (size_t)num, "[%s]\n", sec->name);
		return 1;
	}
	char *q = conf_quote(name);
	diag_error(p->d, "%s:%u: [%s]: unknown section, expected %s", p->path, p->line,
		   strlen(name) > QUOTE_MAX ? q : name, p->sections_text);
	free(q);
	p->section = SEC_BAD;
	return 0;
}

/* A KEY = VALUE line: 1 to hand it to inih, 0 to skip it. */
static int reader_key(struct conf_parser *p, char *s, char *str, int num)
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
	struct conf_parser *p = stream;

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
		if (len > CONF_MAX_LINE) {
			diag_error(p->d, "%s:%u: line too long (%zu characters, at most %d)",
				   p->path, p->line, len, CONF_MAX_LINE);
			continue;
		}
		s = trim(s);
		if (*s == '\0' || *s == ';' || *s == '#')
			continue;
		if ((*s == '[' ? reader_section(p, s, str, num) : reader_key(p, s, str, num)))
			return str;
	}
}

/* ---- the handler ---- */

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

/* An unknown key in the current section: where it belongs, or the nearest
 * name (table order breaks ties). */
static void unknown_key(struct conf_parser *p, const char *name)
{
	const char *section = p->sections[p->section].name;
	char *label = p->block ? xasprintf("%s %s", section, p->block_arg) : xstrdup(section);
	const struct conf_key *close = NULL;
	size_t best = 3;

	for (size_t i = 0; i < p->n_keys; i++) {
		if (strcmp(p->keys[i].name, name) == 0) {
			diag_error(p->d, "%s:%u: [%s] %s: unknown key in [%s], %s belongs in [%s]",
				   p->path, p->line, label, name, label, name, p->keys[i].section);
			goto out;
		}
		size_t dist = edit_distance(p->keys[i].name, name);
		if (dist < best) {
			best = dist;
			close = &p->keys[i];
		}
	}
	if (close && strcmp(close->section, section) == 0)
		diag_error(p->d, "%s:%u: [%s] %s: unknown key, did you mean %s?", p->path, p->line,
			   label, name, close->name);
	else if (close)
		diag_error(p->d, "%s:%u: [%s] %s: unknown key, did you mean %s in [%s]?", p->path,
			   p->line, label, name, close->name, close->section);
	else
		diag_error(p->d, "%s:%u: [%s] %s: unknown key", p->path, p->line, label, name);
out:
	free(label);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct conf_parser *p = user;
	const char *v = p->value_long ? p->value : value;
	const struct conf_key *k = NULL;

	if (p->section < 0 || strcmp(section, p->sections[p->section].name) != 0) {
		/* Cannot happen: the reader hands inih only lines of known sections. */
		diag_error(p->d, "%s:%u: internal error: section %s", p->path, p->line, section);
		return 1;
	}
	for (size_t i = 0; i < p->n_keys && !k; i++)
		if (strcmp(p->keys[i].section, section) == 0 && strcmp(p->keys[i].name, name) == 0)
			k = &p->keys[i];
	if (!k) {
		unknown_key(p, name);
		return 1;
	}

	struct conf_key_state *st = &p->state[k - p->keys];
	p->key = k;
	if (st->first && !(k->flags & CONF_REPEATABLE)) {
		conf_error(p, "given twice, first at line %u", st->first);
		return 1;
	}
	if (!st->first)
		st->first = p->line;
	if (*v == '\0')
		return 1; /* the default, which the field still holds */

	char *q = conf_quote(v);
	void *target = p->block ? p->block : p->target;
	p->quoted = q;
	if (k->parse(p, k, v, (char *)target + k->offset) == 0)
		st->set = true;
	else
		st->bad = true;
	p->quoted = NULL;
	free(q);
	return 1;
}

/* "[service] or [backend]", "[zeroproxy] or [group NAME]". Malloc'd. */
static char *sections_text(const struct conf_parser *p)
{
	char **items = xcalloc(p->n_sections + 1, sizeof(char *));

	for (size_t i = 0; i < p->n_sections; i++)
		items[i] =
		    xasprintf(p->sections[i].open ? "[%s NAME]" : "[%s]", p->sections[i].name);
	char *text = join_or((const char *const *)items, p->n_sections);
	strv_free(items);
	return text;
}

size_t conf_parse(struct conf_parser *p, FILE *f)
{
	size_t before = p->d->n_errors;

	check_table(p);
	free(p->state);
	p->state = xcalloc(p->n_keys ? p->n_keys : 1, sizeof(*p->state));
	free(p->sections_text);
	p->sections_text = sections_text(p);
	p->f = f;
	p->line = 0;
	p->section = SEC_NONE;
	p->skipped_keys = false;

	int r = ini_parse_stream(reader, p, handler, p);
	end_block(p);
	if (ferror(f))
		diag_error(p->d, "%s: cannot read: %s", p->path, strerror(errno));
	else if (r != 0 && p->d->n_errors == before)
		diag_error(p->d, "%s:%u: cannot parse this line", p->path, p->line);
	free(p->raw);
	p->raw = NULL;
	p->f = NULL;
	return p->d->n_errors - before;
}

void conf_parser_done(struct conf_parser *p)
{
	free(p->state);
	p->state = NULL;
	free(p->sections_text);
	p->sections_text = NULL;
}

FILE *conf_open(const char *path)
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

const char *conf_open_error(int e)
{
	return e == EINVAL ? "not a regular file" : strerror(e);
}

/* ---- the value types ---- */

int conf_parse_duration(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	uint64_t ms;
	int r = parse_duration(v, &ms);

	if (r == -ERANGE)
		conf_error(p, "expected a shorter duration (or infinity), got %s", p->quoted);
	else if (r < 0)
		conf_error(p,
			   "expected a duration such as 250ms, 30s, 5m, 1h 30m or infinity, got %s",
			   p->quoted);
	else if (ms < k->min)
		conf_error(p, "expected a duration greater than 0, got %s", p->quoted);
	else {
		*(uint64_t *)field = ms;
		return 0;
	}
	return -EINVAL;
}

int conf_parse_u32(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	uint64_t u;

	if (parse_uint(v, UINT32_MAX, &u) < 0 || u < k->min) {
		conf_error(p, "expected a whole number from %llu to %u, got %s",
			   (unsigned long long)k->min, UINT32_MAX, p->quoted);
		return -EINVAL;
	}
	*(uint32_t *)field = (uint32_t)u;
	return 0;
}

static void set_string(void *field, char *s)
{
	free(*(char **)field);
	*(char **)field = s;
}

int conf_parse_string(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	set_string(field, xstrdup(v));
	return 0;
}

int conf_parse_abs_path(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	if (v[0] != '/') {
		conf_error(p, "expected an absolute path, got %s", p->quoted);
		return -EINVAL;
	}
	return conf_parse_string(p, k, v, field);
}

int conf_parse_path(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	set_string(field, path_join(p->base_dir, v));
	return 0;
}

int conf_parse_socket_path(struct conf_parser *p, const struct conf_key *k, const char *v,
			   void *field)
{
	char *path = path_join(p->base_dir, v);

	if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		conf_error(p, "expected a socket path of at most 107 bytes, got %s", p->quoted);
		free(path);
		return -EINVAL;
	}
	set_string(field, path);
	return 0;
}

int conf_parse_signal(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	if (parse_signal(v, field) < 0) {
		conf_error(p,
			   "expected a signal name such as SIGTERM or TERM, or a number from 1 to "
			   "64, got %s",
			   p->quoted);
		return -EINVAL;
	}
	return 0;
}

int conf_parse_log_level(struct conf_parser *p, const struct conf_key *k, const char *v,
			 void *field)
{
	if (log_parse_level(v, field) < 0) {
		conf_error(p, "expected error, warning, notice, info or debug, got %s", p->quoted);
		return -EINVAL;
	}
	return 0;
}

int conf_parse_bool(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < ZP_ARRAY_SIZE(yes); i++)
		if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
			*(bool *)field = strcmp(v, yes[i]) == 0;
			return 0;
		}
	conf_error(p, "expected yes or no, got %s", p->quoted);
	return -EINVAL;
}

int conf_parse_enum(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	const char *const *names = k->arg;
	size_t n = 0;

	for (; names[n]; n++)
		if (strcmp(v, names[n]) == 0) {
			*(int *)field = (int)n;
			return 0;
		}
	char *expected = join_or(names, n);
	conf_error(p, "expected %s, got %s", expected, p->quoted);
	free(expected);
	return -EINVAL;
}
