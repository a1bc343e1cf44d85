/*
 * daemon — the running zeroproxy: one libev loop, the services of the current
 * configuration, the control socket, the metrics endpoint, signals and
 * sd_notify. Everything else hangs off one struct daemon.
 */
#ifndef ZP_DAEMON_H
#define ZP_DAEMON_H

#include <stdbool.h>

/* `zeroproxy run`: load the config, bind, serve until SIGTERM/SIGINT.
 * Returns the process exit code. */
int daemon_run(const char *config_path, bool explicit_path);

#endif
