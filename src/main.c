/*
 * main — the command line: `zeroproxy run|check|status|start|stop|reload`.
 * Parses options, then hands over to the daemon, the configuration checker or
 * the control client.
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "config.h"
#include "daemon.h"
#include "log.h"

#define DEFAULT_CONFIG SYSCONFDIR "/zeroproxy/zeroproxy.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zeroproxy COMMAND [OPTIONS]\n"
		"\n"
		"Scale-to-zero for ordinary servers: holds the listening sockets, starts the\n"
		"backend on the first connection, relays, stops it when idle.\n"
		"\n"
		"Commands:\n"
		"  run                     run the daemon in the foreground\n"
		"  check                   validate the configuration\n"
		"  status [SERVICE...]     show services (--json for scripts)\n"
		"  start SERVICE           start (pre-warm) a backend now\n"
		"  stop SERVICE            stop a backend now\n"
		"  reload                  re-read the configuration\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE       configuration file (default %s)\n"
		"  -s, --socket PATH       control socket (default: from the configuration)\n"
		"      --json              status as JSON\n"
		"  -h, --help              this help\n"
		"  -V, --version           the version\n",
		DEFAULT_CONFIG);
}

static int cmd_check(const char *path, bool explicit_path)
{
	struct diag diag = {0};
	struct config *cfg = NULL;
	int r = config_load(path, explicit_path, &cfg, &diag);
	for (size_t i = 0; i < diag.n_warnings; i++)
		fprintf(stderr, "warning: %s\n", diag.warnings[i]);
	for (size_t i = 0; i < diag.n_errors; i++)
		fprintf(stderr, "%s\n", diag.errors[i]);
	if (r < 0) {
		fprintf(stderr, "zeroproxy: %s: configuration invalid (%zu error%s)\n", path,
			diag.n_errors, diag.n_errors == 1 ? "" : "s");
		diag_free(&diag);
		return 1;
	}
	config_print_summary(cfg, stdout);
	config_free(cfg);
	diag_free(&diag);
	return 0;
}

/* The control socket: -s, else the one zeroproxy.conf names. */
static char *client_socket(const char *path, bool explicit_path, const char *given)
{
	if (given)
		return strdup(given);
	struct diag diag = {0};
	struct config *cfg = NULL;
	if (config_load_global(path, explicit_path, &cfg, &diag) < 0) {
		for (size_t i = 0; i < diag.n_errors; i++)
			fprintf(stderr, "%s\n", diag.errors[i]);
		fprintf(stderr, "zeroproxy: cannot find the control socket: %s is invalid\n", path);
		diag_free(&diag);
		return NULL;
	}
	char *s = strdup(cfg->control_socket);
	config_free(cfg);
	diag_free(&diag);
	return s;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {0},
	};
	const char *config = DEFAULT_CONFIG, *sock = NULL;
	bool explicit_path = false, json = false;
	int c;
	/* "+" would stop at the command; we allow options anywhere. */
	while ((c = getopt_long(argc, argv, "c:s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			explicit_path = true;
			break;
		case 's': sock = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("zeroproxy %s\n", PACKAGE_VERSION); return 0;
		default: fprintf(stderr, "zeroproxy: try 'zeroproxy --help'\n"); return 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	const char *cmd = argv[optind];
	int nargs = argc - optind - 1;
	char **args = argv + optind + 1;

	if (strcmp(cmd, "run") == 0 || strcmp(cmd, "check") == 0) {
		if (nargs) {
			fprintf(stderr, "zeroproxy: %s takes no arguments\n", cmd);
			return 1;
		}
		if (cmd[0] == 'c')
			return cmd_check(config, explicit_path);
		/* Relay buffers (32 KiB a connection) come and go with every
		 * connection: without this, glibc gives the heap top back after
		 * each burst and the next connection pays brk() and fresh page
		 * faults (~0.5 brk per request with one connection per request).
		 * At most this much free heap stays with the daemon. */
		mallopt(M_TRIM_THRESHOLD, 8 << 20);
		log_detect_journal();
		return daemon_run(config, explicit_path);
	}
	bool known = strcmp(cmd, "status") == 0 || strcmp(cmd, "start") == 0 ||
		     strcmp(cmd, "stop") == 0 || strcmp(cmd, "reload") == 0;
	if (!known) {
		fprintf(stderr, "zeroproxy: unknown command \"%s\"; try 'zeroproxy --help'\n", cmd);
		return 1;
	}
	if ((strcmp(cmd, "start") == 0 || strcmp(cmd, "stop") == 0) && nargs != 1) {
		fprintf(stderr, "zeroproxy: usage: zeroproxy %s SERVICE\n", cmd);
		return 1;
	}
	if (strcmp(cmd, "reload") == 0 && nargs) {
		fprintf(stderr, "zeroproxy: reload takes no arguments\n");
		return 1;
	}
	char *path = client_socket(config, explicit_path, sock);
	if (!path)
		return 1;
	/* The request: the command, --json for status, then the arguments. */
	char **req = calloc((size_t)nargs + 3, sizeof(char *));
	if (!req) {
		free(path);
		return 1;
	}
	int n = 0;
	req[n++] = (char *)cmd;
	if (json && strcmp(cmd, "status") == 0)
		req[n++] = (char *)"--json";
	for (int i = 0; i < nargs; i++)
		req[n++] = args[i];
	int rc = client_run(path, n, req);
	free(req);
	free(path);
	return rc;
}
