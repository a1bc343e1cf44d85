/*
 * test-config — the configuration language: every invalid configuration below
 * is written to a private temporary directory at run time and must produce
 * exactly the listed error lines ("PATH:LINE: [section] key: reason"); the
 * valid ones must come out with the right values, defaults and resolved paths.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "tap.h"
#include "util.h"

static char root[] = "/tmp/zp-test-config-XXXXXX";

/* ---- helpers ---- */

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "we");
	if (!f) {
		ok(false, "cannot write %s: %s", path, strerror(errno));
		return;
	}
	fputs(content, f);
	fclose(f);
}

/* A fresh directory for one case, with an empty services.d. Malloc'd path. */
static char *case_dir(const char *name)
{
	char *dir = xasprintf("%s/%s", root, name);
	char *svc = xasprintf("%s/services.d", dir);
	if (mkdir(dir, 0700) < 0 || mkdir(svc, 0700) < 0)
		ok(false, "mkdir %s: %s", svc, strerror(errno));
	free(svc);
	return dir;
}

/* s with every "{D}" replaced by dir. Malloc'd. */
static char *subst(const char *s, const char *dir)
{
	size_t n = strlen(s) + 1;
	for (const char *p = s; (p = strstr(p, "{D}")); p += 3)
		n += strlen(dir);
	char *out = xcalloc(1, n);
	const char *p = s, *q;
	while ((q = strstr(p, "{D}"))) {
		strncat(out, p, (size_t)(q - p));
		strcat(out, dir);
		p = q + 3;
	}
	strcat(out, p);
	return out;
}

static const char default_global[] = "[zeroproxy]\nservices_dir = services.d\n";

/* A complete, valid service body to build cases from. */
#define VALID_SERVICE                                                                              \
	"[service]\n"                                                                              \
	"listen = 127.0.0.1:8080\n"                                                                \
	"[backend]\n"                                                                              \
	"exec = /bin/true\n"                                                                       \
	"address = 127.0.0.1:18080\n"

/* The same with relay = no (line 3) and no address. */
#define VALID_SERVICE_NO_ADDRESS_RELAY_NO                                                          \
	"[service]\n"                                                                              \
	"listen = 127.0.0.1:8080\n"                                                                \
	"relay = no\n"                                                                             \
	"[backend]\n"                                                                              \
	"exec = /bin/true\n"

/* An http service on 127.0.0.1:8080 whose backend has PORT, with [http]
 * open at line 7: the next line written is line 8. */
#define HTTP_SERVICE(port)                                                                         \
	"[service]\n"                                                                              \
	"listen = 127.0.0.1:8080\n"                                                                \
	"protocol = http\n"                                                                        \
	"[backend]\n"                                                                              \
	"exec = /bin/true\n"                                                                       \
	"address = 127.0.0.1:" port "\n"                                                           \
	"[http]\n"

struct bad_case {
	const char *title;
	const char *global;    /* zeroproxy.conf; NULL: default_global */
	const char *files[8];  /* pairs: file name under services.d, content */
	const char *errors[8]; /* expected, in order; {D} is the case's folder */
};

/* ---- the invalid configurations ---- */

