/*
 * fuzz-config — libFuzzer target for the configuration parser: the input is a
 * whole file, parsed both as a services.d/NAME.conf (service_config_load) and
 * as zeroproxy.conf (config_load_global), exactly as the daemon reads them:
 * from a file, through the same open/stat/inih path. The file is a memfd
 * reached as /proc/self/fd/N, so nothing is written to disk per input.
 *
 * An input with lines "%%" in it is also split there into services.d files
 * s0.conf, s1.conf... (at most 8) of a fixed zeroproxy.conf, loaded whole with
 * config_load(): the checks across files (listen and address clashes) and the
 * sorting get their turn. Those files live in a folder made once in /tmp.
 *
 * What must hold for every input: no crash, no leak, no undefined behaviour
 * (ASan, UBSan, LeakSanitizer), and the loaders' contract: a NULL service or a
 * failed global load comes with at least one error, a loaded one with none,
 * and every error and warning is one line that names the file.
 *
 * Built by ./configure --enable-fuzzing (clang); run by tests/fuzz/run.sh.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FILES 8

static int memfd = -1;
static char path[64];
static char dir[] = "/tmp/fuzz-config-XXXXXX";
static char global[sizeof(dir) + 32];

static void check_lines(char *const *lines, size_t n, const char *prefix)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(lines[i], prefix, strlen(prefix)) != 0 || strchr(lines[i], '\n')) {
			fprintf(stderr, "fuzz-config: bad diagnostic \"%s\"\n", lines[i]);
			abort();
		}
}

static void check_diag(const struct diag *d, bool loaded, const char *prefix)
{
	if (loaded != (d->n_errors == 0)) {
		fprintf(stderr, "fuzz-config: %s with %zu errors\n", loaded ? "loaded" : "refused",
			d->n_errors);
		abort();
	}
	check_lines(d->errors, d->n_errors, prefix);
	check_lines(d->warnings, d->n_warnings, prefix);
}

static void service_file(char *buf, size_t len, size_t i)
{
	snprintf(buf, len, "%s/services.d/s%zu.conf", dir, i);
}

static void remove_dir(void)
{
	char p[sizeof(global)];
	for (size_t i = 0; i < MAX_FILES; i++) {
		service_file(p, sizeof(p), i);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/services.d", dir);
	rmdir(p);
	unlink(global);
	rmdir(dir);
}

static void set_up(void)
{
	log_set_level(LOG_ERR);
	memfd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (memfd < 0 || !mkdtemp(dir)) {
		perror("fuzz-config: set up");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	snprintf(global, sizeof(global), "%s/zeroproxy.conf", dir);
	char sd[sizeof(global)];
	snprintf(sd, sizeof(sd), "%s/services.d", dir);
	FILE *f = fopen(global, "we");
	if (!f || mkdir(sd, 0700) < 0) {
		perror("fuzz-config: set up");
		abort();
	}
	fputs("[zeroproxy]\nservices_dir = services.d\ncontrol_socket = control.sock\n"
	      "state_dir = state\n",
	      f);
	fclose(f);
	atexit(remove_dir);
}

/* The parts of data between lines "%%" as services.d files, then config_load. */
static void load_split(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n%%\n";
	const uint8_t *end = data + size;
	size_t n = 0;
	char p[sizeof(global)];

	if (!memmem(data, size, sep, 4))
		return;
	while (n < MAX_FILES) {
		const uint8_t *cut = memmem(data, (size_t)(end - data), sep, 4);
		size_t len = cut ? (size_t)(cut - data) + 1 : (size_t)(end - data);
		service_file(p, sizeof(p), n++);
		FILE *f = fopen(p, "we");
		if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
			perror("fuzz-config: write a service file");
			abort();
		}
		if (!cut)
			break;
		data = cut + 4;
	}

	struct diag d = {0};
	struct config *c = NULL;
	int r = config_load(global, true, &c, &d);
	check_diag(&d, r == 0, dir);
	if (r == 0 && c->n_services != n)
		abort();
	config_free(c);
	diag_free(&d);
	while (n > 0) {
		service_file(p, sizeof(p), --n);
		unlink(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (memfd < 0)
		set_up();
	if (ftruncate(memfd, 0) < 0 || (size && pwrite(memfd, data, size, 0) != (ssize_t)size)) {
		perror("fuzz-config: write the input");
		abort();
	}

	struct diag d = {0};
	struct service_config *s = service_config_load(path, "fuzz", &d);
	check_diag(&d, s != NULL, path);
	service_config_free(s);
	diag_free(&d);

	struct diag g = {0};
	struct config *c = NULL;
	int r = config_load_global(path, true, &c, &g);
	check_diag(&g, r == 0, path);
	if ((r == 0) != (c != NULL))
		abort();
	config_free(c);
	diag_free(&g);

	load_split(data, size);
	return 0;
}
