/*
 * log — leveled lines to stderr with "<N>" priority prefixes (journald reads
 * them when stderr is the journal stream). See log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

/* The one piece of mutable state outside main.c: the threshold, set at start-up
 * and on reload, read by every log call. */
static int log_level = LOG_INFO;

static const struct {
	const char *name;
	int level;
} log_levels[] = {
    {"error", LOG_ERR}, {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
    {"info", LOG_INFO}, {"debug", LOG_DEBUG},
};

int log_parse_level(const char *s, int *level)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (strcasecmp(s, log_levels[i].name) == 0) {
			*level = log_levels[i].level;
			return 0;
		}
	return -EINVAL;
}

void log_set_level(int level)
{
	log_level = level;
}

void log_write(int prio, const char *fmt, ...)
{
	if (prio > log_level)
		return;
	int saved = errno;
	char line[2048];
	int n = snprintf(line, sizeof(line), "<%d>", prio);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line so that lines from a backend sharing stderr never
	 * interleave with ours mid-line. A short write to a full pipe is dropped. */
	ssize_t r = write(STDERR_FILENO, line, len);
	(void)r;
	errno = saved;
}
