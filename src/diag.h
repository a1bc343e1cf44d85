/*
 * diag — the error and warning lines collected while the configuration is
 * loaded, so that every mistake is reported at once (never only the first)
 * and a caller decides where they go (stderr for `zeroproxy check`, the log on
 * a reload).
 */
#ifndef ZP_DIAG_H
#define ZP_DIAG_H

#include <stddef.h>

/* Error and warning messages collected while loading, each a full line
 * without newline ("PATH:LINE: [section] key: reason"). */
struct diag {
	char **errors;
	size_t n_errors;
	char **warnings;
	size_t n_warnings;
};

void diag_error(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_warning(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_free(struct diag *d);

#endif