/* clang-format off */
static const struct bad_case bad_cases[] = {
	{ "relay typo",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\nrelay = nope\n[backend]\nexec = /bin/true\n" },
	  { "{D}/services.d/web.conf:3: [service] relay: expected yes or no, got \"nope\"" } },
	{ "relay = no, then address",
	  NULL,
	  { "web.conf", VALID_SERVICE_NO_ADDRESS_RELAY_NO "address = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:6: [backend] address: not with relay = no (line 3): the backend accepts on the listen sockets itself" } },
	{ "address, then relay = no",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nrelay = no\n" },
	  { "{D}/services.d/web.conf:7: [service] relay: no cannot be used with address (line 5): the backend accepts on the listen sockets itself" } },
	{ "relay = no with ready, max_pending and pending_timeout",
	  NULL,
	  { "web.conf", VALID_SERVICE_NO_ADDRESS_RELAY_NO "ready = socket\n[service]\nmax_pending = 3\npending_timeout = 5s\n" },
	  { "{D}/services.d/web.conf:6: [backend] ready: not with relay = no (line 3): the backend accepts on the listen sockets itself",
	    "{D}/services.d/web.conf:8: [service] max_pending: not with relay = no (line 3): the backend accepts on the listen sockets itself",
	    "{D}/services.d/web.conf:9: [service] pending_timeout: not with relay = no (line 3): the backend accepts on the listen sockets itself" } },
	{ "max_pending, then relay = no",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\nmax_pending = 0\nrelay = false\n[backend]\nexec = /bin/true\n" },
	  { "{D}/services.d/web.conf:4: [service] relay: no cannot be used with max_pending (line 3): the backend accepts on the listen sockets itself" } },
	{ "freeze_after, then a shorter idle_timeout",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nfreeze_after = 5m\nidle_timeout = 5m\n" },
	  { "{D}/services.d/web.conf:8: [service] idle_timeout: expected more than freeze_after (5m, line 7), got 5m" } },
	{ "freeze_after not below idle_timeout",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nidle_timeout = 1m\nfreeze_after = 90s\n" },
	  { "{D}/services.d/web.conf:8: [service] freeze_after: expected less than idle_timeout (1m), got 1m30s" } },
	{ "freeze_after not below the default idle_timeout",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nfreeze_after = 1h\n" },
	  { "{D}/services.d/web.conf:7: [service] freeze_after: expected less than idle_timeout (5m, the default), got 1h" } },
	{ "freeze_after with relay = no",
	  NULL,
	  { "web.conf", VALID_SERVICE_NO_ADDRESS_RELAY_NO "[service]\nfreeze_after = 1s\n" },
	  { "{D}/services.d/web.conf:7: [service] freeze_after: not with relay = no (line 3): a frozen backend would leave its listen sockets unanswered" } },
	{ "freeze_after zero",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nfreeze_after = 0\n" },
	  { "{D}/services.d/web.conf:7: [service] freeze_after: expected a duration greater than 0, got \"0\"" } },
	{ "protocol typo",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = https\n" },
	  { "{D}/services.d/web.conf:7: [service] protocol: expected tcp or http, got \"https\"" } },
	{ "protocol = http, then relay = no",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\nprotocol = http\nrelay = no\n[backend]\nexec = /bin/true\n" },
	  { "{D}/services.d/web.conf:4: [service] relay: no cannot be used with protocol = http (line 3): requests are seen only when zeroproxy relays them" } },
	{ "relay = no, then protocol = http",
	  NULL,
	  { "web.conf", VALID_SERVICE_NO_ADDRESS_RELAY_NO "[service]\nprotocol = http\n" },
	  { "{D}/services.d/web.conf:7: [service] protocol: http cannot be used with relay = no (line 3): requests are seen only when zeroproxy relays them" } },
	{ "[http] in a tcp service",
	  NULL,
	  { "web.conf", VALID_SERVICE "[http]\nmax_header_size = 8k\n" },
	  { "{D}/services.d/web.conf:7: [http] max_header_size: [http] only with protocol = http, protocol is tcp" } },
	{ "[http] in a service that says protocol = tcp",
	  NULL,
	  { "web.conf", VALID_SERVICE "[http]\nmax_header_size = 8k\n[service]\nprotocol = tcp\n" },
	  { "{D}/services.d/web.conf:7: [http] max_header_size: [http] only with protocol = http, protocol is tcp" } },
	{ "wake_on typo",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nwake_on = first-byte\n" },
	  { "{D}/services.d/web.conf:7: [service] wake_on: expected connect or data, got \"first-byte\"" } },
	{ "relay = no, then wake_on = data",
	  NULL,
	  { "web.conf", VALID_SERVICE_NO_ADDRESS_RELAY_NO "[service]\nwake_on = data\n" },
	  { "{D}/services.d/web.conf:7: [service] wake_on: data cannot be used with relay = no (line 3): zeroproxy accepts no connection to wait for its first byte" } },
	{ "wake_on = data, then relay = no",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\nwake_on = data\nrelay = no\n[backend]\nexec = /bin/true\n" },
	  { "{D}/services.d/web.conf:4: [service] relay: no cannot be used with wake_on = data (line 3): zeroproxy accepts no connection to wait for its first byte" } },
	{ "[http] idle_ignore and loading_page in a tcp service",
	  NULL,
	  { "web.conf", VALID_SERVICE "[http]\nidle_ignore = /healthz\nloading_page = yes\nloading_page_after = 2s\nidle_ignore_status = 503\n" },
	  { "{D}/services.d/web.conf:7: [http] idle_ignore: [http] only with protocol = http, protocol is tcp",
	    "{D}/services.d/web.conf:10: [http] idle_ignore_status: [http] only with protocol = http, protocol is tcp",
	    "{D}/services.d/web.conf:8: [http] loading_page: [http] only with protocol = http, protocol is tcp",
	    "{D}/services.d/web.conf:9: [http] loading_page_after: [http] only with protocol = http, protocol is tcp" } },
	{ "idle_ignore neither a path nor ua:",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = http\n[http]\nidle_ignore = healthz\nidle_ignore = ua:\nidle_ignore = /a b\nidle_ignore = /x?y=1\nidle_ignore = ua:kube-probe\n" },
	  { "{D}/services.d/web.conf:9: [http] idle_ignore: expected a path prefix starting with / (visible ASCII, no ? or #) or ua:TEXT, at most 255 bytes, got \"healthz\"",
	    "{D}/services.d/web.conf:10: [http] idle_ignore: expected a path prefix starting with / (visible ASCII, no ? or #) or ua:TEXT, at most 255 bytes, got \"ua:\"",
	    "{D}/services.d/web.conf:11: [http] idle_ignore: expected a path prefix starting with / (visible ASCII, no ? or #) or ua:TEXT, at most 255 bytes, got \"/a b\"",
	    "{D}/services.d/web.conf:12: [http] idle_ignore: expected a path prefix starting with / (visible ASCII, no ? or #) or ua:TEXT, at most 255 bytes, got \"/x?y=1\"" } },
	{ "idle_ignore_status neither 200 nor 503",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = http\n[http]\nidle_ignore_status = 204\n" },
	  { "{D}/services.d/web.conf:9: [http] idle_ignore_status: expected 200 or 503, got \"204\"" } },
	{ "loading_page neither yes, no nor a path",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = http\n[http]\nloading_page = page.html\n" },
	  { "{D}/services.d/web.conf:9: [http] loading_page: expected no, yes or the absolute path of an HTML file, got \"page.html\"" } },
	{ "loading_page file missing",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = http\n[http]\nloading_page = /nonexistent-zeroproxy/loading.html\n" },
	  { "{D}/services.d/web.conf:9: [http] loading_page: cannot read /nonexistent-zeroproxy/loading.html: No such file or directory" } },
	{ "loading_page a folder",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = http\n[http]\nloading_page = /\n" },
	  { "{D}/services.d/web.conf:9: [http] loading_page: cannot read /: not a regular file" } },
	{ "loading_page_after not a duration",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = http\n[http]\nloading_page = yes\nloading_page_after = soon\n" },
	  { "{D}/services.d/web.conf:10: [http] loading_page_after: expected a duration such as 250ms, 30s, 5m, 1h 30m or infinity, got \"soon\"" } },
	{ "max_header_size = 1000",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = http\n[http]\nmax_header_size = 1000\n" },
	  { "{D}/services.d/web.conf:9: [http] max_header_size: expected a size from 1024 to 1048576 bytes (k = 1024, M = 1048576), got \"1000\"" } },
	{ "max_header_size = 2M",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = http\n[http]\nmax_header_size = 2M\n" },
	  { "{D}/services.d/web.conf:9: [http] max_header_size: expected a size from 1024 to 1048576 bytes (k = 1024, M = 1048576), got \"2M\"" } },
	{ "max_header_size = 64kb",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = http\n[http]\nmax_header_size = 64kb\n" },
	  { "{D}/services.d/web.conf:9: [http] max_header_size: expected a size from 1024 to 1048576 bytes (k = 1024, M = 1048576), got \"64kb\"" } },
	{ "max_header_size = 99999999999999999999k",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nprotocol = http\n[http]\nmax_header_size = 99999999999999999999k\n" },
	  { "{D}/services.d/web.conf:9: [http] max_header_size: expected a size from 1024 to 1048576 bytes (k = 1024, M = 1048576), got \"99999999999999999999k\"" } },
	{ "ready typo",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n\n[backend]\nexec = /bin/true\n"
			"address = 127.0.0.1:18080\nready = sokcet\n" },
	  { "{D}/services.d/web.conf:7: [backend] ready: expected connect, notify, socket, command or http, got \"sokcet\"" } },
	{ "ready = http in a tcp service",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = http\n" },
	  { "{D}/services.d/web.conf:6: [backend] ready: http needs protocol = http, protocol is tcp" } },
	{ "ready = http, then protocol = tcp",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = http\n[service]\nprotocol = tcp\n" },
	  { "{D}/services.d/web.conf:8: [service] protocol: tcp cannot be used with ready = http (line 6), which needs protocol = http" } },
	{ "ready_path without ready = http",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready_path = /healthz\n[service]\nprotocol = http\n" },
	  { "{D}/services.d/web.conf:6: [backend] ready_path: only with ready = http, ready is connect" } },
	{ "ready_path, then ready = command",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready_path = /healthz\nready_command = true\nready = command\n" },
	  { "{D}/services.d/web.conf:8: [backend] ready: ready_path (line 6) needs ready = http, got command" } },
	{ "ready_path not starting with a slash",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = http\nready_path = healthz\n[service]\nprotocol = http\n" },
	  { "{D}/services.d/web.conf:7: [backend] ready_path: expected a path starting with / (visible ASCII, no spaces, at most 1024 bytes), got \"healthz\"" } },
	{ "ready_path with a space",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = http\nready_path = /a b\n[service]\nprotocol = http\n" },
	  { "{D}/services.d/web.conf:7: [backend] ready_path: expected a path starting with / (visible ASCII, no spaces, at most 1024 bytes), got \"/a b\"" } },
	{ "ready_path with a byte above ASCII",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = http\nready_path = /\xc3\xa9\n[service]\nprotocol = http\n" },
	  { "{D}/services.d/web.conf:7: [backend] ready_path: expected a path starting with / (visible ASCII, no spaces, at most 1024 bytes), got \"/\xc3\xa9\"" } },
	{ "ready = command without ready_command",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = command\n" },
	  { "{D}/services.d/web.conf:6: [backend] ready: command needs ready_command, not given" } },
	{ "ready = command with an empty ready_command",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = command\nready_command =\n" },
	  { "{D}/services.d/web.conf:6: [backend] ready: command needs ready_command, not given" } },
	{ "ready_command without ready",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready_command = pg_isready -q\n" },
	  { "{D}/services.d/web.conf:6: [backend] ready_command: only with ready = command, ready is connect" } },
	{ "ready_command, then another ready",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready_command = pg_isready -q\nready = notify\n" },
	  { "{D}/services.d/web.conf:7: [backend] ready: ready_command (line 6) needs ready = command, got notify" } },
	{ "ready = socket, then ready_command",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = socket\n; probe\nready_command = pg_isready\n" },
	  { "{D}/services.d/web.conf:8: [backend] ready_command: only with ready = command, ready is socket" } },
	{ "ready_command unterminated quote",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = command\nready_command = pg_isready 'x\n" },
	  { "{D}/services.d/web.conf:7: [backend] ready_command: expected a command line, got \"pg_isready 'x\" (unterminated quote)" } },
	{ "ready_command given twice",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = command\nready_command = a\nready_command = b\n" },
	  { "{D}/services.d/web.conf:8: [backend] ready_command: given twice, first at line 7" } },
	{ "kill_mode typo",
	  NULL,
	  { "web.conf", VALID_SERVICE "kill_mode = process\n" },
	  { "{D}/services.d/web.conf:6: [backend] kill_mode: expected mixed or control-group, got \"process\"" } },
	{ "bad duration unit",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nidle_timeout = 5x\n" },
	  { "{D}/services.d/web.conf:7: [service] idle_timeout: expected a duration such as 250ms, 30s, 5m, 1h 30m or infinity, got \"5x\"" } },
	{ "negative duration",
	  NULL,
	  { "web.conf", VALID_SERVICE "start_timeout = -5s\n" },
	  { "{D}/services.d/web.conf:6: [backend] start_timeout: expected a duration such as 250ms, 30s, 5m, 1h 30m or infinity, got \"-5s\"" } },
	{ "duration overflow",
	  NULL,
	  { "web.conf", VALID_SERVICE "stop_timeout = 99999999999999999999d\n" },
	  { "{D}/services.d/web.conf:6: [backend] stop_timeout: expected a shorter duration (or infinity), got \"99999999999999999999d\"" } },
	{ "zero pending_timeout",
	  NULL,
	  { "web.conf", "[service]\npending_timeout = 0\n" VALID_SERVICE },
	  { "{D}/services.d/web.conf:2: [service] pending_timeout: expected a duration greater than 0, got \"0\"" } },
	{ "max_connections 0",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nmax_connections = 0\n" },
	  { "{D}/services.d/web.conf:7: [service] max_connections: expected a whole number from 1 to 4294967295, got \"0\"" } },
	{ "max_connections not a number",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nmax_connections = lots\n" },
	  { "{D}/services.d/web.conf:7: [service] max_connections: expected a whole number from 1 to 4294967295, got \"lots\"" } },
	{ "max_pending above max_connections",
	  NULL,
	  { "web.conf", "[service]\nmax_pending = 300\nmax_connections = 100\n" VALID_SERVICE },
	  { "{D}/services.d/web.conf:2: [service] max_pending: expected at most max_connections (100), got \"300\"" } },
	{ "max_pending above the default max_connections",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nmax_pending = 2000\n" },
	  { "{D}/services.d/web.conf:7: [service] max_pending: expected at most max_connections (1024), got \"2000\"" } },
	{ "bad signal",
	  NULL,
	  { "web.conf", VALID_SERVICE "stop_signal = SIGFOO\n" },
	  { "{D}/services.d/web.conf:6: [backend] stop_signal: expected a signal name such as SIGTERM or TERM, or a number from 1 to 64, got \"SIGFOO\"" } },
	{ "signal number out of range",
	  NULL,
	  { "web.conf", VALID_SERVICE "stop_signal = 65\n" },
	  { "{D}/services.d/web.conf:6: [backend] stop_signal: expected a signal name such as SIGTERM or TERM, or a number from 1 to 64, got \"65\"" } },
	{ "listen port out of range",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:70000\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:2: [service] listen: expected a port from 1 to 65535, got \"127.0.0.1:70000\"" } },
	{ "listen host name",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nlisten = example.com:80\n" },
	  { "{D}/services.d/web.conf:7: [service] listen: expected a numeric IPv4 address or localhost as HOST, got \"example.com:80\"" } },
	{ "listen without port",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nlisten = 8080\n" },
	  { "{D}/services.d/web.conf:7: [service] listen: expected HOST:PORT, [V6]:PORT, *:PORT, unix:/PATH or systemd:NAME, got \"8080\"" } },
	{ "listen relative unix path",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nlisten = unix:run/web.sock\n" },
	  { "{D}/services.d/web.conf:7: [service] listen: expected an absolute path (or @NAME) after unix:, got \"unix:run/web.sock\"" } },
	{ "listen unix path too long",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nlisten = unix:/run/0123456789012345678901234567890123456789"
			"012345678901234567890123456789012345678901234567890123456789.sock\n" },
	  { "{D}/services.d/web.conf:7: [service] listen: unix socket path too long (at most 107 bytes), got \"unix:/run/0123456789012345678901234567890123456789012345678901234567890123456789\"..." } },
	{ "backend address systemd:",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\naddress = systemd:web\n" },
	  { "{D}/services.d/web.conf:5: [backend] address: systemd:NAME is only allowed for listen, got \"systemd:web\"" } },
	{ "backend address *:",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\naddress = *:18080\n" },
	  { "{D}/services.d/web.conf:5: [backend] address: *:PORT is only allowed for listen, got \"*:18080\"" } },
	{ "backend address v6 without brackets",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\naddress = ::1:18080\n" },
	  { "{D}/services.d/web.conf:5: [backend] address: an IPv6 address needs brackets: [V6]:PORT, got \"::1:18080\"" } },
	{ "missing exec",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend]\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf: [backend] exec: required, not given" } },
	{ "missing listen",
	  NULL,
	  { "web.conf", "[backend]\nexec = /bin/true\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf: [service] listen: required, not given" } },
	{ "missing address",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\nready = notify\n" },
	  { "{D}/services.d/web.conf: [backend] address: required unless ready = socket, not given" } },
	{ "empty file",
	  NULL,
	  { "web.conf", "" },
	  { "{D}/services.d/web.conf: [service] listen: required, not given",
	    "{D}/services.d/web.conf: [backend] exec: required, not given",
	    "{D}/services.d/web.conf: [backend] address: required unless ready = socket, not given" } },
	{ "empty exec and listen values",
	  NULL,
	  { "web.conf", "[service]\nlisten =\n[backend]\nexec = ; later\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:2: [service] listen: required, got an empty value",
	    "{D}/services.d/web.conf:4: [backend] exec: required, got an empty value" } },
	{ "every listen empty",
	  NULL,
	  { "web.conf", "[service]\nlisten =\nlisten = ;\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:2: [service] listen: required, got an empty value" } },
	{ "empty address",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\naddress =\n" },
	  { "{D}/services.d/web.conf:5: [backend] address: required unless ready = socket, got an empty value" } },
	{ "unknown section",
	  NULL,
	  { "web.conf", "; web\n[servic]\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:2: [servic]: unknown section, expected [service], [backend] or [http]" } },
	{ "misspelt key",
	  NULL,
	  { "web.conf", "[service]\nlsten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:2: [service] lsten: unknown key, did you mean listen?",
	    "{D}/services.d/web.conf: [service] listen: required, not given" } },
	{ "key in the wrong section",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\nexec = /bin/true\n[backend]\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:3: [service] exec: unknown key in [service], exec belongs in [backend]",
	    "{D}/services.d/web.conf: [backend] exec: required, not given" } },
	{ "unknown key",
	  NULL,
	  { "web.conf", VALID_SERVICE "restart = always\n" },
	  { "{D}/services.d/web.conf:6: [backend] restart: unknown key" } },
	{ "key case matters",
	  NULL,
	  { "web.conf", VALID_SERVICE "Ready = notify\n" },
	  { "{D}/services.d/web.conf:6: [backend] Ready: unknown key, did you mean ready?" } },
	{ "key given twice",
	  NULL,
	  { "web.conf", VALID_SERVICE "ready = connect\n\nready = notify\n" },
	  { "{D}/services.d/web.conf:8: [backend] ready: given twice, first at line 6" } },
	{ "key given twice across repeated sections",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nlisten = 127.0.0.1:8081\n[backend]\nexec = /bin/false\n" },
	  { "{D}/services.d/web.conf:9: [backend] exec: given twice, first at line 4" } },
	{ "key before any section",
	  NULL,
	  { "web.conf", "listen = 127.0.0.1:8080\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:1: listen: key outside of a section, expected [service], [backend] or [http] before it",
	    "{D}/services.d/web.conf: [service] listen: required, not given" } },
	{ "line without =",
	  NULL,
	  { "web.conf", VALID_SERVICE "oops\n" },
	  { "{D}/services.d/web.conf:6: expected KEY = VALUE or [SECTION], got \"oops\"" } },
	{ "indented line is no continuation",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nlisten = 127.0.0.1:8081\n    127.0.0.1:8082\n" },
	  { "{D}/services.d/web.conf:8: expected KEY = VALUE or [SECTION], got \"127.0.0.1:8082\"" } },
	{ "key with a space",
	  NULL,
	  { "web.conf", VALID_SERVICE "stop signal = TERM\n" },
	  { "{D}/services.d/web.conf:6: expected KEY = VALUE or [SECTION], got \"stop signal = TERM\"" } },
	{ "unterminated section header",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend\nexec = /bin/true\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:3: expected [SECTION], got \"[backend\"" } },
	{ "junk after section header",
	  NULL,
	  { "web.conf", "[service] x\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:1: expected [SECTION], got \"[service] x\"" } },
	{ "exec unterminated quote",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = sh -c 'echo hi\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:4: [backend] exec: expected a command line, got \"sh -c 'echo hi\" (unterminated quote)" } },
	{ "exec trailing backslash",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true \\\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:4: [backend] exec: expected a command line, got \"/bin/true \\\\\" (trailing backslash)" } },
	{ "exec empty program name",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = '' x\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:4: [backend] exec: expected a command line, got \"'' x\" (empty program name)" } },
	{ "bad environment entries",
	  NULL,
	  { "web.conf", VALID_SERVICE "environment = 1FOO=bar\nenvironment = novalue\nenvironment = A-B=1\n" },
	  { "{D}/services.d/web.conf:6: [backend] environment: expected KEY=VALUE with a KEY of letters, digits and _ not starting with a digit, got \"1FOO=bar\"",
	    "{D}/services.d/web.conf:7: [backend] environment: expected KEY=VALUE with a KEY of letters, digits and _ not starting with a digit, got \"novalue\"",
	    "{D}/services.d/web.conf:8: [backend] environment: expected KEY=VALUE with a KEY of letters, digits and _ not starting with a digit, got \"A-B=1\"" } },
	{ "relative working_directory",
	  NULL,
	  { "web.conf", VALID_SERVICE "working_directory = srv/web\n" },
	  { "{D}/services.d/web.conf:6: [backend] working_directory: expected an absolute path, got \"srv/web\"" } },
	{ "same listen twice in one file",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nlisten = localhost:8080\n" },
	  { "{D}/services.d/web.conf:7: [service] listen: localhost:8080 is already used by listen = 127.0.0.1:8080 at line 2" } },
	{ "wildcard listen overlaps a specific one",
	  NULL,
	  { "web.conf", VALID_SERVICE "[service]\nlisten = [::1]:8080\nlisten = *:8080\n" },
	  { "{D}/services.d/web.conf:8: [service] listen: *:8080 is already used by listen = 127.0.0.1:8080 at line 2" } },
	{ "same listen in two services",
	  NULL,
	  { "a.conf", VALID_SERVICE,
	    "b.conf", "[service]\nlisten = 127.0.0.1:9090\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:19090\n" },
	  { "{D}/services.d/b.conf:3: [service] listen: 127.0.0.1:8080 is already used by service a (listen = 127.0.0.1:8080 at {D}/services.d/a.conf:2)" } },
	{ "host: the same host in two services on one address",
	  NULL,
	  { "a.conf", HTTP_SERVICE("18080") "host = www.example.com\nhost = a.example.com\n",
	    "b.conf", HTTP_SERVICE("19090") "host = b.example.com\nhost = WWW.Example.com\n" },
	  { "{D}/services.d/b.conf:9: [http] host: www.example.com is already taken by service a on listen 127.0.0.1:8080 ({D}/services.d/a.conf:8)" } },
	{ "host: the same wildcard in two services on one address",
	  NULL,
	  { "a.conf", HTTP_SERVICE("18080") "host = *.example.com\n",
	    "b.conf", HTTP_SERVICE("19090") "host = *.example.com\n" },
	  { "{D}/services.d/b.conf:8: [http] host: *.example.com is already taken by service a on listen 127.0.0.1:8080 ({D}/services.d/a.conf:8)" } },
	{ "host: two services without host on one address",
	  NULL,
	  { "a.conf", HTTP_SERVICE("18080"),
	    "b.conf", HTTP_SERVICE("19090"),
	    "c.conf", HTTP_SERVICE("19191") "host = c.example.com\n" },
	  { "{D}/services.d/b.conf:2: [service] listen: 127.0.0.1:8080 is already used by service a (listen = 127.0.0.1:8080 at {D}/services.d/a.conf:2); both have no [http] host, and only one service of an address may be its default" } },
	{ "host: a tcp service on an http service's address",
	  NULL,
	  { "a.conf", HTTP_SERVICE("18080") "host = a.example.com\n",
	    "b.conf", "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:19090\n" },
	  { "{D}/services.d/b.conf:2: [service] listen: 127.0.0.1:8080 is already used by service a (listen = 127.0.0.1:8080 at {D}/services.d/a.conf:2); only services with protocol = http may share a listen address" } },
	{ "host: a wildcard listen covering another service's address is no shared socket",
	  NULL,
	  { "a.conf", HTTP_SERVICE("18080") "host = a.example.com\n",
	    "b.conf", "[service]\nlisten = *:8080\nprotocol = http\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:19090\n[http]\nhost = b.example.com\n" },
	  { "{D}/services.d/b.conf:2: [service] listen: *:8080 is already used by service a (listen = 127.0.0.1:8080 at {D}/services.d/a.conf:2)" } },
	{ "host in a tcp service",
	  NULL,
	  { "web.conf", VALID_SERVICE "[http]\nhost = example.com\n" },
	  { "{D}/services.d/web.conf:7: [http] host: [http] only with protocol = http, protocol is tcp" } },
	{ "host: bad names",
	  NULL,
	  { "web.conf", HTTP_SERVICE("18080") "host = example.com:8080\nhost = exa mple.com\nhost = *.\nhost = -a.example.com\nhost = a..example.com\nhost = *.*.example.com\nhost = a_b.example.com\nhost = [::1\n" },
	  { "{D}/services.d/web.conf:8: [http] host: expected a host name (letters, digits, - and ., or an [IPv6] address, \"*.\" before it for every name under it; no port), got \"example.com:8080\"",
	    "{D}/services.d/web.conf:9: [http] host: expected a host name (letters, digits, - and ., or an [IPv6] address, \"*.\" before it for every name under it; no port), got \"exa mple.com\"",
	    "{D}/services.d/web.conf:10: [http] host: expected a host name (letters, digits, - and ., or an [IPv6] address, \"*.\" before it for every name under it; no port), got \"*.\"",
	    "{D}/services.d/web.conf:11: [http] host: expected a host name (letters, digits, - and ., or an [IPv6] address, \"*.\" before it for every name under it; no port), got \"-a.example.com\"",
	    "{D}/services.d/web.conf:12: [http] host: expected a host name (letters, digits, - and ., or an [IPv6] address, \"*.\" before it for every name under it; no port), got \"a..example.com\"",
	    "{D}/services.d/web.conf:13: [http] host: expected a host name (letters, digits, - and ., or an [IPv6] address, \"*.\" before it for every name under it; no port), got \"*.*.example.com\"",
	    "{D}/services.d/web.conf:14: [http] host: expected a host name (letters, digits, - and ., or an [IPv6] address, \"*.\" before it for every name under it; no port), got \"a_b.example.com\"",
	    "{D}/services.d/web.conf:15: [http] host: expected a host name (letters, digits, - and ., or an [IPv6] address, \"*.\" before it for every name under it; no port), got \"[::1\"" } },
	{ "host: the same host twice in one service",
	  NULL,
	  { "web.conf", HTTP_SERVICE("18080") "host = a.example.com\nhost = A.example.COM\n" },
	  { "{D}/services.d/web.conf:9: [http] host: a.example.com is given already at line 8" } },
	{ "same systemd name in two services",
	  NULL,
	  { "a.conf", "[service]\nlisten = systemd:web\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:18080\n",
	    "b.conf", "[service]\nlisten = systemd:web\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:19090\n" },
	  { "{D}/services.d/b.conf:2: [service] listen: systemd:web is already used by service a (listen = systemd:web at {D}/services.d/a.conf:2)" } },
	{ "socket backend address is another service's listen",
	  NULL,
	  { "a.conf", VALID_SERVICE,
	    "b.conf", "[service]\nlisten = 127.0.0.1:9090\n[backend]\nexec = /bin/true\nready = socket\naddress = 127.0.0.1:8080\n" },
	  { "{D}/services.d/b.conf:6: [backend] address: 127.0.0.1:8080 is already used by service a (listen = 127.0.0.1:8080 at {D}/services.d/a.conf:2)" } },
	{ "socket backend address is its own listen",
	  NULL,
	  { "web.conf", "[backend]\nready = socket\naddress = unix:/run/web.sock\nexec = /bin/true\n[service]\nlisten = unix:/run/web.sock\n" },
	  { "{D}/services.d/web.conf:3: [backend] address: unix:/run/web.sock is already used by listen = unix:/run/web.sock at line 6" } },
	{ "invalid service name",
	  NULL,
	  { "bad name.conf", VALID_SERVICE },
	  { "{D}/services.d/bad name.conf: invalid service name \"bad name\", expected letters, digits, _ . and - (at most 64)" } },
	{ "service name too long",
	  NULL,
	  { "s2345678901234567890123456789012345678901234567890123456789012345.conf", VALID_SERVICE },
	  { "{D}/services.d/s2345678901234567890123456789012345678901234567890123456789012345.conf: invalid service name \"s2345678901234567890123456789012345678901234567890123456789012345\", expected letters, digits, _ . and - (at most 64)" } },
	{ "line too long",
	  NULL,
	  { "web.conf", NULL /* filled at run time */ },
	  { "{D}/services.d/web.conf:6: line too long (5000 characters, at most 4096)" } },
	{ "NUL byte",
	  NULL,
	  { "web.conf", NULL /* filled at run time */ },
	  { "{D}/services.d/web.conf:6: unexpected NUL byte" } },
	{ "several errors in one file",
	  NULL,
	  { "web.conf", "[service]\nlisten = 127.0.0.1:0\nidle_timeout = soon\n[backend]\nready = maybe\n"
			"exec = /bin/true\nexec = /bin/false\nfoo = 1\n" },
	  { "{D}/services.d/web.conf:2: [service] listen: expected a port from 1 to 65535, got \"127.0.0.1:0\"",
	    "{D}/services.d/web.conf:3: [service] idle_timeout: expected a duration such as 250ms, 30s, 5m, 1h 30m or infinity, got \"soon\"",
	    "{D}/services.d/web.conf:5: [backend] ready: expected connect, notify, socket, command or http, got \"maybe\"",
	    "{D}/services.d/web.conf:7: [backend] exec: given twice, first at line 6",
	    "{D}/services.d/web.conf:8: [backend] foo: unknown key" } },
	{ "errors in two files",
	  NULL,
	  { "api.conf", VALID_SERVICE "ready = sokcet\n",
	    "web.conf", "[service]\nlisten = 127.0.0.1:9090\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:19090\nstop_timeout = 1y\n" },
	  { "{D}/services.d/api.conf:6: [backend] ready: expected connect, notify, socket, command or http, got \"sokcet\"",
	    "{D}/services.d/web.conf:6: [backend] stop_timeout: expected a duration such as 250ms, 30s, 5m, 1h 30m or infinity, got \"1y\"" } },
	{ "global: unknown key and bad log level",
	  "[zeroproxy]\nservices_dir = services.d\nlog_level = verbose\nlisten = 1\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:3: [zeroproxy] log_level: expected error, warning, notice, info or debug, got \"verbose\"",
	    "{D}/zeroproxy.conf:4: [zeroproxy] listen: unknown key" } },
	{ "global: unknown section",
	  "[zeroproxy]\nservices_dir = services.d\n[service]\nlisten = 127.0.0.1:1\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:3: [service]: unknown section, expected [zeroproxy] or [group NAME]" } },
	{ "group: a service's group names no section",
	  "[zeroproxy]\nservices_dir = services.d\n[group gpu]\ncapacity = 1\n",
	  { "web.conf", "[service]\nlisten = 127.0.0.1:8080\ngroup = gpx\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:18080\n" },
	  { "{D}/services.d/web.conf:3: [service] group: no [group gpx] in {D}/zeroproxy.conf" } },
	{ "group: group_weight above the capacity",
	  "[zeroproxy]\nservices_dir = services.d\n[group gpu]\ncapacity = 2\n",
	  { "web.conf", VALID_SERVICE "[service]\ngroup = gpu\ngroup_weight = 3\n" },
	  { "{D}/services.d/web.conf:8: [service] group_weight: expected at most the capacity of group gpu (2 at {D}/zeroproxy.conf:3), got \"3\"" } },
	{ "group: group_weight zero and not a number",
	  "[zeroproxy]\nservices_dir = services.d\n[group gpu]\ncapacity = 2\n",
	  { "api.conf", "[service]\nlisten = 127.0.0.1:8081\ngroup_weight = 0\n[backend]\nexec = /bin/true\naddress = 127.0.0.1:18081\n",
	    "web.conf", VALID_SERVICE "[service]\ngroup = gpu\ngroup_weight = heavy\n" },
	  { "{D}/services.d/api.conf:3: [service] group_weight: expected a whole number from 1 to 4294967295, got \"0\"",
	    "{D}/services.d/web.conf:8: [service] group_weight: expected a whole number from 1 to 4294967295, got \"heavy\"" } },
	{ "group: duplicate section",
	  "[zeroproxy]\nservices_dir = services.d\n[group gpu]\ncapacity = 1\n[group gpu]\ncapacity = 2\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:5: [group gpu]: given twice, first at line 3" } },
	{ "group: bad capacity",
	  "[zeroproxy]\nservices_dir = services.d\n[group a]\ncapacity = 0\n[group b]\ncapacity = lots\n[group c]\ncapacity = 1\ncapacity = 2\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:4: [group a] capacity: expected a whole number from 1 to 4294967295, got \"0\"",
	    "{D}/zeroproxy.conf:6: [group b] capacity: expected a whole number from 1 to 4294967295, got \"lots\"",
	    "{D}/zeroproxy.conf:9: [group c] capacity: given twice, first at line 8" } },
	{ "group: capacity missing or empty",
	  "[zeroproxy]\nservices_dir = services.d\n[group a]\n[group b]\ncapacity =\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:3: [group a] capacity: required, not given",
	    "{D}/zeroproxy.conf:5: [group b] capacity: required, got an empty value" } },
	{ "group: unknown key, no name, bad name",
	  "[zeroproxy]\nservices_dir = services.d\n[group gpu]\ncapacity = 1\nweight = 2\n[group]\ncapacity = 1\n[group g/1]\ncapacity = 1\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:5: [group gpu] weight: unknown key",
	    "{D}/zeroproxy.conf:6: [group]: unknown section, expected [zeroproxy] or [group NAME]",
	    "{D}/zeroproxy.conf:8: [group \"g/1\"]: invalid group name, expected letters, digits, _ . and - (at most 64)" } },
	{ "group: a key of [group] in [zeroproxy]",
	  "[zeroproxy]\nservices_dir = services.d\ncapacity = 1\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:3: [zeroproxy] capacity: unknown key in [zeroproxy], capacity belongs in [group]" } },
	{ "global: metrics_listen forms",
	  "[zeroproxy]\nservices_dir = services.d\nmetrics_listen = unix:/run/m.sock\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:3: [zeroproxy] metrics_listen: expected HOST:PORT or [V6]:PORT, got \"unix:/run/m.sock\"" } },
	{ "global: metrics_listen bad port",
	  "[zeroproxy]\nservices_dir = services.d\nmetrics_listen = 127.0.0.1:0\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:3: [zeroproxy] metrics_listen: expected a port from 1 to 65535, got \"127.0.0.1:0\"" } },
	{ "global: metrics_listen is a service's listen",
	  "[zeroproxy]\nservices_dir = services.d\nmetrics_listen = 127.0.0.1:8080\n",
	  { "web.conf", VALID_SERVICE },
	  { "{D}/zeroproxy.conf:3: [zeroproxy] metrics_listen: 127.0.0.1:8080 is already used by service web (listen = 127.0.0.1:8080 at {D}/services.d/web.conf:2)" } },
	{ "global: control_socket too long",
	  "[zeroproxy]\nservices_dir = services.d\ncontrol_socket = /run/zeroproxy/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789.sock\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:3: [zeroproxy] control_socket: expected a socket path of at most 107 bytes, got \"/run/zeroproxy/01234567890123456789012345678901234567890123456789012345678901234\"..." } },
	{ "global: services_dir missing",
	  "[zeroproxy]\nservices_dir = nowhere\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:2: [zeroproxy] services_dir: cannot open {D}/nowhere: No such file or directory" } },
	{ "global: key given twice",
	  "[zeroproxy]\nservices_dir = services.d\nstate_dir = a\nstate_dir = b\n",
	  { NULL },
	  { "{D}/zeroproxy.conf:4: [zeroproxy] state_dir: given twice, first at line 3" } },
	{ "global and service errors together",
	  "[zeroproxy]\nservices_dir = services.d\nlog_level = loud\n",
	  { "web.conf", VALID_SERVICE "ready = later\n" },
	  { "{D}/zeroproxy.conf:3: [zeroproxy] log_level: expected error, warning, notice, info or debug, got \"loud\"",
	    "{D}/services.d/web.conf:6: [backend] ready: expected connect, notify, socket, command or http, got \"later\"" } },
};
/* clang-format on */

