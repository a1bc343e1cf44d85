/*
 * client — the short-lived, blocking side of the control socket that
 * `zeroproxy status/start/stop/reload` run (the protocol is in control.h).
 */
#ifndef ZP_CLIENT_H
#define ZP_CLIENT_H

/* Send argv (the subcommand and its arguments) as one request to the daemon
 * at socket_path and print the answer's body to stdout, or its reason to
 * stderr. Returns the exit code: 0 ok, 1 failure. */
int client_run(const char *socket_path, int argc, char **argv);

#endif
