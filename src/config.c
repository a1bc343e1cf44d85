/*
 * config — the whole configuration: zeroproxy.conf, its services_dir and the
 * rules across files (a listen address belongs to one service; the metrics
 * address and a backend address are nobody's listen address). One service
 * file is config_service.c's; reading a file against a key table is
 * conf_parser.c's. Every error is collected (never only the first) as
 * "PATH:LINE: [section] key: reason".
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_parser.h"
#include "config_service.h"
#include "log.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

/* DEFAULT_SERVICES_DIR is relative: the folder beside the zeroproxy.conf in
 * use (given with -c or the compiled-in one). The other two are absolute. */
#define DEFAULT_CONFIG_PATH    SYSCONFDIR "/zeroproxy/zeroproxy.conf"
#define DEFAULT_SERVICES_DIR   "services.d"
#define DEFAULT_CONTROL_SOCKET RUNSTATEDIR "/zeroproxy/control.sock"
#define DEFAULT_STATE_DIR      LOCALSTATEDIR "/lib/zeroproxy"

/* ---- zeroproxy.conf ---- */

/* metrics_listen: HOST:PORT only; sets has_metrics. Offset 0: the config whole. */
static int parse_metrics(struct conf_parser *p, const struct conf_key *k, const char *v,
			 void *field)
{
	struct config *c = field;
	const char *err = NULL;
	int r = addr_parse(v, false, false, &c->metrics_listen, &err);

	if (r == 0 && c->metrics_listen.kind == ZP_ADDR_INET) {
		c->has_metrics = true;
		return 0;
	}
	/* Keep a specific reason (a bad port), else name the forms accepted here. */
	if (r < 0 && !strstr(err, "expected HOST:PORT") && strncmp(v, "unix:", 5) != 0 &&
	    strncmp(v, "systemd:", 8) != 0 && strncmp(v, "*:", 2) != 0)
		conf_error(p, "%s, got %s", err, p->quoted);
	else
		conf_error(p, "expected HOST:PORT or [V6]:PORT, got %s", p->quoted);
	memset(&c->metrics_listen, 0, sizeof(c->metrics_listen));
	return -EINVAL;
}

/* The field of a row, as SVC() in config_service.c; GRP() of a [group NAME]. */
#define GLB(f)  .offset = offsetof(struct config, f)
#define GLB_ALL .offset = 0
#define GRP(f)  .offset = offsetof(struct group_config, f)

/* clang-format off */
static const struct conf_key global_keys[] = {
	{ "zeroproxy", "services_dir",   conf_parse_path,        GLB(services_dir) },
	{ "zeroproxy", "control_socket", conf_parse_socket_path, GLB(control_socket) },
	{ "zeroproxy", "state_dir",      conf_parse_path,        GLB(state_dir) },
	{ "zeroproxy", "log_level",      conf_parse_log_level,   GLB(log_level) },
	{ "zeroproxy", "metrics_listen", parse_metrics,          GLB_ALL },
	{ "group",     "capacity",       conf_parse_u32,         GRP(capacity), .min = 1 },
};
/* clang-format on */

/* [group NAME]: a new group, unless the name is bad or taken. */
static void *group_open(struct conf_parser *p, const char *name)
{
	struct config *c = p->target;
	if (!service_name_valid(name)) {
		char *q = conf_quote(name);
		diag_error(
		    p->d,
		    "%s:%u: [group %s]: invalid group name, expected letters, digits, _ . and "
		    "- (at most 64)",
		    p->path, p->line, q);
		free(q);
		return NULL;
	}
	const struct group_config *was = config_find_group(c, name);
	if (was) {
		diag_error(p->d, "%s:%u: [group %s]: given twice, first at line %u", p->path,
			   p->line, name, was->line);
		return NULL;
	}
	c->groups = realloc(c->groups, (c->n_groups + 1) * sizeof(*c->groups));
	if (!c->groups)
		abort();
	struct group_config *g = &c->groups[c->n_groups++];
	*g = (struct group_config){.name = xstrdup(name), .line = p->line};
	return g;
}

