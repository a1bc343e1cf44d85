/*
 * log — one line per event to stderr with a "<N>" syslog priority prefix that
 * journald understands (sd-daemon(3)). The level threshold is set once at
 * start-up and on reload.
 */
#ifndef ZP_LOG_H
#define ZP_LOG_H

#include <syslog.h>

/* Parse "error", "warning", "notice", "info", "debug" into LOG_*. 0 or -EINVAL. */
int log_parse_level(const char *s, int *level);
void log_set_level(int level);

/* Log at a LOG_* priority; a trailing newline is added. */
void log_write(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_write(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_write(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_write(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_write(LOG_DEBUG, __VA_ARGS__)

#endif
