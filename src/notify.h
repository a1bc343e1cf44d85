/*
 * notify — both sides of the sd_notify protocol: messages from zeroproxy to
 * systemd (READY=1, STATUS=, WATCHDOG=1 ...), and a datagram socket of
 * zeroproxy's own on which backends with ready = notify send theirs.
 */
#ifndef ZP_NOTIFY_H
#define ZP_NOTIFY_H

#include <ev.h>
#include <sys/types.h>

/* Send a message to systemd if NOTIFY_SOCKET is set; a no-op otherwise. */
void notify_systemd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct notify_server;

/* One message from pid; msg is NUL-terminated, newline-separated fields. */
typedef void (*notify_cb)(void *data, pid_t pid, const char *msg);

/* Bind an abstract datagram socket with SO_PASSCRED. 0 or -errno. */
int notify_server_new(struct ev_loop *loop, notify_cb cb, void *data, struct notify_server **out);

/* The NOTIFY_SOCKET value for backends ("@..."). */
const char *notify_server_path(const struct notify_server *n);

void notify_server_free(struct notify_server *n);

/* The value of KEY= in a notify message (up to the newline) into buf, or
 * NULL when absent. */
const char *notify_field(const char *msg, const char *key, char *buf, size_t len);

#endif