/* The end of a [group NAME]: capacity is required. */
static void group_close(struct conf_parser *p)
{
	const struct group_config *g = p->block;
	if (g->capacity || conf_key_bad(p, "capacity"))
		return;
	unsigned line = conf_key_line(p, "capacity");
	conf_key_error(p, "capacity", line ? line : g->line, "required, %s",
		       line ? "got an empty value" : "not given");
}

static const struct conf_section global_sections[] = {
    {.name = "zeroproxy"},
    {.name = "group", .open = group_open, .close = group_close},
};

const struct group_config *config_find_group(const struct config *c, const char *name)
{
	for (size_t i = 0; name && i < c->n_groups; i++)
		if (strcmp(c->groups[i].name, name) == 0)
			return &c->groups[i];
	return NULL;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->services_dir);
	free(c->control_socket);
	free(c->state_dir);
	for (size_t i = 0; i < c->n_services; i++)
		service_config_free(c->services[i]);
	free(c->services);
	for (size_t i = 0; i < c->n_groups; i++)
		free(c->groups[i].name);
	free(c->groups);
	free(c);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_service(const void *a, const void *b)
{
	return strcmp((*(struct service_config *const *)a)->name,
		      (*(struct service_config *const *)b)->name);
}

/* The names of the *.conf files in dir, sorted; NULL with errno on failure. */
static char **list_service_files(const char *dir, size_t *n)
{
	DIR *dh = opendir(dir);
	char **v = NULL;
	struct dirent *de;

	*n = 0;
	if (!dh)
		return NULL;
	while ((de = readdir(dh))) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		if (strv_push(&v, de->d_name) < 0)
			abort();
		(*n)++;
	}
	closedir(dh);
	if (!v)
		v = xcalloc(1, sizeof(char *));
	qsort(v, *n, sizeof(char *), cmp_str);
	return v;
}

/* s's listen[li] is o's listen[lj] too (o comes first). Services may share
 * a listen address (one socket, routed by Host) when it is the same socket,
 * both are protocol = http, at most one of the address's services has no
 * host (the default), and no host is claimed twice; else s's line is in
 * error. */
static void check_shared(const struct service_config *s, const struct service_lines *sl, size_t li,
			 const struct service_config *o, const struct service_lines *ol, size_t lj,
			 struct diag *d)
{
	const char *why = NULL;
	if (!addr_equal(&s->listen[li], &o->listen[lj]))
		why = "";
	else if (s->protocol != ZP_PROTOCOL_HTTP && o->protocol != ZP_PROTOCOL_HTTP)
		why = "";
	else if (s->protocol != ZP_PROTOCOL_HTTP || o->protocol != ZP_PROTOCOL_HTTP)
		why = "; only services with protocol = http may share a listen address";
	else if (!s->hosts && !o->hosts)
		why = "; both have no [http] host, and only one service of an address may be "
		      "its default";
	if (why) {
		diag_error(d,
			   "%s:%u: [service] listen: %s is already used by service %s (listen = "
			   "%s at %s:%u)%s",
			   s->path, sl->listen[li], s->listen[li].text, o->name, o->listen[lj].text,
			   o->path, ol->listen[lj], why);
		return;
	}
	for (size_t h = 0; s->hosts && s->hosts[h]; h++)
		for (size_t k = 0; o->hosts && o->hosts[k]; k++)
			if (strcmp(s->hosts[h], o->hosts[k]) == 0)
				diag_error(d,
					   "%s:%u: [http] host: %s is already taken by service %s "
					   "on listen %s (%s:%u)",
					   s->path, sl->host[h], s->hosts[h], o->name,
					   s->listen[li].text, o->path, ol->host[k]);
}

/* Listen addresses are unique across services but for http services
 * routed by host (check_shared); a backend address and metrics_listen must
 * not be anyone's listen address. */
