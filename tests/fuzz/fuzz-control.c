/*
 * fuzz-control — libFuzzer target for the control socket's request line: the
 * input is what a client sends, cut as the server's reader cuts it (the bytes
 * before the first "\n"; a line of CONTROL_MAX_REQUEST bytes or more is refused
 * before any parsing), and handed to control_handle_request() with a stand-in
 * for the engine below as its server_ops. status answers for any name but "nope", so
 * the table and JSON renderers get the client's words as service names.
 *
 * What must hold for every input: no crash, no leak, no undefined behaviour,
 * and an answer that starts with "ok\n" or "error " and ends with "\n".
 *
 * Built by ./configure --enable-fuzzing (clang); run by tests/fuzz/run.sh.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "status.h"
#include "strbuf.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The engine's stand-in; variant (from the input's length) picks how reload
 * and start/stop end, so that every outcome is reached and each input always
 * takes the same one. */
struct fake {
	unsigned variant;
};

static bool exists(const char *name)
{
	return strcmp(name, "nope") != 0;
}

static int fake_status(void *data, char *const *names, size_t n, struct service_status **out,
		       size_t *nout, const char **unknown)
{
	const struct fake *d = data;
	static char web[] = "web", api[] = "api";
	static char *const all[] = {web, api};

	for (size_t i = 0; i < n; i++)
		if (!exists(names[i])) {
			*unknown = names[i];
			return -ENOENT;
		}
	if (d->variant == 2)
		return -ENOMEM;
	if (n == 0) {
		names = all;
		n = ZP_ARRAY_SIZE(all);
	}
	struct service_status *st = xcalloc(n, sizeof(*st));
	for (size_t i = 0; i < n; i++) {
		st[i].name = xstrdup(names[i]);
		st[i].state = i % 2 ? "running" : "stopped";
		st[i].pid = i % 2 ? 4242 : 0;
		st[i].listen = xcalloc(2, sizeof(char *));
		st[i].listen[0] = xstrdup(names[i]);
		st[i].cold_starts = i;
		st[i].has_start = i % 2;
		st[i].last_start_ms = 1.5;
		st[i].cpu_source = "rusage";
		st[i].last_error = i % 2 ? xstrdup(names[i]) : NULL;
	}
	*out = st;
	*nout = n;
	return 0;
}

static int start_stop(void *data, const char *name)
{
	const struct fake *d = data;
	if (!exists(name))
		return -ENOENT;
	return d->variant == 1 ? -EBUSY : 0;
}

static int fake_reload(void *data, struct diag *diag)
{
	const struct fake *d = data;
	if (d->variant == 0) {
		diag_warning(diag, "services.d/web.conf: warning: program not found");
		return 0;
	}
	diag_error(diag, "services.d/web.conf:3: [service] listen: missing");
	return d->variant == 1 ? -EINVAL : -EIO;
}

static const char *fake_reload_error(void *data)
{
	const struct fake *d = data;
	return d->variant == 1 ? "reload failed: services.d/web.conf:3: bad" : NULL;
}

static const struct server_ops fake_ops = {
    .status = fake_status,
    .start = start_stop,
    .stop = start_stop,
    .reload = fake_reload,
    .reload_error = fake_reload_error,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		log_set_level(LOG_ERR); /* "control: start NAME requested" for every input */
		quiet = true;
	}

	const uint8_t *nl = memchr(data, '\n', size);
	size_t len = nl ? (size_t)(nl - data) : size;
	if (len >= CONTROL_MAX_REQUEST)
		return 0; /* the server answers "error request too long" without parsing */
	char line[CONTROL_MAX_REQUEST];
	memcpy(line, data, len);
	line[len] = '\0';

	struct fake d = {.variant = (unsigned)(size % 3)};
	struct strbuf out = {0};
	control_handle_request(&fake_ops, &d, line, &out);
	if (out.len < 3 ||
	    (strncmp(out.data, "ok\n", 3) != 0 && strncmp(out.data, "error ", 6) != 0) ||
	    out.data[out.len - 1] != '\n') {
		fprintf(stderr, "fuzz-control: bad answer \"%s\"\n", out.data ? out.data : "");
		abort();
	}
	sb_free(&out);
	return 0;
}