/* The cases whose file content cannot be a string literal. */
static char *special_content(const char *title)
{
	if (strcmp(title, "line too long") == 0) {
		char *s = xcalloc(1, 6000);
		strcpy(s, VALID_SERVICE "; ");
		size_t n = strlen(s);
		memset(s + n, 'x', 4998);
		strcat(s, "\nready = connect\n");
		return s;
	}
	return NULL;
}

static void run_bad_case(size_t i, const struct bad_case *bc)
{
	char *name = xasprintf("bad-%02zu", i);
	char *dir = case_dir(name);
	char *conf = xasprintf("%s/zeroproxy.conf", dir);
	struct config *c = (struct config *)0x1;
	struct diag d = {0};
	size_t n_want = 0;

	write_file(conf, bc->global ? bc->global : default_global);
	for (size_t f = 0; f + 1 < ZP_ARRAY_SIZE(bc->files) && bc->files[f]; f += 2) {
		char *path = xasprintf("%s/services.d/%s", dir, bc->files[f]);
		if (bc->files[f + 1]) {
			write_file(path, bc->files[f + 1]);
		} else if (strcmp(bc->title, "NUL byte") == 0) {
			FILE *fp = fopen(path, "we");
			fputs(VALID_SERVICE, fp);
			fwrite("ready = con\0nect\n", 1, 17, fp);
			fclose(fp);
		} else {
			char *s = special_content(bc->title);
			write_file(path, s);
			free(s);
		}
		free(path);
	}
	while (n_want < ZP_ARRAY_SIZE(bc->errors) && bc->errors[n_want])
		n_want++;

	int r = config_load(conf, true, &c, &d);
	bool pass = r == -EINVAL && c == NULL && d.n_errors == n_want;
	for (size_t e = 0; pass && e < n_want; e++) {
		char *want = subst(bc->errors[e], dir);
		pass = strcmp(d.errors[e], want) == 0;
		free(want);
	}
	ok(pass, "invalid config: %s", bc->title);
	if (!pass) {
		note("r=%d, %zu errors, %zu expected:", r, d.n_errors, n_want);
		for (size_t e = 0; e < d.n_errors; e++)
			note("  got:  %s", d.errors[e]);
		for (size_t e = 0; e < n_want; e++) {
			char *want = subst(bc->errors[e], dir);
			note("  want: %s", want);
			free(want);
		}
	}
	if (r == 0)
		config_free(c);
	diag_free(&d);
	free(conf);
	free(dir);
	free(name);
}

