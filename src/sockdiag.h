/*
 * sockdiag — which connections of some listening sockets are open, as the
 * kernel knows them (netlink sock_diag): inet_diag for TCP listeners,
 * filtered in the kernel by the listener's port and here by its address;
 * unix_diag for unix listeners, matched by the name the accepted sockets
 * share with their listener. One call is one dump per listener, for relay =
 * no, where the backend accepts and zeroproxy only looks.
 */
#ifndef ZP_SOCKDIAG_H
#define ZP_SOCKDIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One open connection: accepted (or queued to be) on one of the listeners. */
struct sockdiag_conn {
	uint64_t cookie;    /* the kernel's socket cookie: unique while it lives */
	bool has_bytes;     /* TCP: the kernel told its byte counts */
	uint64_t bytes_in;  /* tcpi_bytes_received: client -> backend */
	uint64_t bytes_out; /* tcpi_bytes_acked: backend -> client, acknowledged */
};

/* The open connections (TCP: SYN_RECV, ESTABLISHED, CLOSE_WAIT; unix:
 * connected) of the listening sockets fds[0..n), appended to *out (an array
 * realloc()ed as it grows; free it) and counted in *n_out. 0, or -errno
 * (*out still to be freed). */
int sockdiag_list(const int *fds, size_t n, struct sockdiag_conn **out, size_t *n_out);

#endif
