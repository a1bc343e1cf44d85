/*
 * diag — growable lists of messages; see diag.h. Allocation failures abort,
 * as everywhere in the configuration code (xmalloc and friends).
 */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void diag_error(struct diag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_push(&d->errors, &d->n_errors, fmt, ap);
	va_end(ap);
}

void diag_warning(struct diag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_push(&d->warnings, &d->n_warnings, fmt, ap);
	va_end(ap);
}

void diag_free(struct diag *d)
{
	for (size_t i = 0; i < d->n_errors; i++)
		free(d->errors[i]);
	for (size_t i = 0; i < d->n_warnings; i++)
		free(d->warnings[i]);
	free(d->errors);
	free(d->warnings);
	memset(d, 0, sizeof(*d));
}