/* Errors that need something a string table cannot say. */
static void test_bad_special(void)
{
	struct config *c;
	struct diag d = {0};

	/* -c pointing at nothing. */
	char *dir = case_dir("missing");
	char *conf = xasprintf("%s/nope.conf", dir);
	char *want = xasprintf("%s: cannot read: No such file or directory", conf);
	ok(config_load(conf, true, &c, &d) == -EINVAL && d.n_errors == 1 &&
	       strcmp(d.errors[0], want) == 0,
	   "explicit missing config file is an error");
	diag_free(&d);
	free(want);
	free(conf);

	/* -c pointing at a folder. */
	want = xasprintf("%s: cannot read: Is a directory", dir);
	ok(config_load(dir, true, &c, &d) == -EINVAL && d.n_errors == 1 &&
	       strcmp(d.errors[0], want) == 0,
	   "config path that is a folder is an error");
	diag_free(&d);
	free(want);
	free(dir);

	/* A folder named like a service file. */
	dir = case_dir("subdir");
	conf = xasprintf("%s/zeroproxy.conf", dir);
	write_file(conf, default_global);
	char *sub = xasprintf("%s/services.d/sub.conf", dir);
	mkdir(sub, 0700);
	want = xasprintf("%s: is a directory, expected a service file", sub);
	ok(config_load(conf, true, &c, &d) == -EINVAL && d.n_errors == 1 &&
	       strcmp(d.errors[0], want) == 0,
	   "invalid config: a folder in services.d named *.conf");
	diag_free(&d);
	free(want);
	free(sub);

	/* A dangling symlink. */
	char *link = xasprintf("%s/services.d/gone.conf", dir);
	symlink("/nonexistent/zp-test", link);
	want = xasprintf("%s: cannot read: No such file or directory", link);
	ok(config_load(conf, true, &c, &d) == -EINVAL && d.n_errors == 2 &&
	       strcmp(d.errors[0], want) == 0,
	   "invalid config: a dangling symlink in services.d");
	diag_free(&d);
	free(want);
	free(link);

	/* An unreadable service file (root reads anything: skip). */
	char *locked = xasprintf("%s/services.d/locked.conf", dir);
	if (geteuid() != 0) {
		write_file(locked, VALID_SERVICE);
		chmod(locked, 0);
		want = xasprintf("%s: cannot read: Permission denied", locked);
		ok(config_load(conf, true, &c, &d) == -EINVAL && d.n_errors == 3 &&
		       strcmp(d.errors[1], want) == 0,
		   "invalid config: an unreadable service file");
		diag_free(&d);
		free(want);
	} else {
		ok(true, "# SKIP unreadable file: running as root");
	}
	free(locked);
	free(conf);
	free(dir);
}

