/*
 * log — one line per event. To stderr with a "<N>" syslog priority prefix
 * that journald understands (sd-daemon(3)); or, when stderr is the journal
 * (log_detect_journal()), as a native journal entry with fields of its own:
 * MESSAGE=, PRIORITY=, SYSLOG_IDENTIFIER=zeroproxy, and for the lines that
 * log_event() writes ZEROPROXY_SERVICE=NAME (the service the line is about)
 * and ZEROPROXY_EVENT= (what happened, one of the LOG_EV_* below), so that
 * `journalctl ZEROPROXY_SERVICE=web` works. The level threshold is set once
 * at start-up and on reload.
 */
#ifndef ZP_LOG_H
#define ZP_LOG_H

#include <stdbool.h>
#include <sys/types.h>
#include <syslog.h>

/* The ZEROPROXY_EVENT= vocabulary (documented in zeroproxy(8)):
 *   state-change   a service changed state (ZEROPROXY_STATE= the new one)
 *   start-failed   a start failed; the line says why (ZEROPROXY_STATE= too)
 *   refused        a client connection closed without reaching a backend
 *   config         a service added, changed or removed (start-up, reload)
 *   reload         a reload began or ended
 *   reload-failed  a reload was rejected: the old configuration stays
 *   startup, shutdown  the daemon runs, or stops */
#define LOG_EV_STATE        "state-change"
#define LOG_EV_START_FAILED "start-failed"
#define LOG_EV_REFUSED      "refused"
#define LOG_EV_CONFIG       "config"
#define LOG_EV_RELOAD       "reload"
#define LOG_EV_RELOAD_FAIL  "reload-failed"
#define LOG_EV_STARTUP      "startup"
#define LOG_EV_SHUTDOWN     "shutdown"

/* Parse "error", "warning", "notice", "info", "debug" into LOG_*. 0 or -EINVAL. */
int log_parse_level(const char *s, int *level);
void log_set_level(int level);

/* Whether JOURNAL_STREAM (systemd.exec(5): "DEVICE:INODE" in decimal, NULL if
 * unset) names the file whose fstat() gave dev and ino. */
bool log_stream_is_journal(const char *journal_stream, dev_t dev, ino_t ino);

/* Decide once, at start-up, whether stderr is the journal (JOURNAL_STREAM
 * names it, and journald's native socket is there): if so, log natively from
 * now on. Returns the decision. */
bool log_detect_journal(void);

/* Log at a LOG_* priority; a trailing newline is added. */
void log_write(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* log_write() with structured fields for the journal: service (or NULL) is the
 * service the line is about, event (LOG_EV_*, or NULL) what happened, state
 * (or NULL) the service's new state. On stderr the line is the same. */
void log_event(int prio, const char *service, const char *event, const char *state, const char *fmt,
	       ...) __attribute__((format(printf, 5, 6)));

#define log_error(...)   log_write(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_write(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_write(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_write(LOG_DEBUG, __VA_ARGS__)

#endif