static void check_across(struct config *c, struct service_lines *lines, struct diag *d,
			 unsigned metrics_line)
{
	for (size_t i = 0; i < c->n_services; i++) {
		struct service_config *s = c->services[i];
		for (size_t j = 0; j < c->n_services; j++) {
			struct service_config *o = c->services[j];
			if (j == i)
				continue;
			for (size_t li = 0; j < i && li < s->n_listen; li++)
				for (size_t lj = 0; lj < o->n_listen; lj++)
					if (addr_clash(&s->listen[li], &o->listen[lj])) {
						check_shared(s, &lines[i], li, o, &lines[j], lj, d);
						break;
					}
			for (size_t lj = 0; s->has_address && lj < o->n_listen; lj++)
				if (addr_clash(&s->address, &o->listen[lj])) {
					diag_error(d,
						   "%s:%u: [backend] address: %s is already used "
						   "by service %s (listen = %s at %s:%u)",
						   s->path, lines[i].address, s->address.text,
						   o->name, o->listen[lj].text, o->path,
						   lines[j].listen[lj]);
					break;
				}
		}
		for (size_t li = 0; c->has_metrics && li < s->n_listen; li++)
			if (addr_clash(&c->metrics_listen, &s->listen[li])) {
				diag_error(d,
					   "%s:%u: [zeroproxy] metrics_listen: %s is already used "
					   "by service %s (listen = %s at %s:%u)",
					   c->path, metrics_line, c->metrics_listen.text, s->name,
					   s->listen[li].text, s->path, lines[i].listen[li]);
				break;
			}
	}
}

/* A service's group is a [group NAME] of zeroproxy.conf, and its weight fits
 * the group's capacity. */
static void check_groups(const struct config *c, const struct service_lines *lines, struct diag *d)
{
	for (size_t i = 0; i < c->n_services; i++) {
		const struct service_config *s = c->services[i];
		if (!s->group_name)
			continue;
		const struct group_config *g = config_find_group(c, s->group_name);
		if (!g)
			diag_error(d, "%s:%u: [service] group: no [group %s] in %s", s->path,
				   lines[i].group, s->group_name, c->path);
		else if (g->capacity && s->group_weight > g->capacity)
			diag_error(
			    d,
			    "%s:%u: [service] group_weight: expected at most the capacity of "
			    "group %s (%u at %s:%u), got \"%u\"",
			    s->path, lines[i].group_weight ? lines[i].group_weight : lines[i].group,
			    g->name, g->capacity, c->path, g->line, s->group_weight);
	}
}

/* The folder relative paths in path are resolved against, made absolute so
 * that nothing depends on the daemon's working directory later. */
static char *config_base_dir(const char *path)
{
	char *dir = path_dirname(path);
	if (dir[0] == '/')
		return dir;
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return dir;
	char *abs = strcmp(dir, ".") == 0 ? xstrdup(cwd) : path_join(cwd, dir);
	free(cwd);
	free(dir);
	return abs;
}

