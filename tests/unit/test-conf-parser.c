/*
 * test-conf-parser — the generic configuration reader on tables of its own
 * (zeroproxy's tables are test-config's): the rules ask about keys by name
 * whatever the order of the rows, a table of any size, enum names in the
 * message, named sections ([item NAME]) with their hooks, and a table that
 * could not work (two rows of one name, a rule asking for a key that is not
 * there) stops at once instead of misreading.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf_parser.h"
#include "tap.h"
#include "util.h"

struct thing {
	uint32_t count;
	uint64_t wait_ms;
	char *name;
	int mode;
	uint32_t extra[40];
};

static const char *const mode_names[] = {"fast", "slow", "off", NULL};

#define T(f) .offset = offsetof(struct thing, f)

/* clang-format off */
static const struct conf_key keys[] = {
	{ "main", "count", conf_parse_u32,      T(count), .min = 1 },
	{ "main", "wait",  conf_parse_duration, T(wait_ms) },
	{ "main", "name",  conf_parse_string,   T(name) },
	{ "main", "mode",  conf_parse_enum,     T(mode), .arg = mode_names },
};
static const struct conf_key keys_reversed[] = {
	{ "main", "mode",  conf_parse_enum,     T(mode), .arg = mode_names },
	{ "main", "name",  conf_parse_string,   T(name) },
	{ "main", "wait",  conf_parse_duration, T(wait_ms) },
	{ "main", "count", conf_parse_u32,      T(count), .min = 1 },
};
/* clang-format on */

static const struct conf_section main_only[] = {{.name = "main"}};

/* Parse text with the given table; the errors go to d. */
static void parse_text(struct conf_parser *p, const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	if (!ok(f != NULL, "fmemopen"))
		return;
	conf_parse(p, f);
	fclose(f);
}

static struct conf_parser parser_for(const struct conf_key *k, size_t n, struct thing *t,
				     struct diag *d)
{
	return (struct conf_parser){
	    .path = "t.conf",
	    .d = d,
	    .keys = k,
	    .n_keys = n,
	    .sections = main_only,
	    .n_sections = 1,
	    .target = t,
	    .base_dir = "/base",
	};
}

static const char by_name_text[] = "[main]\n"
				   "mode = slow\n"
				   "\n"
				   "count = 0\n"
				   "wait = 5s\n"
				   "count = 3\n"
				   "mode = loud\n";

/* The same file through a table and through its reverse: every answer by
 * name and every message the same. */
static void test_by_name(void)
{
	struct diag d1 = {0}, d2 = {0};
	struct thing t1 = {0}, t2 = {0};
	struct conf_parser p1 = parser_for(keys, ZP_ARRAY_SIZE(keys), &t1, &d1);
	struct conf_parser p2 = parser_for(keys_reversed, ZP_ARRAY_SIZE(keys), &t2, &d2);

	parse_text(&p1, by_name_text);
	parse_text(&p2, by_name_text);
	static const char *const names[] = {"count", "wait", "name", "mode"};
	static const unsigned want_line[] = {4, 5, 0, 2};
	static const bool want_set[] = {false, true, false, true};
	static const bool want_bad[] = {true, false, false, false};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(names); i++) {
		is_int(conf_key_line(&p1, names[i]), want_line[i], "%s: first line", names[i]);
		is_int(conf_key_line(&p2, names[i]), want_line[i], "%s: first line, reversed table",
		       names[i]);
		ok(conf_key_set(&p1, names[i]) == want_set[i] &&
		       conf_key_set(&p2, names[i]) == want_set[i],
		   "%s: set", names[i]);
		ok(conf_key_bad(&p1, names[i]) == want_bad[i] &&
		       conf_key_bad(&p2, names[i]) == want_bad[i],
		   "%s: bad", names[i]);
	}
	is_int(t1.mode, 1, "mode slow stored");
	is_int((long long)t1.wait_ms, 5000, "wait stored");
	is_int(t2.mode, 1, "mode slow stored, reversed table");
	if (is_int((long long)d1.n_errors, 3, "three errors") &&
	    is_int((long long)d2.n_errors, 3, "three errors, reversed table")) {
		is_str(d1.errors[0],
		       "t.conf:4: [main] count: expected a whole number from 1 to 4294967295, got "
		       "\"0\"",
		       "min of the row");
		is_str(d1.errors[1], "t.conf:6: [main] count: given twice, first at line 4",
		       "given twice, even after a bad value");
		is_str(d1.errors[2], "t.conf:7: [main] mode: given twice, first at line 2",
		       "enum given twice");
		for (size_t i = 0; i < 3; i++)
			is_str(d2.errors[i], d1.errors[i], "message %zu the same, reversed table",
			       i);
	}

	is_str(conf_key_later(&p1, "mode", "wait"), "wait", "wait (line 5) is later than mode (2)");
	is_str(conf_key_later(&p1, "wait", "mode"), "wait", "either way round");
	is_str(conf_key_later(&p1, "name", "mode"), "mode", "a key not given is never later");
	is_str(conf_key_later(&p1, "mode", "name"), "mode", "either way round");

	conf_key_error(&p1, "wait", 0, "needs %s", "count");
	conf_key_warning(&p1, "name", 9, "just a warning");
	is_str(d1.errors[d1.n_errors - 1], "t.conf: [main] wait: needs count",
	       "conf_key_error without a line names the file");
	is_str(d1.n_warnings ? d1.warnings[0] : NULL, "t.conf:9: [main] name: just a warning",
	       "conf_key_warning");
	conf_parser_done(&p1);
	conf_parser_done(&p2);
	free(t1.name);
	free(t2.name);
	diag_free(&d1);
	diag_free(&d2);
}

