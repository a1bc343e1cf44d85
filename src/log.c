/*
 * log — leveled lines to stderr with "<N>" priority prefixes, or native
 * journal entries with structured fields when stderr is the journal stream
 * (JOURNAL_STREAM names it, as systemd.exec(5) documents). See log.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 2048
/* Where sd_journal_send() sends (libsystemd's fixed path). */
#define LOG_JOURNAL_SOCKET "/run/systemd/journal/socket"

/* The mutable state outside main.c: the threshold, set at start-up and on
 * reload, and where lines go, decided once at start-up; read by every log
 * call. */
static int log_level = LOG_INFO;
static bool log_journal;

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

/* A decimal number with nothing else, into *out. */
static bool parse_u64(const char *s, const char *end, uint64_t *out)
{
	if (s == end || *s < '0' || *s > '9')
		return false;
	uint64_t v = 0;
	for (; s < end; s++) {
		uint64_t digit = (uint64_t)(*s - '0');
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return true;
}

bool log_stream_is_journal(const char *journal_stream, dev_t dev, ino_t ino)
{
	if (!journal_stream)
		return false;
	const char *colon = strchr(journal_stream, ':');
	uint64_t d, i;
	if (!colon || !parse_u64(journal_stream, colon, &d) ||
	    !parse_u64(colon + 1, colon + 1 + strlen(colon + 1), &i))
		return false;
	return d == (uint64_t)dev && i == (uint64_t)ino;
}

bool log_detect_journal(void)
{
	struct stat st, js;
	/* sd_journal_send() drops entries silently where journald's socket is
	 * missing (a stream handed on into a container without it): then the
	 * stream is the way in. */
	log_journal = fstat(STDERR_FILENO, &st) == 0 &&
		      log_stream_is_journal(getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino) &&
		      stat(LOG_JOURNAL_SOCKET, &js) == 0 && S_ISSOCK(js.st_mode);
	return log_journal;
}

static void log_stderr(int prio, const char *msg)
{
	char line[LOG_LINE_MAX];
	int n = snprintf(line, sizeof(line) - 1, "<%d>%s", prio, msg);
	size_t len = n < 0 ? 0 : (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line so that lines from a backend sharing stderr never
	 * interleave with ours mid-line. A short write to a full pipe is dropped. */
	ssize_t r = write(STDERR_FILENO, line, len);
	(void)r;
}

/* One native journal entry; 0 or -errno (then the caller writes to stderr). */
static int log_journal_send(int prio, const char *service, const char *event, const char *state,
			    const char *msg)
{
	char f[5][96];
	struct iovec iov[7];
	int n = 0;
	char message[LOG_LINE_MAX + 8];
	snprintf(message, sizeof(message), "MESSAGE=%s", msg);
	iov[n++] = (struct iovec){message, strlen(message)};
	snprintf(f[0], sizeof(f[0]), "PRIORITY=%d", prio);
	snprintf(f[1], sizeof(f[1]), "SYSLOG_IDENTIFIER=zeroproxy");
	iov[n++] = (struct iovec){f[0], strlen(f[0])};
	iov[n++] = (struct iovec){f[1], strlen(f[1])};
	const char *names[] = {"ZEROPROXY_SERVICE", "ZEROPROXY_EVENT", "ZEROPROXY_STATE"};
	const char *values[] = {service, event, state};
	for (int k = 0; k < 3; k++) {
		if (!values[k])
			continue;
		snprintf(f[2 + k], sizeof(f[2 + k]), "%s=%s", names[k], values[k]);
		iov[n++] = (struct iovec){f[2 + k], strlen(f[2 + k])};
	}
	return sd_journal_sendv(iov, n);
}

static void log_vemit(int prio, const char *service, const char *event, const char *state,
		      const char *fmt, va_list ap)
{
	if (prio > log_level)
		return;
	int saved = errno;
	char msg[LOG_LINE_MAX];
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	if (!log_journal || log_journal_send(prio, service, event, state, msg) < 0)
		log_stderr(prio, msg);
	errno = saved;
}

void log_write(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(prio, NULL, NULL, NULL, fmt, ap);
	va_end(ap);
}

void log_event(int prio, const char *service, const char *event, const char *state, const char *fmt,
	       ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(prio, service, event, state, fmt, ap);
	va_end(ap);
}
