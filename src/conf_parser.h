/*
 * conf_parser — the generic half of the configuration language, below
 * config.c: the INI reader (line numbers, our own comment and continuation
 * rules, over inih), key tables whose rows name one parse function per value
 * type (as systemd's conf-parser does), the per-key bookkeeping that
 * cross-field rules ask about by key NAME, and the "PATH:LINE: [section] key:
 * reason" messages. Nothing here knows zeroproxy's keys.
 *
 * Adding a key is one row in its table: the section, the name, a parse
 * function (one of conf_parse_* or the owner's own) and the offset of the
 * field it fills. An empty value never reaches the parse function: it leaves
 * the field at its default, which it still holds because a key is stored at
 * most once (a second one is "given twice"; a repeatable key's empty value
 * adds nothing).
 */
#ifndef ZP_CONF_PARSER_H
#define ZP_CONF_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"

struct conf_parser;
struct conf_key;
struct conf_key_state;

/* Store a non-empty value into field (the key's offset in its target). 0, or
 * -EINVAL once the reason is reported with conf_error(). */
typedef int (*conf_parse_fn)(struct conf_parser *p, const struct conf_key *k, const char *value,
			     void *field);

enum conf_key_flags {
	CONF_REPEATABLE = 1 << 0, /* each value adds one (listen, environment) */
};

struct conf_key {
	const char *section; /* without brackets */
	const char *name;    /* what the file says */
	conf_parse_fn parse;
	size_t offset;   /* of the field in the target; 0 for parsers that use the target whole */
	unsigned flags;  /* enum conf_key_flags */
	uint64_t min;    /* conf_parse_duration, conf_parse_u32: smallest accepted */
	const void *arg; /* for the parse function: conf_parse_enum's names */
	const char *id;  /* what the rules look it up by, unique within its table: NULL is name
			  * (set where one name is a key of two sections) */
};

/* One [NAME] a file may hold. A section with open set is written [NAME ARG]
 * (a group, say): open is called at each such header and returns the object
 * that block's keys are stored into (offsets into it), or NULL with the error
 * reported to skip the block; the block's keys start afresh (not "given twice"
 * across blocks, conf_key_line() & co. see this block only), and close, when
 * set, runs the block's own rules at its end. [NAME] without ARG for such a
 * section, or with one for another, is an unknown section. */
struct conf_section {
	const char *name;
	void *(*open)(struct conf_parser *p, const char *arg);
	void (*close)(struct conf_parser *p);
};

struct conf_parser {
	/* Set by the caller. */
	const char *path; /* in every message */
	struct diag *d;
	const struct conf_key *keys;
	size_t n_keys;
	const struct conf_section *sections;
	size_t n_sections;
	void *target;         /* what the keys of sections without open are stored into */
	void *userdata;       /* for the caller's parse functions and hooks */
	const char *base_dir; /* conf_parse_path resolves against it */

	/* For parse functions and hooks. */
	unsigned line;      /* physical line of the key being parsed */
	const char *quoted; /* its value quoted for a message, as conf_quote() does */

	/* Private to conf_parser.c. */
	const struct conf_key *key;   /* the key being parsed, for conf_error() */
	struct conf_key_state *state; /* one per key, n_keys of them */
	int section;                  /* index into sections, or SEC_NONE / SEC_BAD */
	void *block;                  /* the current named block's object */
	char *block_arg;              /* and its ARG */
	bool skipped_keys;            /* keys were skipped under a bad section header */
	char *sections_text;          /* "[service] or [backend]" */
	FILE *f;
	char *raw; /* getline's buffer */
	size_t raw_cap;
	const char *value; /* the value of the current line, as the reader cut it */
	bool value_long;   /* inih got "key=" only: use value */
};

/* Read f to its end, storing every known key and reporting every error.
 * Returns the number of errors added to p->d. Call conf_parser_done() after
 * the rules that ask about the keys. */
size_t conf_parse(struct conf_parser *p, FILE *f);
void conf_parser_done(struct conf_parser *p);

/* Whether keys were skipped under a section header that was itself an error
 * ("required" would then only echo it). */
bool conf_skipped_keys(const struct conf_parser *p);

/* The key called name in p's table; aborts when there is none (a typo in the
 * rules, which every test run would hit). */
const struct conf_key *conf_key(const struct conf_parser *p, const char *name);

/* Line name was first given on (0: never); whether it got a valid non-empty
 * value; whether a value of it was invalid. */
unsigned conf_key_line(const struct conf_parser *p, const char *name);
bool conf_key_set(const struct conf_parser *p, const char *name);
bool conf_key_bad(const struct conf_parser *p, const char *name);

/* Of keys a and b, the one given later (b when neither was): an error about a
 * combination of two keys goes to the second one's line. */
const char *conf_key_later(const struct conf_parser *p, const char *a, const char *b);

/* An error about the key being parsed, at its line. */
void conf_error(struct conf_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An error or a warning about key name at line (0: about the file, no line):
 * "PATH:LINE: [section] name: reason". */
void conf_key_error(struct conf_parser *p, const char *name, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void conf_key_warning(struct conf_parser *p, const char *name, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* s in double quotes for a message: '"', '\' and control bytes escaped, cut
 * after 80 bytes. Malloc'd. */
char *conf_quote(const char *s);

/* Open a configuration file; NULL with errno set. Anything but a regular file
 * is refused up front (a FIFO would block): errno EISDIR or EINVAL. */
FILE *conf_open(const char *path);
/* strerror() for conf_open's errno, "not a regular file" for EINVAL. */
const char *conf_open_error(int e);

/* The value types. Each stores into field as its comment says. */
int conf_parse_duration(struct conf_parser *p, const struct conf_key *k, const char *v,
			void *field); /* uint64_t ms, at least k->min */
int conf_parse_u32(struct conf_parser *p, const struct conf_key *k, const char *v,
		   void *field); /* uint32_t, at least k->min */
int conf_parse_string(struct conf_parser *p, const struct conf_key *k, const char *v,
		      void *field); /* char *, any text */
int conf_parse_abs_path(struct conf_parser *p, const struct conf_key *k, const char *v,
			void *field); /* char *, an absolute path */
int conf_parse_path(struct conf_parser *p, const struct conf_key *k, const char *v,
		    void *field); /* char *, resolved against p->base_dir */
int conf_parse_socket_path(struct conf_parser *p, const struct conf_key *k, const char *v,
			   void *field); /* conf_parse_path that fits sun_path */
int conf_parse_signal(struct conf_parser *p, const struct conf_key *k, const char *v,
		      void *field); /* int, SIGTERM, TERM or a number */
int conf_parse_log_level(struct conf_parser *p, const struct conf_key *k, const char *v,
			 void *field); /* int LOG_* */
int conf_parse_bool(struct conf_parser *p, const struct conf_key *k, const char *v,
		    void *field); /* bool: yes/no, true/false, on/off, 1/0 */
int conf_parse_enum(struct conf_parser *p, const struct conf_key *k, const char *v,
		    void *field); /* int: the index of v in k->arg, NULL-terminated names */

#endif