/* ---- valid configurations ---- */

/* Load dir/zeroproxy.conf and expect success without errors. */
static struct config *load_ok(const char *dir, const char *what, struct diag *d)
{
	char *conf = xasprintf("%s/zeroproxy.conf", dir);
	struct config *c = NULL;
	int r = config_load(conf, true, &c, d);
	if (!ok(r == 0 && c, "%s loads", what))
		for (size_t i = 0; i < d->n_errors; i++)
			note("error: %s", d->errors[i]);
	free(conf);
	return r == 0 ? c : NULL;
}

static void test_defaults(void)
{
	char *dir = case_dir("defaults");
	char *conf = xasprintf("%s/zeroproxy.conf", dir);
	char *svc = xasprintf("%s/services.d/web.conf", dir);
	struct diag d = {0};

	write_file(conf, default_global);
	write_file(svc, VALID_SERVICE);
	struct config *c = load_ok(dir, "minimal service", &d);
	is_int((long long)d.n_warnings, 0, "no warnings");
	if (c) {
		char *want = xasprintf("%s/services.d", dir);
		is_str(c->services_dir, want, "services_dir resolved");
		free(want);
		is_str(c->control_socket, RUNSTATEDIR "/zeroproxy/control.sock",
		       "control_socket default");
		is_str(c->state_dir, LOCALSTATEDIR "/lib/zeroproxy", "state_dir default");
		is_int(c->log_level, LOG_INFO, "log_level default");
		ok(!c->has_metrics, "no metrics by default");
		is_int((long long)c->n_services, 1, "one service");
		struct service_config *s = config_find(c, "web");
		ok(s != NULL, "config_find(web)");
		ok(config_find(c, "api") == NULL, "config_find(api) is NULL");
		if (s) {
			is_str(s->name, "web", "name from the file name");
			is_str(s->path, svc, "path as built");
			is_int((long long)s->n_listen, 1, "one listen");
			is_str(s->listen[0].text, "127.0.0.1:8080", "listen text");
			is_int((long long)s->idle_timeout_ms, 300000, "idle_timeout default 5m");
			ok(s->freeze_after_ms == ZP_INFINITY, "freeze_after default infinity");
			is_int(s->max_connections, 1024, "max_connections default");
			is_int(s->max_pending, 256, "max_pending default");
			is_int((long long)s->pending_timeout_ms, 30000, "pending_timeout default");
			is_int((long long)s->connection_idle_timeout_ms, 3600000,
			       "connection_idle_timeout default");
			is_str(s->exec, "/bin/true", "exec");
			ok(s->argv && strv_length(s->argv) == 1 &&
			       strcmp(s->argv[0], "/bin/true") == 0,
			   "argv");
			ok(s->has_address && strcmp(s->address.text, "127.0.0.1:18080") == 0,
			   "address");
			is_int(s->ready, ZP_READY_CONNECT, "ready default connect");
			is_int((long long)s->start_timeout_ms, 30000, "start_timeout default");
			is_int(s->stop_signal, SIGTERM, "stop_signal default");
			is_int((long long)s->stop_timeout_ms, 10000, "stop_timeout default");
			ok(!s->ready_argv, "no ready_command by default");
			is_int(s->kill_mode, ZP_KILL_MIXED, "kill_mode default mixed");
			ok(!s->user && !s->group && !s->working_directory && !s->environment,
			   "user, group, working_directory, environment unset");
		}
		config_free(c);
	}
	diag_free(&d);

	/* Without -c, a missing zeroproxy.conf means the compiled-in defaults. */
	char *missing = xasprintf("%s/absent.conf", dir);
	c = NULL;
	int r = config_load(missing, false, &c, &d);
	ok(r == 0, "missing zeroproxy.conf without -c is fine");
	if (r == 0) {
		is_str(c->path, missing, "path kept");
		char *want = xasprintf("%s/services.d", dir);
		is_str(c->services_dir, want, "services_dir default: beside the config file");
		free(want);
		is_str(c->control_socket, RUNSTATEDIR "/zeroproxy/control.sock",
		       "control_socket default");
		is_str(c->state_dir, LOCALSTATEDIR "/lib/zeroproxy", "state_dir default");
		config_free(c);
	}
	diag_free(&d);

	/* config_load_global stops before the services. */
	write_file(svc, "broken\n");
	r = config_load_global(conf, true, &c, &d);
	ok(r == 0 && c && c->n_services == 0 && d.n_errors == 0,
	   "config_load_global ignores a broken service file");
	if (r == 0)
		config_free(c);
	diag_free(&d);
	r = config_load(conf, true, &c, &d);
	ok(r == -EINVAL && !c && d.n_errors == 4, "config_load does not");
	diag_free(&d);

	free(missing);
	free(svc);
	free(conf);
	free(dir);
}

static void test_every_key(void)
{
	char *dir = case_dir("every-key");
	char *conf = xasprintf("%s/zeroproxy.conf", dir);
	char *svc = xasprintf("%s/services.d/api-2.conf", dir);
	struct diag d = {0};

	write_file(conf, "\xef\xbb\xbf; global settings\n"
			 "[zeroproxy]\n"
			 "services_dir   = services.d      ; relative\n"
			 "control_socket = run/control.sock\n"
			 "state_dir      = /var/tmp/zp-state\n"
			 "log_level      = debug\n"
			 "metrics_listen = [::1]:9100\n");
	write_file(svc, "# every key with a value other than its default\r\n"
			"[service]\r\n"
			"  listen = 127.0.0.1:8080\n"
			"\tlisten = [::1]:8080 ; comment\n"
			"listen = unix:/run/api.sock\n"
			"listen = systemd:api-http\n"
			"listen = *:8443\n"
			"listen = unix:@api-abstract\n"
			"idle_timeout = infinity\n"
			"max_connections = 10\n"
			"max_pending = 5\n"
			"pending_timeout = 1.5s\n"
			"connection_idle_timeout = 1h 30m\n"
			"[backend]\n"
			"exec = /bin/sh -c 'exec \"$0\" \"$@\"' /bin/true \"a b\" c\\ d x;y\n"
			"address = unix:/run/api-backend.sock\n"
			"ready = socket\n"
			"start_timeout = 250ms\n"
			"stop_signal = INT\n"
			"stop_timeout = 0\n"
			"user = www-data\n"
			"group = nogroup\n"
			"working_directory = /\n"
			"environment = A=1\n"
			"environment = B=two words\n"
			"environment = A=3\n"
			"environment = EMPTY=\n"
			"environment =\n");
	struct config *c = load_ok(dir, "a file with every key", &d);
	if (c) {
		char *want = xasprintf("%s/run/control.sock", dir);
		is_str(c->control_socket, want,
		       "control_socket resolved against the config folder");
		free(want);
		is_str(c->state_dir, "/var/tmp/zp-state", "absolute state_dir kept");
		is_int(c->log_level, LOG_DEBUG, "log_level debug");
		ok(c->has_metrics && strcmp(c->metrics_listen.text, "[::1]:9100") == 0,
		   "metrics_listen");
		struct service_config *s = config_find(c, "api-2");
		ok(s != NULL, "service api-2");
		if (s) {
			static const char *const listen[] = {
			    "127.0.0.1:8080",   "[::1]:8080", "unix:/run/api.sock",
			    "systemd:api-http", "*:8443",     "unix:@api-abstract",
			};
			bool same = s->n_listen == ZP_ARRAY_SIZE(listen);
			for (size_t i = 0; same && i < s->n_listen; i++)
				same = strcmp(s->listen[i].text, listen[i]) == 0;
			ok(same, "six listen addresses in order");
			is_int(s->listen[3].kind, ZP_ADDR_SYSTEMD, "systemd listen kind");
			is_str(s->listen[3].name, "api-http", "systemd listen name");
			ok(s->idle_timeout_ms == ZP_INFINITY, "idle_timeout infinity");
			is_int(s->max_connections, 10, "max_connections");
			is_int(s->max_pending, 5, "max_pending");
			is_int((long long)s->pending_timeout_ms, 1500, "pending_timeout 1.5s");
			is_int((long long)s->connection_idle_timeout_ms, 5400000,
			       "connection_idle_timeout 1h 30m");
			is_str(s->exec,
			       "/bin/sh -c 'exec \"$0\" \"$@\"' /bin/true \"a b\" c\\ d x;y",
			       "exec as written");
			static const char *const argv[] = {
			    "/bin/sh", "-c", "exec \"$0\" \"$@\"", "/bin/true", "a b", "c d", "x;y",
			};
			same = strv_length(s->argv) == ZP_ARRAY_SIZE(argv);
			for (size_t i = 0; same && i < ZP_ARRAY_SIZE(argv); i++)
				same = strcmp(s->argv[i], argv[i]) == 0;
			ok(same, "argv split with quoting");
			ok(s->has_address && s->address.kind == ZP_ADDR_UNIX &&
			       strcmp(s->address.text, "unix:/run/api-backend.sock") == 0,
			   "unix backend address");
			is_int(s->ready, ZP_READY_SOCKET, "ready socket");
			is_int((long long)s->start_timeout_ms, 250, "start_timeout 250ms");
			is_int(s->stop_signal, SIGINT, "stop_signal INT");
			is_int((long long)s->stop_timeout_ms, 0, "stop_timeout 0");
			is_str(s->user, "www-data", "user");
			is_str(s->group, "nogroup", "group");
			is_str(s->working_directory, "/", "working_directory");
			ok(strv_length(s->environment) == 3 &&
			       strcmp(s->environment[0], "A=3") == 0 &&
			       strcmp(s->environment[1], "B=two words") == 0 &&
			       strcmp(s->environment[2], "EMPTY=") == 0,
			   "environment: repeatable, a later KEY replaces, empty value adds "
			   "nothing");
		}
		config_free(c);
	}
	diag_free(&d);
	free(svc);
	free(conf);
	free(dir);
}

