/*
 * strbuf — a growable string for building replies (status, JSON, metrics).
 * Allocation failure aborts (xmalloc); callers bound what they put in.
 */
#ifndef ZP_STRBUF_H
#define ZP_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *data; /* NUL-terminated once anything was added; NULL before */
	size_t len; /* bytes used, without the NUL */
	size_t cap; /* bytes allocated */
};

void sb_append(struct strbuf *sb, const char *s, size_t n);
void sb_puts(struct strbuf *sb, const char *s);
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal with quotes, or null when s is NULL. */
void sb_json_string(struct strbuf *sb, const char *s);
/* Take ownership of the data ("" when empty); sb is reset. */
char *sb_steal(struct strbuf *sb);
void sb_free(struct strbuf *sb);

#endif