static void load_services(struct config *c, struct diag *d, unsigned services_dir_line,
			  unsigned metrics_line)
{
	size_t n_files;
	char **files = list_service_files(c->services_dir, &n_files);

	if (!files) {
		int e = errno;
		if (services_dir_line)
			diag_error(d, "%s:%u: [zeroproxy] services_dir: cannot open %s: %s",
				   c->path, services_dir_line, c->services_dir, strerror(e));
		else if (e == ENOENT)
			diag_warning(d,
				     "%s: [zeroproxy] services_dir: %s does not exist, no services",
				     c->path, c->services_dir);
		else
			diag_error(d, "%s: [zeroproxy] services_dir: cannot open %s: %s", c->path,
				   c->services_dir, strerror(e));
		return;
	}

	struct service_lines *lines = xcalloc(n_files, sizeof(*lines));
	c->services = xcalloc(n_files, sizeof(*c->services));
	for (size_t i = 0; i < n_files; i++) {
		char *full = path_join(c->services_dir, files[i]);
		char *name = xasprintf("%.*s", (int)(strlen(files[i]) - 5), files[i]);
		struct stat st;
		size_t n_errors;

		if (stat(full, &st) < 0)
			diag_error(d, "%s: cannot read: %s", full, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			diag_error(d, "%s: is a directory, expected a service file", full);
		else if (!service_name_valid(name))
			diag_error(d,
				   "%s: invalid service name \"%s\", expected letters, digits, _ . "
				   "and - (at most 64)",
				   full, name);
		else {
			size_t k = c->n_services++;
			c->services[k] = service_parse(full, name, d, &lines[k], &n_errors);
		}
		free(name);
		free(full);
	}
	strv_free(files);

	/* readdir order was sorted by file name; sort by service name all the same. */
	check_across(c, lines, d, metrics_line);
	check_groups(c, lines, d);
	for (size_t i = 0; i < c->n_services; i++) {
		free(lines[i].listen);
		free(lines[i].host);
	}
	free(lines);
	qsort(c->services, c->n_services, sizeof(*c->services), cmp_service);
}

/* Parse the global file into a new config with no services; *services_dir_line
 * and *metrics_line say where those keys were set (0: not set). */
static struct config *load_global(const char *path, bool explicit_path, struct diag *d,
				  unsigned *services_dir_line, unsigned *metrics_line)
{
	struct config *c = xcalloc(1, sizeof(*c));
	char *base;

	c->path = xstrdup(path ? path : DEFAULT_CONFIG_PATH);
	base = config_base_dir(c->path);
	c->services_dir = path_join(base, DEFAULT_SERVICES_DIR);
	c->control_socket = xstrdup(DEFAULT_CONTROL_SOCKET);
	c->state_dir = xstrdup(DEFAULT_STATE_DIR);
	c->log_level = LOG_INFO;

	struct conf_parser p = {
	    .path = c->path,
	    .d = d,
	    .keys = global_keys,
	    .n_keys = ZP_ARRAY_SIZE(global_keys),
	    .sections = global_sections,
	    .n_sections = ZP_ARRAY_SIZE(global_sections),
	    .target = c,
	    .base_dir = base,
	};
	FILE *f = conf_open(c->path);
	if (f) {
		conf_parse(&p, f);
		fclose(f);
	} else if (errno != ENOENT || explicit_path) {
		diag_error(d, "%s: cannot read: %s", c->path, conf_open_error(errno));
	}
	free(base);
	*services_dir_line =
	    conf_key_set(&p, "services_dir") ? conf_key_line(&p, "services_dir") : 0;
	*metrics_line = conf_key_line(&p, "metrics_listen");
	conf_parser_done(&p);
	return c;
}

int config_load_global(const char *path, bool explicit_path, struct config **out, struct diag *d)
{
	size_t before = d->n_errors;
	unsigned services_dir_line, metrics_line;
	struct config *c = load_global(path, explicit_path, d, &services_dir_line, &metrics_line);

	*out = NULL;
	if (d->n_errors > before) {
		config_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

int config_load(const char *path, bool explicit_path, struct config **out, struct diag *d)
{
	size_t before = d->n_errors;
	unsigned services_dir_line, metrics_line;
	struct config *c = load_global(path, explicit_path, d, &services_dir_line, &metrics_line);

	*out = NULL;
	load_services(c, d, services_dir_line, metrics_line);
	if (d->n_errors > before) {
		config_free(c);
		return -EINVAL;
	}
	*out = c;
	return 0;
}

struct service_config *config_find(const struct config *c, const char *name)
{
	size_t lo = 0, hi = c->n_services;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(name, c->services[mid]->name);
		if (r == 0)
			return c->services[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void config_print_summary(const struct config *c, FILE *f)
{
	if (c->n_services == 0) {
		fprintf(f, "no services in %s\n", c->services_dir);
		return;
	}
	for (size_t i = 0; i < c->n_services; i++) {
		const struct service_config *s = c->services[i];
		char idle[64];

		fprintf(f, "%s: listen ", s->name);
		for (size_t j = 0; j < s->n_listen; j++)
			fprintf(f, "%s%s", j ? ", " : "", s->listen[j].text);
		format_duration(s->idle_timeout_ms, idle, sizeof(idle));
		for (size_t j = 0; s->hosts && s->hosts[j]; j++)
			fprintf(f, "%s%s", j ? " " : " (hosts ", s->hosts[j]);
		fprintf(f, "%s -> backend %s (ready=%s), exec %s, idle_timeout %s",
			s->hosts ? ")" : "", s->has_address ? s->address.text : "private socket",
			ready_name(s->ready), s->argv ? s->argv[0] : "-", idle);
		if (s->group_name)
			fprintf(f, ", group %s (weight %u)", s->group_name, s->group_weight);
		fputc('\n', f);
	}
}