static void test_more_valid(void)
{
	char *dir = case_dir("more-valid");
	char *conf = xasprintf("%s/zeroproxy.conf", dir);
	char *path;
	struct diag d = {0};

	write_file(conf, "[zeroproxy]\nservices_dir = ./services.d/\nlog_level =\n"
			 "metrics_listen = ; off\ncontrol_socket = ; default\n");
	/* The example of zeroproxy.conf(5), comments and empty values included. */
	path = xasprintf("%s/services.d/web.conf", dir);
	write_file(
	    path,
	    "[service]\n"
	    "listen          = 127.0.0.1:8080    ; repeatable: HOST:PORT, [V6]:PORT, *:PORT, "
	    "unix:/path, systemd:FDNAME\n"
	    "idle_timeout    = 5m                ; stop the backend after no client connection for "
	    "this long; \"infinity\" = never\n"
	    "max_connections = 1024              ; open client connections (active + pending) at "
	    "most; more are refused (closed at once)\n"
	    "max_pending     = 256               ; connections waiting for the backend to become "
	    "ready, at most\n"
	    "pending_timeout = 30s               ; a waiting connection is closed after this long\n"
	    "connection_idle_timeout = 1h        ; a client connection with no bytes in either "
	    "direction is closed after this long\n"
	    "\n"
	    "[backend]\n"
	    "exec            = /bin/true -m http.server --bind 127.0.0.1 18080   ; argv, split "
	    "with shell-like quoting, never run through a shell\n"
	    "address         = 127.0.0.1:18080   ; where the backend accepts: HOST:PORT, "
	    "[V6]:PORT, unix:/path\n"
	    "ready           = connect           ; connect | notify | socket  (see below)\n"
	    "start_timeout   = 30s               ; not ready by then: the start has failed\n"
	    "stop_signal     = SIGTERM\n"
	    "stop_timeout    = 10s               ; then SIGKILL\n"
	    "user            =                   ; run the backend as this user (and its primary "
	    "group) — only when zeroproxy is root\n"
	    "group           =\n"
	    "working_directory =\n"
	    "environment     = KEY=VALUE         ; repeatable\n");
	free(path);
	/* ready = socket needs no address; a lower max_connections lowers max_pending. */
	path = xasprintf("%s/services.d/sock.conf", dir);
	write_file(path, "[service]\nlisten = 127.0.0.1:8081\nmax_connections = 8\n"
			 "idle_timeout = 0\n[backend]\nexec = true\nready = socket\n");
	free(path);
	/* A value longer than inih's 200-byte line buffer. */
	path = xasprintf("%s/services.d/long.conf", dir);
	{
		char *exec = xcalloc(1, 1200);
		strcpy(exec, "/bin/true");
		for (int i = 0; i < 100; i++)
			strcat(exec, " arg-word");
		char *content =
		    xasprintf("[service]\nlisten = 127.0.0.1:8082\n[backend]\nexec = %s\n"
			      "address = 127.0.0.1:18082\n",
			      exec);
		write_file(path, content);
		free(content);
		free(exec);
	}
	free(path);
	/* Ignored: not *.conf. */
	path = xasprintf("%s/services.d/README", dir);
	write_file(path, "not a config\n");
	free(path);
	path = xasprintf("%s/services.d/web.conf.bak", dir);
	write_file(path, "not a config\n");
	free(path);

	struct config *c =
	    load_ok(dir, "the man page's example, socket without address, long line", &d);
	if (c) {
		char *want = xasprintf("%s/services.d", dir);
		is_str(c->services_dir, want, "./services.d/ resolved");
		free(want);
		is_int(c->log_level, LOG_INFO, "empty log_level is the default");
		ok(!c->has_metrics, "empty metrics_listen is off");
		is_str(c->control_socket, RUNSTATEDIR "/zeroproxy/control.sock",
		       "empty control_socket is the default");
		is_int((long long)c->n_services, 3, "three services, README and .bak ignored");
		ok(c->n_services == 3 && strcmp(c->services[0]->name, "long") == 0 &&
		       strcmp(c->services[1]->name, "sock") == 0 &&
		       strcmp(c->services[2]->name, "web") == 0,
		   "services sorted by name");
		struct service_config *w = config_find(c, "web");
		if (w) {
			is_str(w->exec, "/bin/true -m http.server --bind 127.0.0.1 18080",
			       "inline comment cut from exec");
			ok(!w->user && !w->group && !w->working_directory,
			   "empty user/group/working_directory are unset");
			ok(strv_length(w->environment) == 1 &&
			       strcmp(w->environment[0], "KEY=VALUE") == 0,
			   "environment from the example");
		}
		struct service_config *s = config_find(c, "sock");
		if (s) {
			ok(!s->has_address && s->ready == ZP_READY_SOCKET,
			   "ready = socket without address");
			is_int(s->max_pending, 8, "max_pending follows a lower max_connections");
			is_int((long long)s->idle_timeout_ms, 0, "idle_timeout 0");
		}
		struct service_config *l = config_find(c, "long");
		if (l) {
			is_int((long long)strv_length(l->argv), 101, "long exec line kept whole");
			is_str(l->argv[100], "arg-word", "last word of the long line");
		}

		/* Summary lines for `zeroproxy check`. */
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		config_print_summary(c, f);
		fclose(f);
		is_str(buf,
		       "long: listen 127.0.0.1:8082 -> backend 127.0.0.1:18082 (ready=connect), "
		       "exec /bin/true, idle_timeout 5m\n"
		       "sock: listen 127.0.0.1:8081 -> backend private socket (ready=socket), exec "
		       "true, idle_timeout 0s\n"
		       "web: listen 127.0.0.1:8080 -> backend 127.0.0.1:18080 (ready=connect), "
		       "exec /bin/true, idle_timeout 5m\n",
		       "config_print_summary");
		free(buf);
		config_free(c);
	}
	diag_free(&d);
	free(conf);
	free(dir);
}

static void test_warnings_and_empty(void)
{
	char *dir = case_dir("warnings");
	char *conf = xasprintf("%s/zeroproxy.conf", dir);
	char *svc = xasprintf("%s/services.d/w.conf", dir);
	struct diag d = {0};

	write_file(conf, default_global);
	write_file(svc,
		   "[service]\nlisten = [::1]:8080\n[backend]\n"
		   "exec = zp-no-such-program --flag\naddress = [::1]:18080\n"
		   "working_directory = /nonexistent/zp\nenvironment = PATH=/nonexistent/bin\n");
	struct config *c = load_ok(dir, "missing program and folder are warnings", &d);
	is_int((long long)d.n_warnings, 2, "two warnings");
	if (d.n_warnings == 2) {
		char *w0 = xasprintf("%s:4: [backend] exec: program zp-no-such-program not found "
				     "in PATH (/nonexistent/bin)",
				     svc);
		char *w1 = xasprintf("%s:6: [backend] working_directory: cannot access "
				     "/nonexistent/zp: No such file or directory",
				     svc);
		is_str(d.warnings[0], w0, "exec warning");
		is_str(d.warnings[1], w1, "working_directory warning");
		free(w0);
		free(w1);
	}
	config_free(c);
	diag_free(&d);

	write_file(svc, "[service]\nlisten = [::1]:8080\n[backend]\n"
			"exec = /etc/passwd\naddress = [::1]:18080\n");
	c = load_ok(dir, "a non-executable program", &d);
	if (d.n_warnings == 1) {
		char *w0 = xasprintf(
		    "%s:4: [backend] exec: cannot execute /etc/passwd: Permission denied", svc);
		is_str(d.warnings[0], w0, "not-executable warning");
		free(w0);
	} else {
		ok(geteuid() == 0 && d.n_warnings == 0, "no warning for /etc/passwd as root");
	}
	config_free(c);
	diag_free(&d);

	/* No services at all is valid. */
	unlink(svc);
	c = load_ok(dir, "zero services", &d);
	if (c) {
		is_int((long long)c->n_services, 0, "no services");
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		config_print_summary(c, f);
		fclose(f);
		char *want = xasprintf("no services in %s/services.d\n", dir);
		is_str(buf, want, "summary of zero services");
		free(want);
		free(buf);
		config_free(c);
	}
	diag_free(&d);
	free(svc);
	free(conf);
	free(dir);
}

