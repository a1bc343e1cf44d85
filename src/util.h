/*
 * util — small pure helpers shared by every module: parsing of the value types
 * the configuration uses (durations, booleans, signals, argv), growable string
 * lists, fd flags and the monotonic clock. Nothing here touches the event loop.
 *
 * The error convention of the tree (as systemd's):
 * - A function that can fail returns 0 (or a documented non-negative value:
 *   an fd, a pid, a length, a count, 1 for "yes") on success and -errno on
 *   failure; the errno says what kind of failure it was (-ENOENT, -EAGAIN
 *   for "not yet, call again"). An object it makes comes back through an out
 *   parameter (struct x **out), set only on success. bool is for questions
 *   that cannot fail.
 * - Where the caller must keep a reason for a human (status, last_error, a
 *   reply), it passes a buffer, char *why, size_t why_len, that the callee
 *   fills on failure (and, where documented, with news on success).
 * - Log once, where the context is known (the service name, the path):
 *   either the callee logs and says so in its header comment, or the
 *   caller does, never both.
 * - A result ignored on purpose is cast to (void), with the reason in a
 *   comment where it is not obvious. close() is the exception.
 */
#ifndef ZP_UTIL_H
#define ZP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A duration in milliseconds; ZP_INFINITY means "never". */
#define ZP_INFINITY UINT64_MAX

#define ZP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Parse "250ms", "30s", "5m", "1h", "1h 30m", "2d", a bare number (seconds), or
 * "infinity". Fractions are allowed ("1.5s"). Returns 0 and sets *ms, or -EINVAL
 * (or -ERANGE when it does not fit). */
int parse_duration(const char *s, uint64_t *ms);

/* Format a duration for humans: "250ms", "30s", "5m", "1h30m", "infinity". */
void format_duration(uint64_t ms, char *buf, size_t len);

/* yes/no/true/false/on/off/1/0, case-insensitive. Returns 0 or -EINVAL. */
int parse_bool(const char *s, bool *out);

/* "SIGTERM", "TERM" (any case) or a number 1..64. Returns 0 or -EINVAL. */
int parse_signal(const char *s, int *sig);

/* "SIGTERM" for SIGTERM; "SIG42" for one without a name. Never NULL. */
const char *signal_name(int sig);

/* A non-negative decimal integer no larger than max. Returns 0, -EINVAL or -ERANGE. */
int parse_uint(const char *s, uint64_t max, uint64_t *out);

/* Split a command line into a NULL-terminated argv with shell-like quoting:
 * whitespace separates words, '...' is literal, "..." allows \" \\ \$ \` escapes,
 * a backslash outside quotes escapes the next character. No expansion of any kind.
 * On error returns -EINVAL and points *err at a static reason ("unterminated quote",
 * "trailing backslash", "empty command"). The result is freed with strv_free(). */
int split_argv(const char *s, char ***argv, const char **err);

/* A service name: [A-Za-z0-9_.-]+, at most 64 characters, not "." or "..". */
bool service_name_valid(const char *s);

/* NULL-terminated string vectors. */
size_t strv_length(char *const *v);
int strv_push(char ***v, const char *s); /* copies s; 0 or -ENOMEM */
void strv_free(char **v);
char **strv_copy(char *const *v);

/* Allocation that aborts on failure: a daemon that cannot allocate a few bytes
 * cannot report anything useful either. Used for small, bounded allocations. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether errno value err (positive) says the process or system is out of
 * fds or memory: a reason to wait and retry, not a verdict on the peer. */
bool errno_out_of_resources(int err);

/* O_NONBLOCK / FD_CLOEXEC on an fd. 0 or -errno. */
int fd_set_nonblock(int fd, bool on);
int fd_set_cloexec(int fd, bool on);

/* Read a small file whole into buf (NUL-terminated, at most size - 1 bytes).
 * Returns the length or -errno. */
ssize_t read_small_file(const char *path, char *buf, size_t size);

/* Monotonic and wall clocks in microseconds. */
uint64_t now_usec(void);
uint64_t wall_usec(void);

/* Path helpers: the directory part of path (malloc'd, "." when none), and path
 * resolved against dir when it is relative (malloc'd). */
char *path_dirname(const char *path);
char *path_join(const char *dir, const char *path);

/* mkdir -p: path and every missing parent with mode. 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

#endif