/* The enum's message lists its names; an empty value keeps the default. */
static void test_enum_and_empty(void)
{
	struct diag d = {0};
	struct thing t = {.mode = 2, .count = 7};
	struct conf_parser p = parser_for(keys, ZP_ARRAY_SIZE(keys), &t, &d);

	parse_text(&p, "[main]\nmode = Fast\ncount =\nname = x ; comment\n");
	if (is_int((long long)d.n_errors, 1, "one error"))
		is_str(d.errors[0],
		       "t.conf:2: [main] mode: expected fast, slow or off, got \"Fast\"",
		       "enum names joined with , and or");
	is_int(t.mode, 2, "a bad enum value leaves the default");
	is_int(t.count, 7, "an empty value leaves the default");
	ok(conf_key_line(&p, "count") == 3 && !conf_key_set(&p, "count"),
	   "an empty value is given but not set");
	is_str(t.name, "x", "inline comment cut");
	conf_parser_done(&p);
	free(t.name);
	diag_free(&d);
}

/* More keys than the old parser's fixed arrays held (16): the state follows
 * the table. */
static void test_big_table(void)
{
	enum { N = 40 };
	struct conf_key big[N];
	char names[N][16];
	struct diag d = {0};
	struct thing t = {0};
	struct conf_parser p = parser_for(big, N, &t, &d);
	char *text = xstrdup("[main]\n");

	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "k%zu", i);
		big[i] = (struct conf_key){
		    .section = "main",
		    .name = names[i],
		    .parse = conf_parse_u32,
		    .offset = offsetof(struct thing, extra) + i * sizeof(uint32_t),
		};
		char *next = xasprintf("%sk%zu = %zu\n", text, i, i + 100);
		free(text);
		text = next;
	}
	parse_text(&p, text);
	is_int((long long)d.n_errors, 0, "40 keys, no errors");
	bool all = true;
	for (size_t i = 0; i < N; i++)
		all = all && conf_key_line(&p, names[i]) == i + 2 && t.extra[i] == i + 100;
	ok(all, "every one of 40 keys has its line and value");
	conf_parser_done(&p);
	free(text);
	diag_free(&d);
}

/* ---- a named section ---- */

struct item {
	char *name;
	uint32_t size;
};

struct items {
	struct item v[4];
	size_t n;
	unsigned closed;
};

static void *item_open(struct conf_parser *p, const char *arg)
{
	struct items *it = p->userdata;

	if (it->n == ZP_ARRAY_SIZE(it->v)) {
		diag_error(p->d, "%s:%u: [item %s]: too many items", p->path, p->line, arg);
		return NULL;
	}
	it->v[it->n].name = xstrdup(arg);
	return &it->v[it->n++];
}

/* The block's own rule: size is required. */
static void item_close(struct conf_parser *p)
{
	struct items *it = p->userdata;

	it->closed++;
	if (!conf_key_set(p, "size"))
		conf_key_error(p, "size", conf_key_line(p, "size"), "required");
}