static void test_relative_config_path(void)
{
	char *dir = case_dir("relative");
	char *conf = xasprintf("%s/zeroproxy.conf", dir);
	char *svc = xasprintf("%s/services.d/web.conf", dir);
	char cwd[PATH_MAX];
	struct diag d = {0};
	struct config *c = NULL;

	write_file(conf, "[zeroproxy]\nservices_dir = services.d\nstate_dir = ../state\n");
	write_file(svc, VALID_SERVICE "ready = sokcet\n");
	if (!getcwd(cwd, sizeof(cwd)) || chdir(root) < 0) {
		ok(false, "chdir");
		return;
	}
	int r = config_load("relative/zeroproxy.conf", true, &c, &d);
	char *want = xasprintf("%s/relative/services.d/web.conf:6: [backend] ready: expected "
			       "connect, notify, socket, command or http, got \"sokcet\"",
			       root);
	ok(r == -EINVAL && d.n_errors == 1 && strcmp(d.errors[0], want) == 0,
	   "relative -c: services resolved to absolute paths");
	free(want);
	diag_free(&d);

	write_file(svc, VALID_SERVICE);
	r = config_load("relative/zeroproxy.conf", true, &c, &d);
	if (ok(r == 0, "relative -c loads")) {
		is_str(c->path, "relative/zeroproxy.conf", "path kept as given");
		want = xasprintf("%s/relative/../state", root);
		is_str(c->state_dir, want, "state_dir resolved against the config folder");
		free(want);
		config_free(c);
	}
	diag_free(&d);
	if (chdir(cwd) < 0)
		ok(false, "chdir back");
	free(svc);
	free(conf);
	free(dir);
}

/* Without services_dir, the service files are in services.d beside the
 * zeroproxy.conf actually used (-c), not in the compiled-in folder. */
static void test_services_dir_default(void)
{
	char *dir = case_dir("beside");
	char *conf = xasprintf("%s/zeroproxy.conf", dir);
	char *svc = xasprintf("%s/services.d/web.conf", dir);
	char *want = xasprintf("%s/services.d", dir);
	char cwd[PATH_MAX];
	struct diag d = {0};

	write_file(svc, VALID_SERVICE);
	static const char *const globals[][2] = {
	    {"[zeroproxy]\nlog_level = info\n", "no services_dir"},
	    {"[zeroproxy]\nservices_dir = ; the default\n", "an empty services_dir"},
	    {"", "an empty zeroproxy.conf"},
	};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(globals); i++) {
		write_file(conf, globals[i][0]);
		struct config *c = load_ok(dir, globals[i][1], &d);
		if (c) {
			is_str(c->services_dir, want,
			       "services_dir defaults to services.d beside -c");
			ok(c->n_services == 1 && config_find(c, "web"),
			   "the service beside -c is loaded");
			is_int((long long)d.n_warnings, 0,
			       "no warning about a missing services_dir");
			is_str(c->control_socket, RUNSTATEDIR "/zeroproxy/control.sock",
			       "control_socket default stays absolute");
			is_str(c->state_dir, LOCALSTATEDIR "/lib/zeroproxy",
			       "state_dir default stays absolute");
			config_free(c);
		}
		diag_free(&d);
	}

	/* -c relative to the working directory: resolved to an absolute folder. */
	write_file(conf, "[zeroproxy]\n");
	if (getcwd(cwd, sizeof(cwd)) && chdir(root) == 0) {
		struct config *c = NULL;
		int r = config_load("beside/zeroproxy.conf", true, &c, &d);
		if (ok(r == 0, "relative -c without services_dir loads")) {
			is_str(c->services_dir, want, "services_dir made absolute");
			config_free(c);
		}
		diag_free(&d);
		if (chdir(cwd) < 0)
			ok(false, "chdir back");
	} else {
		ok(false, "chdir");
	}
	free(want);
	free(svc);
	free(conf);
	free(dir);
}

/* ready = command with its argv, kill_mode, and how reload compares them. */
static void test_ready_command_kill_mode(void)
{
	char *dir = case_dir("ready-command");
	char *a = xasprintf("%s/services.d/a.conf", dir);
	char *b = xasprintf("%s/services.d/b.conf", dir);
	struct diag d = {0};

	write_file(a,
		   VALID_SERVICE "ready = command\n"
				 "ready_command = /usr/bin/pg_isready -q -h 127.0.0.1 -p '5432'\n"
				 "kill_mode = control-group\n");
	struct service_config *x = service_config_load(a, "web", &d);
	ok(x && d.n_errors == 0 && d.n_warnings == 0, "ready = command with ready_command");
	if (x) {
		is_int(x->ready, ZP_READY_COMMAND, "ready command");
		static const char *const argv[] = {"/usr/bin/pg_isready", "-q", "-h",
						   "127.0.0.1",           "-p", "5432"};
		bool same = strv_length(x->ready_argv) == ZP_ARRAY_SIZE(argv);
		for (size_t i = 0; same && i < ZP_ARRAY_SIZE(argv); i++)
			same = strcmp(x->ready_argv[i], argv[i]) == 0;
		ok(same, "ready_command split like exec");
		is_int(x->kill_mode, ZP_KILL_CONTROL_GROUP, "kill_mode control-group");
		is_str(ready_name(x->ready), "command", "ready_name");
		is_str(kill_mode_name(x->kill_mode), "control-group", "kill_mode_name");
	}
	static const char *const other[] = {
	    "ready = command\nready_command = /usr/bin/pg_isready -q\nkill_mode = control-group\n",
	    "ready = command\nready_command = /usr/bin/pg_isready -q -h 127.0.0.1 -p 5432\n",
	};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(other); i++) {
		char *content = xasprintf("%s%s", VALID_SERVICE, other[i]);
		write_file(b, content);
		struct service_config *y = service_config_load(b, "web", &d);
		ok(x && y && !service_config_equal(x, y), "a change of %s is seen",
		   i == 0 ? "ready_command" : "kill_mode");
		service_config_free(y);
		free(content);
	}
	write_file(b, VALID_SERVICE "ready = command\n"
				    "ready_command = /usr/bin/pg_isready -q -h 127.0.0.1 -p 5432\n"
				    "kill_mode = control-group\n");
	struct service_config *y = service_config_load(b, "web", &d);
	ok(x && y && service_config_equal(x, y), "the same ready_command and kill_mode are equal");
	service_config_free(y);
	service_config_free(x);
	diag_free(&d);
	free(a);
	free(b);
	free(dir);
}

static void test_relay(void)
{
	char *dir = case_dir("relay");
	char *a = xasprintf("%s/services.d/a.conf", dir);
	struct diag d = {0};

	write_file(a, VALID_SERVICE);
	struct service_config *x = service_config_load(a, "web", &d);
	ok(x && x->relay, "relay defaults to yes");
	write_file(a, VALID_SERVICE_NO_ADDRESS_RELAY_NO "stop_timeout = 2s\n");
	struct service_config *y = service_config_load(a, "web", &d);
	ok(y && d.n_errors == 0, "relay = no needs no address");
	ok(y && !y->relay, "relay = no read");
	ok(x && y && !service_config_equal(x, y), "a change of relay is seen");
	service_config_free(x);
	service_config_free(y);
	diag_free(&d);
	free(a);
	free(dir);
}

static void test_groups(void)
{
	char *dir = case_dir("groups");
	char *conf = xasprintf("%s/zeroproxy.conf", dir);
	char *a = xasprintf("%s/services.d/a.conf", dir);
	char *b = xasprintf("%s/services.d/b.conf", dir);
	struct diag d = {0};
	struct config *c = NULL;

	write_file(conf, "[zeroproxy]\nservices_dir = services.d\n[group gpu]\ncapacity = 3\n"
			 "[group cpu] ; a comment\ncapacity = 1\n[zeroproxy]\nlog_level = debug\n");
	write_file(a, VALID_SERVICE "[service]\ngroup = gpu\ngroup_weight = 3\n"
				    "[backend]\ngroup = root\n");
	write_file(b, "[service]\nlisten = 127.0.0.1:8081\n[backend]\nexec = /bin/true\n"
		      "address = 127.0.0.1:18081\n");
	ok(config_load(conf, true, &c, &d) == 0 && c, "groups: a valid configuration");
	for (size_t i = 0; i < d.n_errors; i++)
		note("%s", d.errors[i]);
	if (c) {
		ok(c->n_groups == 2 && strcmp(c->groups[0].name, "gpu") == 0 &&
		       c->groups[0].capacity == 3 && strcmp(c->groups[1].name, "cpu") == 0 &&
		       c->groups[1].capacity == 1 && c->log_level == LOG_DEBUG,
		   "groups: both sections read, [zeroproxy] again after them");
		ok(config_find_group(c, "cpu") == &c->groups[1] && !config_find_group(c, "x"),
		   "groups: found by name");
		const struct service_config *x = config_find(c, "a"), *y = config_find(c, "b");
		ok(x && strcmp(x->group_name, "gpu") == 0 && x->group_weight == 3,
		   "groups: a service's group and weight");
		ok(x && x->group && strcmp(x->group, "root") == 0,
		   "groups: [backend] group is still the unix group");
		ok(y && !y->group_name && y->group_weight == 1,
		   "groups: none, weight 1 by default");
		struct service_config *z = service_config_load(a, "a", &d);
		ok(z && x && service_config_equal(x, z), "groups: the same file is equal");
		if (z) {
			z->group_weight = 2;
			ok(x && !service_config_equal(x, z), "groups: a change of weight is seen");
			z->group_weight = 3;
			free(z->group_name);
			z->group_name = xstrdup("cpu");
			ok(x && !service_config_equal(x, z), "groups: a change of group is seen");
		}
		service_config_free(z);
	}
	config_free(c);
	diag_free(&d);
	free(a);
	free(b);
	free(conf);
	free(dir);
}

static void test_protocol(void)
{
	char *dir = case_dir("protocol");
	char *a = xasprintf("%s/services.d/a.conf", dir);
	struct diag d = {0};

	write_file(a, VALID_SERVICE);
	struct service_config *x = service_config_load(a, "web", &d);
	ok(x && x->protocol == ZP_PROTOCOL_TCP, "protocol defaults to tcp");
	ok(x && x->max_header_size == 64 * 1024, "max_header_size defaults to 64k");
	write_file(a, VALID_SERVICE "[service]\nprotocol = http\n");
	struct service_config *y = service_config_load(a, "web", &d);
	ok(y && y->protocol == ZP_PROTOCOL_HTTP && d.n_errors == 0, "protocol = http read");
	ok(x && y && !service_config_equal(x, y), "a change of protocol is seen");
	static const struct {
		const char *v;
		size_t want;
	} sizes[] = {{"8k", 8192}, {"8K", 8192}, {"1M", 1048576}, {"4096", 4096}, {"1024", 1024}};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(sizes); i++) {
		char *content =
		    xasprintf("%s[service]\nprotocol = http\n[http]\nmax_header_size = %s\n",
			      VALID_SERVICE, sizes[i].v);
		write_file(a, content);
		struct service_config *z = service_config_load(a, "web", &d);
		ok(z && z->max_header_size == sizes[i].want, "max_header_size = %s is %zu bytes",
		   sizes[i].v, sizes[i].want);
		ok(y && z && !service_config_equal(y, z), "a change of max_header_size is seen");
		service_config_free(z);
		free(content);
	}
	ok(d.n_errors == 0, "no errors");
	service_config_free(x);
	service_config_free(y);
	diag_free(&d);
	free(a);
	free(dir);
}

