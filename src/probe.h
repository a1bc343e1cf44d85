/*
 * probe — when a starting backend is ready, for ready = connect (connect() to
 * its address until one succeeds), ready = command (run ready_command
 * until it exits 0) and ready = http (GET ready_path on its address until the
 * status is below 500: for web servers that listen before they can serve).
 * One try at a time, the first on the next loop iteration
 * (never inside probe_start()), then on a back-off from 0.2 ms to 10 ms. The
 * back-off runs on a timerfd: libev's own timers round up to whole
 * milliseconds, which would be most of a small backend's cold start.
 *
 * The owner (instance.c) hands it the exit of every child it reaps and is
 * told through probe_ops when the backend is ready or ready_command could not
 * be run at all. The start timeout is the owner's.
 */
#ifndef ZP_PROBE_H
#define ZP_PROBE_H

#include <ev.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "config.h"
#include "spawn.h"

struct probe;

struct probe_ops {
	/* The backend is ready. fd: a socket connected to it (ready = connect),
	 * now the callee's, or -1 (ready = command or http). Probing has ended. */
	void (*ready)(struct probe *p, int fd);
	/* ready_command could not be run at all (no such program, a bad
	 * user); reason is for logs and status. Probing has ended. */
	void (*failed)(struct probe *p, const char *reason);
};

struct probe {
	struct ev_loop *loop;
	const struct service_config *cfg; /* ready mode, address, ready_command */
	struct spawn_creds creds;         /* who ready_command runs as */
	rlim_t nofile;                    /* its RLIMIT_NOFILE soft limit, or 0 */
	bool active;                      /* started, not yet ended or cancelled */
	int tfd;                          /* the back-off timer (a timerfd), or -1 */
	ev_io tick;                       /* tfd expired */
	ev_io io;                         /* the connect() in progress */
	int fd;                           /* its socket, or -1 */
	double delay;                     /* the next back-off, seconds */
	pid_t pid;   /* the ready_command running (its own process group), or 0 */
	int pipe;    /* its exec report pipe (read end), or -1 */
	int status;  /* wait status of the last ready_command, -1: none yet */
	char **envp; /* ready_command's environment, or NULL */
	/* ready = http: the try in progress on fd (connect, then send the
	 * request, then read the status line), bounded by PROBE_HTTP_TRY on
	 * the timer; the last try's outcome for the start-timeout message. */
	char http_req[ZP_READY_PATH_MAX + 256]; /* GET ready_path ... , built at start */
	size_t http_req_len, http_sent;
	char http_resp[16]; /* the status line so far ("HTTP/1.1 503 ") */
	size_t http_resp_len;
	bool http_sending;  /* connected: sending (true) or reading the answer */
	char http_last[64]; /* "answered 503", "closed without an answer"; "" before */
	const struct probe_ops *ops;
	void *data; /* the owner's */
};

/* The longest a ready = http try waits for its answer, seconds: a backend
 * that accepted and never answers is asked again on a new connection. */
#define PROBE_HTTP_TRY 5.0

/* The status of an HTTP response that starts with buf[0..len): 100..999
 * once "HTTP/1.x NNN" and the byte after it (space, or CR of an empty
 * reason) are in, 0 while more is needed, -1 when it is not one. */
int probe_http_status(const char *buf, size_t len);

/* ready = http's request: "GET PATH HTTP/1.1" with Host (the address as
 * written; "localhost" for a unix socket), Connection: close and a
 * User-Agent. Its length, or -ENOSPC when it would not fit len. */
int probe_http_request(const struct service_config *cfg, char *out, size_t len);

/* Set p up, inert: probe_cancel() and probe_close() are safe, nothing runs
 * until probe_start(). */
void probe_init(struct probe *p, struct ev_loop *loop, const struct service_config *cfg,
		const struct spawn_creds *creds, rlim_t nofile, const struct probe_ops *ops,
		void *data);

/* Start probing as cfg->ready says (connect, command or http). 0, or -errno
 * (logged) when no timer can be had: then nothing probes. */
int probe_start(struct probe *p);

/* Stop probing: the back-off timer, a connect in progress, a ready_command
 * still running (SIGKILLed with what it started; it is reaped like any
 * child). No callback follows. */
void probe_cancel(struct probe *p);

/* A child was reaped: whether it was the ready_command (whose exit then
 * counts as a try, unless probing was cancelled). */
bool probe_child_exited(struct probe *p, pid_t pid, int status);

/* probe_cancel(), then close every fd and free the environment. */
void probe_close(struct probe *p);

#endif