/* clang-format off */
static const struct conf_key item_keys[] = {
	{ "main", "count", conf_parse_u32, T(count) },
	{ "item", "size",  conf_parse_u32, .offset = offsetof(struct item, size), .min = 1 },
};
/* clang-format on */

static const struct conf_section item_sections[] = {
    {.name = "main"},
    {.name = "item", .open = item_open, .close = item_close},
};

static void test_named_section(void)
{
	struct diag d = {0};
	struct thing t = {0};
	struct items it = {0};
	struct conf_parser p = {
	    .path = "n.conf",
	    .d = &d,
	    .keys = item_keys,
	    .n_keys = ZP_ARRAY_SIZE(item_keys),
	    .sections = item_sections,
	    .n_sections = ZP_ARRAY_SIZE(item_sections),
	    .target = &t,
	    .userdata = &it,
	};
	static const char *const want[] = {
	    "n.conf:1: count: key outside of a section, expected [main] or [item NAME] before it",
	    "n.conf:4: [item a] size: given twice, first at line 3",
	    "n.conf:7: [item b] size: expected a whole number from 1 to 4294967295, got \"0\"",
	    "n.conf:7: [item b] size: required",
	    "n.conf:8: [item]: unknown section, expected [main] or [item NAME]",
	    "n.conf:10: [main x]: unknown section, expected [main] or [item NAME]",
	    "n.conf:12: [item c] count: unknown key in [item c], count belongs in [main]",
	    "n.conf: [item c] size: required",
	};

	parse_text(&p, "count = 1\n"
		       "[item a]\n"
		       "size = 2\n"
		       "size = 3\n"
		       "[main]\n"
		       "[item b]\n"
		       "size = 0\n"
		       "[item]\n"
		       "size = 4\n"
		       "[main x]\n"
		       "[item  c]\n"
		       "count = 5\n"
		       "[main]\n"
		       "count = 6\n");
	is_int((long long)d.n_errors, (long long)ZP_ARRAY_SIZE(want), "named sections: errors");
	for (size_t i = 0; i < d.n_errors && i < ZP_ARRAY_SIZE(want); i++)
		is_str(d.errors[i], want[i], "named sections: error %zu", i + 1);
	is_int((long long)it.n, 3, "three items opened");
	is_int(it.closed, 3, "and closed");
	ok(it.n == 3 && strcmp(it.v[0].name, "a") == 0 && it.v[0].size == 2 &&
	       strcmp(it.v[1].name, "b") == 0 && it.v[1].size == 0 &&
	       strcmp(it.v[2].name, "c") == 0,
	   "each block's keys went into its own item");
	is_int(t.count, 6, "keys of [main] into the target, across blocks");
	ok(conf_skipped_keys(&p), "keys under [item] without a name were skipped");
	conf_parser_done(&p);
	for (size_t i = 0; i < it.n; i++)
		free(it.v[i].name);
	diag_free(&d);
}

/* ---- tables that cannot work ---- */

/* Whether fn dies of SIGABRT (its output silenced: no TAP lines from it). */
static bool aborts(void (*fn)(void))
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(2);
		fn();
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void parse_duplicate_table(void)
{
	static const struct conf_key dup[] = {
	    {"main", "count", conf_parse_u32, T(count)},
	    {"main", "count", conf_parse_u32, T(extra)},
	};
	struct diag d = {0};
	struct thing t = {0};
	struct conf_parser p = parser_for(dup, ZP_ARRAY_SIZE(dup), &t, &d);

	parse_text(&p, "[main]\n");
}

static void ask_unknown_key(void)
{
	struct diag d = {0};
	struct thing t = {0};
	struct conf_parser p = parser_for(keys, ZP_ARRAY_SIZE(keys), &t, &d);

	(void)conf_key_line(&p, "cuont");
}

static void test_bad_tables(void)
{
	ok(aborts(parse_duplicate_table), "two rows of one name abort");
	ok(aborts(ask_unknown_key), "a rule asking for a key not in the table aborts");
}

int main(void)
{
	test_by_name();
	test_enum_and_empty();
	test_big_table();
	test_named_section();
	test_bad_tables();
	return done_testing();
}