/* wake_on, idle_ignore, idle_ignore_status, loading_page(_after): values,
 * defaults, equality, and the loading_page file read at load. */
static void test_wake_and_ignore(void)
{
	char *dir = case_dir("wake-ignore");
	char *a = xasprintf("%s/services.d/a.conf", dir);
	char *page = xasprintf("%s/page.html", dir);
	struct diag d = {0};

	write_file(a, VALID_SERVICE "[service]\nprotocol = http\n");
	struct service_config *x = service_config_load(a, "web", &d);
	ok(x && x->wake_on == ZP_WAKE_CONNECT && !x->idle_ignore_paths && !x->idle_ignore_agents &&
	       x->idle_ignore_status == 200 && !x->loading_page && !x->loading_page_file &&
	       x->loading_page_after_ms == 1000,
	   "defaults: wake_on connect, no idle_ignore, status 200, no loading page, after 1s");
	ok(strcmp(wake_on_name(ZP_WAKE_DATA), "data") == 0 &&
	       strcmp(wake_on_name(ZP_WAKE_CONNECT), "connect") == 0,
	   "wake_on_name");

	write_file(page, "<p>wait</p>\n");
	char *text = xasprintf("%s[service]\nprotocol = http\nwake_on = data\n[http]\n"
			       "idle_ignore = /healthz\nidle_ignore = ua:Kube-Probe\n"
			       "idle_ignore = /ready\nidle_ignore =\nidle_ignore_status = 503\n"
			       "loading_page = %s\nloading_page_after = 250ms\n",
			       VALID_SERVICE, page);
	write_file(a, text);
	struct service_config *y = service_config_load(a, "web", &d);
	ok(y && y->wake_on == ZP_WAKE_DATA && strv_length(y->idle_ignore_paths) == 2 &&
	       strcmp(y->idle_ignore_paths[0], "/healthz") == 0 &&
	       strcmp(y->idle_ignore_paths[1], "/ready") == 0 &&
	       strv_length(y->idle_ignore_agents) == 1 &&
	       strcmp(y->idle_ignore_agents[0], "Kube-Probe") == 0 &&
	       y->idle_ignore_status == 503 && y->loading_page && y->loading_page_file &&
	       strcmp(y->loading_page_file, page) == 0 && y->loading_page_len == 12 &&
	       memcmp(y->loading_page_body, "<p>wait</p>\n", 12) == 0 &&
	       y->loading_page_after_ms == 250 && d.n_errors == 0,
	   "every value read; the page file's contents kept");
	ok(x && y && !service_config_equal(x, y), "a change of these keys is seen");
	write_file(page, "<p>wait!</p>\n");
	struct service_config *z = service_config_load(a, "web", &d);
	ok(y && z && !service_config_equal(y, z), "a changed page file is a changed config");
	service_config_free(z);

	write_file(a, VALID_SERVICE "[service]\nwake_on = data\n");
	z = service_config_load(a, "web", &d);
	ok(z && z->wake_on == ZP_WAKE_DATA && d.n_errors == 0,
	   "wake_on = data with protocol = tcp");
	service_config_free(z);
	write_file(a, VALID_SERVICE "[service]\nprotocol = http\n[http]\nloading_page = yes\n");
	z = service_config_load(a, "web", &d);
	ok(z && z->loading_page && !z->loading_page_file && !z->loading_page_body,
	   "loading_page = yes: the built-in page");
	service_config_free(z);

	/* A page over 64 KiB is an error at its line. */
	FILE *f = fopen(page, "we");
	for (int i = 0; f && i < 64 * 1024 + 1; i++)
		fputc('x', f);
	if (f)
		fclose(f);
	free(text);
	text = xasprintf("%s[service]\nprotocol = http\n[http]\nloading_page = %s\n", VALID_SERVICE,
			 page);
	write_file(a, text);
	struct diag e = {0};
	z = service_config_load(a, "web", &e);
	char *want =
	    xasprintf("%s:9: [http] loading_page: cannot read %s: larger than 64 KiB", a, page);
	ok(!z && e.n_errors == 1 && strcmp(e.errors[0], want) == 0, "a page over 64 KiB: %s",
	   e.n_errors ? e.errors[0] : "no error");
	free(want);
	diag_free(&e);

	service_config_free(x);
	service_config_free(y);
	diag_free(&d);
	free(text);
	free(page);
	free(a);
	free(dir);
}

static void test_hosts(void)
{
	char *dir = case_dir("hosts");
	char *glob = xasprintf("%s/zeroproxy.conf", dir);
	char *a = xasprintf("%s/services.d/a.conf", dir);
	char *b = xasprintf("%s/services.d/b.conf", dir);
	char *c = xasprintf("%s/services.d/c.conf", dir);
	struct diag d = {0};
	struct config *cfg = NULL;

	write_file(glob, default_global);
	write_file(a, HTTP_SERVICE("18080") "host = WWW.Example.COM\nhost = *.Apps.example.com\n"
					    "host = 10.0.0.1\nhost = [::1]\n");
	write_file(b, HTTP_SERVICE("19090") "host = api.example.com\n");
	write_file(c, HTTP_SERVICE("19191")); /* the default */
	int r = config_load(glob, true, &cfg, &d);
	ok(r == 0 && d.n_errors == 0, "three http services share one address, one default (%s)",
	   d.n_errors ? d.errors[0] : "no error");
	const struct service_config *x = cfg ? config_find(cfg, "a") : NULL;
	ok(x && strv_length(x->hosts) == 4, "a has four hosts");
	ok(x && x->hosts && !strcmp(x->hosts[0], "www.example.com") &&
	       !strcmp(x->hosts[1], "*.apps.example.com") && !strcmp(x->hosts[3], "[::1]"),
	   "hosts stored lowercase, in order");
	const struct service_config *y = cfg ? config_find(cfg, "c") : NULL;
	ok(y && !y->hosts, "no host: hosts is NULL");
	ok(x && y && !service_config_equal(x, y), "a change of hosts is seen");
	config_free(cfg);
	diag_free(&d);
	free(glob);
	free(a);
	free(b);
	free(c);
	free(dir);
}

static void test_ready_http(void)
{
	char *dir = case_dir("ready-http");
	char *a = xasprintf("%s/services.d/a.conf", dir);
	struct diag d = {0};

	write_file(a, VALID_SERVICE "ready = http\n[service]\nprotocol = http\n");
	struct service_config *x = service_config_load(a, "web", &d);
	ok(x && x->ready == ZP_READY_HTTP && !x->ready_path && d.n_errors == 0,
	   "ready = http read, ready_path defaults to / (NULL)");
	write_file(a, VALID_SERVICE "ready = http\nready_path = /healthz?full=1\n[service]\n"
				    "protocol = http\n");
	struct service_config *y = service_config_load(a, "web", &d);
	ok(y && y->ready_path && !strcmp(y->ready_path, "/healthz?full=1") && d.n_errors == 0,
	   "ready_path read as written");
	ok(x && y && !service_config_equal(x, y), "a change of ready_path is seen");
	ok(!strcmp(ready_name(ZP_READY_HTTP), "http"), "ready_name(http)");
	service_config_free(x);
	service_config_free(y);
	diag_free(&d);
	free(a);
	free(dir);
}

static void test_service_equal(void)
{
	char *dir = case_dir("equal");
	char *a = xasprintf("%s/services.d/a.conf", dir);
	char *b = xasprintf("%s/services.d/b.conf", dir);
	struct diag d = {0};
	const char *base = VALID_SERVICE "environment = A=1\n";

	write_file(a, base);
	write_file(b, base);
	struct service_config *x = service_config_load(a, "web", &d);
	struct service_config *y = service_config_load(b, "web", &d);
	ok(x && y && d.n_errors == 0, "service_config_load");
	ok(x && y && service_config_equal(x, y), "same settings are equal (path aside)");
	service_config_free(y);

	static const char *const changes[] = {
	    "listen = 127.0.0.1:8081\n", "idle_timeout = 6m\n",    "max_connections = 1000\n",
	    "max_pending = 10\n",        "pending_timeout = 1s\n", "connection_idle_timeout = 1s\n",
	    "freeze_after = 1m\n",
	};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(changes); i++) {
		char *content = xasprintf("%s[service]\n%s", base, changes[i]);
		write_file(b, content);
		y = service_config_load(b, "web", &d);
		ok(x && y && !service_config_equal(x, y), "a change of %.*s is seen",
		   (int)strcspn(changes[i], " "), changes[i]);
		service_config_free(y);
		free(content);
	}
	static const char *const bchanges[] = {
	    "ready = notify\n",        "start_timeout = 1s\n", "stop_signal = INT\n",
	    "stop_timeout = 1s\n",     "user = nobody\n",      "group = nogroup\n",
	    "working_directory = /\n", "environment = B=2\n",
	};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(bchanges); i++) {
		char *content = xasprintf("%s%s", base, bchanges[i]);
		write_file(b, content);
		y = service_config_load(b, "web", &d);
		ok(x && y && !service_config_equal(x, y), "a change of %.*s is seen",
		   (int)strcspn(bchanges[i], " "), bchanges[i]);
		service_config_free(y);
		free(content);
	}
	write_file(b, "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true x\n"
		      "address = 127.0.0.1:18080\nenvironment = A=1\n");
	y = service_config_load(b, "web", &d);
	ok(x && y && !service_config_equal(x, y), "a change of exec is seen");
	service_config_free(y);
	write_file(b, "[service]\nlisten = 127.0.0.1:8080\n[backend]\nexec = /bin/true\n"
		      "address = 127.0.0.1:18081\nenvironment = A=1\n");
	y = service_config_load(b, "web", &d);
	ok(x && y && !service_config_equal(x, y), "a change of address is seen");
	service_config_free(y);
	y = service_config_load(a, "other", &d);
	ok(x && y && !service_config_equal(x, y), "another name is not equal");
	service_config_free(y);

	write_file(b, "[backend]\nready = nope\n");
	y = service_config_load(b, "web", &d);
	ok(!y && d.n_errors == 3, "service_config_load returns NULL on errors");
	service_config_free(x);
	diag_free(&d);
	free(a);
	free(b);
	free(dir);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	if (!mkdtemp(root)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 99;
	}
	for (size_t i = 0; i < ZP_ARRAY_SIZE(bad_cases); i++)
		run_bad_case(i, &bad_cases[i]);
	test_bad_special();
	test_defaults();
	test_every_key();
	test_more_valid();
	test_warnings_and_empty();
	test_relative_config_path();
	test_services_dir_default();
	test_ready_command_kill_mode();
	test_service_equal();
	test_relay();
	test_groups();
	test_hosts();
	test_protocol();
	test_ready_http();
	test_wake_and_ignore();
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
