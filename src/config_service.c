/*
 * config_service — one services.d/NAME.conf; see config_service.h and
 * zeroproxy.conf(5).
 *
 * The key table below is the whole list of service keys: a key is one row
 * (section, name, parse function, field) read by conf_parser.c. The value
 * types only a service has get their parse function here; the rules between
 * keys (service_finish) run once the file is read and ask conf_parser about
 * keys by name, so the order of the rows means nothing but the order in which
 * "did you mean" breaks ties.
 */
#include "config_service.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_parser.h"
#include "util.h"

/* conf_parse_enum stores an int. */
_Static_assert(sizeof(enum ready_mode) == sizeof(int), "enum ready_mode is an int");
_Static_assert(sizeof(enum kill_mode) == sizeof(int), "enum kill_mode is an int");
_Static_assert(sizeof(enum protocol) == sizeof(int), "enum protocol is an int");
_Static_assert(sizeof(enum wake_on) == sizeof(int), "enum wake_on is an int");

static const char *const ready_names[] = {
    [ZP_READY_CONNECT] = "connect", [ZP_READY_NOTIFY] = "notify", [ZP_READY_SOCKET] = "socket",
    [ZP_READY_COMMAND] = "command", [ZP_READY_HTTP] = "http",     NULL,
};

static const char *const kill_mode_names[] = {
    [ZP_KILL_MIXED] = "mixed",
    [ZP_KILL_CONTROL_GROUP] = "control-group",
    NULL,
};

static const char *const protocol_names[] = {
    [ZP_PROTOCOL_TCP] = "tcp",
    [ZP_PROTOCOL_HTTP] = "http",
    NULL,
};

static const char *const wake_on_names[] = {
    [ZP_WAKE_CONNECT] = "connect",
    [ZP_WAKE_DATA] = "data",
    NULL,
};

const char *wake_on_name(enum wake_on w)
{
	if ((size_t)w < ZP_ARRAY_SIZE(wake_on_names) - 1)
		return wake_on_names[w];
	return "?";
}

const char *protocol_name(enum protocol p)
{
	if ((size_t)p < ZP_ARRAY_SIZE(protocol_names) - 1)
		return protocol_names[p];
	return "?";
}

const char *ready_name(enum ready_mode r)
{
	if ((size_t)r < ZP_ARRAY_SIZE(ready_names) - 1)
		return ready_names[r];
	return "?";
}

const char *kill_mode_name(enum kill_mode m)
{
	if ((size_t)m < ZP_ARRAY_SIZE(kill_mode_names) - 1)
		return kill_mode_names[m];
	return "?";
}

/* ---- the value types of a service ---- */

/* What the service parsers get: offset 0, the service whole. The lines of
 * the listen addresses go to p->userdata, a struct service_lines. */
#define SERVICE(field) ((struct service_config *)(field))

/* A command line split into argv, and kept as written in text unless that is
 * NULL. */
static int parse_command(struct conf_parser *p, const char *v, char **text, char ***argv)
{
	const char *err = NULL;
	char **words;

	if (split_argv(v, &words, &err) < 0) {
		conf_error(p, "expected a command line, got %s (%s)", p->quoted, err);
		return -EINVAL;
	}
	if (words[0][0] == '\0') {
		conf_error(p, "expected a command line, got %s (empty program name)", p->quoted);
		strv_free(words);
		return -EINVAL;
	}
	if (text)
		*text = xstrdup(v);
	*argv = words;
	return 0;
}

static int parse_exec(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	return parse_command(p, v, &SERVICE(field)->exec, &SERVICE(field)->argv);
}

static int parse_ready_command(struct conf_parser *p, const struct conf_key *k, const char *v,
			       void *field)
{
	return parse_command(p, v, NULL, &SERVICE(field)->ready_argv);
}

/* One more listen address, unless it clashes with an earlier one. */
static int parse_listen(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	struct service_config *s = SERVICE(field);
	struct service_lines *lines = p->userdata;
	const char *err = NULL;
	struct addr a;

	if (addr_parse(v, true, true, &a, &err) < 0) {
		conf_error(p, "%s, got %s", err, p->quoted);
		return -EINVAL;
	}
	for (size_t i = 0; i < s->n_listen; i++)
		if (addr_clash(&a, &s->listen[i])) {
			conf_error(p, "%s is already used by listen = %s at line %u", a.text,
				   s->listen[i].text, lines->listen[i]);
			return -EINVAL;
		}
	s->listen = realloc(s->listen, (s->n_listen + 1) * sizeof(*s->listen));
	lines->listen = realloc(lines->listen, (s->n_listen + 1) * sizeof(unsigned));
	if (!s->listen || !lines->listen)
		abort();
	lines->listen[s->n_listen] = p->line;
	s->listen[s->n_listen++] = a;
	return 0;
}

static int parse_address(struct conf_parser *p, const struct conf_key *k, const char *v,
			 void *field)
{
	struct service_config *s = SERVICE(field);
	const char *err = NULL;

	if (addr_parse(v, false, false, &s->address, &err) < 0) {
		conf_error(p, "%s, got %s", err, p->quoted);
		return -EINVAL;
	}
	s->has_address = true;
	return 0;
}

static bool env_key_valid(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* One more KEY=VALUE into a char ** (NULL-terminated, may be NULL). */
static int parse_environment(struct conf_parser *p, const struct conf_key *k, const char *v,
			     void *field)
{
	char ***env = field;
	const char *eq = strchr(v, '=');
	size_t n = eq ? (size_t)(eq - v) : 0;

	if (!eq || !env_key_valid(v, n)) {
		conf_error(p,
			   "expected KEY=VALUE with a KEY of letters, digits and _ not starting "
			   "with a digit, got %s",
			   p->quoted);
		return -EINVAL;
	}
	/* A later value for the same KEY replaces the earlier, as in systemd. */
	for (size_t i = 0; *env && (*env)[i]; i++)
		if (strncmp((*env)[i], v, n + 1) == 0) {
			free((*env)[i]);
			(*env)[i] = xstrdup(v);
			return 0;
		}
	if (strv_push(env, v) < 0)
		abort();
	return 0;
}

/* ready_path: an origin-form target ("/", "/healthz?full=1"): a slash, then
 * visible ASCII only (it goes into a request line as it is). */
static int parse_ready_path(struct conf_parser *p, const struct conf_key *k, const char *v,
			    void *field)
{
	size_t len = strlen(v);
	bool ok = v[0] == '/' && len <= ZP_READY_PATH_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = v[i] > 0x20 && v[i] < 0x7f;
	if (!ok) {
		conf_error(p,
			   "expected a path starting with / (visible ASCII, no spaces, at most %d "
			   "bytes), got %s",
			   ZP_READY_PATH_MAX, p->quoted);
		return -EINVAL;
	}
	return conf_parse_string(p, k, v, field);
}

/* A size_t of bytes: a whole number, or with k or M (1024, 1048576), from
 * k->min to ZP_MAX_HEADER_SIZE_LIMIT. */
static int parse_size(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	char *end;
	errno = 0;
	unsigned long long u = v[0] >= '0' && v[0] <= '9' ? strtoull(v, &end, 10) : 0;
	bool ok = v[0] >= '0' && v[0] <= '9' && errno == 0;
	if (ok && (*end == 'k' || *end == 'K') && u <= ZP_MAX_HEADER_SIZE_LIMIT) {
		u *= 1024;
		end++;
	} else if (ok && *end == 'M' && u <= ZP_MAX_HEADER_SIZE_LIMIT) {
		u *= 1024 * 1024;
		end++;
	}
	if (!ok || *end || u < k->min || u > ZP_MAX_HEADER_SIZE_LIMIT) {
		conf_error(p,
			   "expected a size from %llu to %u bytes (k = 1024, M = 1048576), got %s",
			   (unsigned long long)k->min, ZP_MAX_HEADER_SIZE_LIMIT, p->quoted);
		return -EINVAL;
	}
	*(size_t *)field = (size_t)u;
	return 0;
}

/* idle_ignore: "/PREFIX" (visible ASCII; the path of a request, query
 * left out, starts with it) or "ua:TEXT" (the User-Agent contains TEXT). */
static int parse_idle_ignore(struct conf_parser *p, const struct conf_key *k, const char *v,
			     void *field)
{
	struct service_config *s = SERVICE(field);
	bool ua = strncmp(v, "ua:", 3) == 0;
	const char *text = ua ? v + 3 : v;
	size_t len = strlen(text);
	bool ok = len > 0 && len <= ZP_IDLE_IGNORE_MAX && (ua || text[0] == '/');
	for (size_t i = 0; ok && i < len; i++)
		ok = ua ? (unsigned char)text[i] >= 0x20 && text[i] != 0x7f
			: text[i] > 0x20 && text[i] < 0x7f && text[i] != '?' && text[i] != '#';
	if (!ok) {
		conf_error(p,
			   "expected a path prefix starting with / (visible ASCII, no ? or #) or "
			   "ua:TEXT, at most %d bytes, got %s",
			   ZP_IDLE_IGNORE_MAX, p->quoted);
		return -EINVAL;
	}
	if (strv_push(ua ? &s->idle_ignore_agents : &s->idle_ignore_paths, text) < 0)
		abort();
	return 0;
}

static int parse_idle_ignore_status(struct conf_parser *p, const struct conf_key *k, const char *v,
				    void *field)
{
	if (strcmp(v, "200") != 0 && strcmp(v, "503") != 0) {
		conf_error(p, "expected 200 or 503, got %s", p->quoted);
		return -EINVAL;
	}
	*(uint32_t *)field = (uint32_t)atoi(v);
	return 0;
}

/* A loading_page file, read whole now: a regular file of at most
 * ZP_LOADING_PAGE_MAX bytes (opened non-blocking: a FIFO must not hang the
 * load). */
static int read_loading_page(struct conf_parser *p, const char *path, struct service_config *s)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	const char *why = NULL;
	int e = 0;
	if (fd < 0)
		e = errno;
	else if (fstat(fd, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_size > ZP_LOADING_PAGE_MAX)
		why = "larger than 64 KiB";
	char *body = NULL;
	size_t len = 0;
	if (!e && !why) {
		body = xmalloc(ZP_LOADING_PAGE_MAX + 1);
		for (;;) {
			ssize_t n = read(fd, body + len, ZP_LOADING_PAGE_MAX + 1 - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				e = errno;
			if (n <= 0)
				break;
			len += (size_t)n;
			if (len > ZP_LOADING_PAGE_MAX) {
				why = "larger than 64 KiB";
				break;
			}
		}
	}
	if (fd >= 0)
		close(fd);
	if (e || why) {
		conf_error(p, "cannot read %s: %s", path, why ? why : strerror(e));
		free(body);
		return -EINVAL;
	}
	free(s->loading_page_file);
	free(s->loading_page_body);
	s->loading_page_file = xstrdup(path);
	s->loading_page_body = body;
	s->loading_page_len = len;
	return 0;
}

/* loading_page: no, yes (the built-in page) or an absolute path. */
static int parse_loading_page(struct conf_parser *p, const struct conf_key *k, const char *v,
			      void *field)
{
	struct service_config *s = SERVICE(field);
	if (v[0] == '/') {
		int r = read_loading_page(p, v, s);
		s->loading_page = r == 0;
		return r;
	}
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < ZP_ARRAY_SIZE(yes); i++)
		if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
			s->loading_page = strcmp(v, yes[i]) == 0;
			return 0;
		}
	conf_error(p, "expected no, yes or the absolute path of an HTML file, got %s", p->quoted);
	return -EINVAL;
}

/* Whether name (lowercase) is a host name a Host header can carry without
 * its port: dot-separated labels of letters, digits and '-' (an IPv4
 * address is one), or an IPv6 address in brackets; "*." before it makes a
 * wildcard. */
static bool host_valid(const char *name)
{
	size_t len = strlen(name);
	if (name[0] == '[') {
		if (len < 3 || name[len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < len; i++)
			if (!isxdigit((unsigned char)name[i]) && name[i] != ':' && name[i] != '.')
				return false;
		return true;
	}
	if (strncmp(name, "*.", 2) == 0)
		name += 2;
	size_t label = 0;
	for (const char *c = name;; c++) {
		if (*c == '.' || *c == '\0') {
			if (label == 0 || c[-1] == '-' || c[-label] == '-')
				return false;
			if (*c == '\0')
				return true;
			label = 0;
			continue;
		}
		if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '-') ||
		    ++label > 63)
			return false;
	}
}

/* One more host of the service, lowercase, unless the service has it already. */
static int parse_host(struct conf_parser *p, const struct conf_key *k, const char *v, void *field)
{
	struct service_config *s = SERVICE(field);
	struct service_lines *lines = p->userdata;
	size_t len = strlen(v);
	char *name = xstrdup(v);
	for (char *c = name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (len > ZP_HOST_MAX || !host_valid(name)) {
		conf_error(p,
			   "expected a host name (letters, digits, - and ., or an [IPv6] address, "
			   "\"*.\" before it for every name under it; no port), got %s",
			   p->quoted);
		free(name);
		return -EINVAL;
	}
	size_t n = strv_length(s->hosts);
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->hosts[i], name) == 0) {
			conf_error(p, "%s is given already at line %u", name, lines->host[i]);
			free(name);
			return -EINVAL;
		}
	if (strv_push(&s->hosts, name) < 0)
		abort();
	free(name);
	lines->host = realloc(lines->host, (n + 1) * sizeof(unsigned));
	if (!lines->host)
		abort();
	lines->host[n] = p->line;
	return 0;
}

/* ---- the keys ---- */

/* The field of a row: SVC(f) for a field of struct service_config, SVC_ALL
 * for the parsers above that take the service whole. */
#define SVC(f)  .offset = offsetof(struct service_config, f)
#define SVC_ALL .offset = 0

/* clang-format off */
static const struct conf_key service_keys[] = {
	{ "service", "listen",                  parse_listen,        SVC_ALL, .flags = CONF_REPEATABLE },
	{ "service", "idle_timeout",            conf_parse_duration, SVC(idle_timeout_ms) },
	{ "service", "freeze_after",            conf_parse_duration, SVC(freeze_after_ms), .min = 1 },
	{ "service", "max_connections",         conf_parse_u32,      SVC(max_connections), .min = 1 },
	{ "service", "max_pending",             conf_parse_u32,      SVC(max_pending) },
	{ "service", "pending_timeout",         conf_parse_duration, SVC(pending_timeout_ms), .min = 1 },
	{ "service", "connection_idle_timeout", conf_parse_duration, SVC(connection_idle_timeout_ms),
	  .min = 1 },
	{ "service", "relay",                   conf_parse_bool,     SVC(relay) },
	{ "service", "group",                   conf_parse_string,   SVC(group_name),
	  .id = "service.group" },
	{ "service", "group_weight",            conf_parse_u32,      SVC(group_weight), .min = 1 },
	{ "service", "protocol",                conf_parse_enum,     SVC(protocol), .arg = protocol_names },
	{ "service", "wake_on",                 conf_parse_enum,     SVC(wake_on), .arg = wake_on_names },
	{ "backend", "exec",                    parse_exec,          SVC_ALL },
	{ "backend", "address",                 parse_address,       SVC_ALL },
	{ "backend", "ready",                   conf_parse_enum,     SVC(ready), .arg = ready_names },
	{ "backend", "start_timeout",           conf_parse_duration, SVC(start_timeout_ms), .min = 1 },
	{ "backend", "stop_signal",             conf_parse_signal,   SVC(stop_signal) },
	{ "backend", "stop_timeout",            conf_parse_duration, SVC(stop_timeout_ms) },
	{ "backend", "user",                    conf_parse_string,   SVC(user) },
	{ "backend", "group",                   conf_parse_string,   SVC(group) },
	{ "backend", "working_directory",       conf_parse_abs_path, SVC(working_directory) },
	{ "backend", "environment",             parse_environment,   SVC(environment),
	  .flags = CONF_REPEATABLE },
	{ "backend", "ready_command",           parse_ready_command, SVC_ALL },
	{ "backend", "kill_mode",               conf_parse_enum,     SVC(kill_mode), .arg = kill_mode_names },
	{ "backend", "ready_path",              parse_ready_path,    SVC(ready_path) },
	{ "http",    "max_header_size",         parse_size,          SVC(max_header_size), .min = 1024 },
	{ "http",    "idle_ignore",             parse_idle_ignore,   SVC_ALL, .flags = CONF_REPEATABLE },
	{ "http",    "idle_ignore_status",      parse_idle_ignore_status, SVC(idle_ignore_status) },
	{ "http",    "loading_page",            parse_loading_page,  SVC_ALL },
	{ "http",    "loading_page_after",      conf_parse_duration, SVC(loading_page_after_ms) },
	{ "http",    "host",                    parse_host,          SVC_ALL, .flags = CONF_REPEATABLE },
};
/* clang-format on */

static const struct conf_section service_sections[] = {
    {.name = "service"},
    {.name = "backend"},
    {.name = "http"},
};

/* The defaults, as zeroproxy.conf(5) lists them. */
static void service_defaults(struct service_config *s)
{
	s->idle_timeout_ms = ZP_DEFAULT_IDLE_TIMEOUT_MS;
	s->freeze_after_ms = ZP_INFINITY;
	s->max_connections = ZP_DEFAULT_MAX_CONNECTIONS;
	s->max_pending = ZP_DEFAULT_MAX_PENDING;
	s->pending_timeout_ms = ZP_DEFAULT_PENDING_TIMEOUT_MS;
	s->connection_idle_timeout_ms = ZP_DEFAULT_CONN_IDLE_TIMEOUT_MS;
	s->ready = ZP_READY_CONNECT;
	s->start_timeout_ms = ZP_DEFAULT_START_TIMEOUT_MS;
	s->stop_signal = SIGTERM;
	s->stop_timeout_ms = ZP_DEFAULT_STOP_TIMEOUT_MS;
	s->kill_mode = ZP_KILL_MIXED;
	s->relay = true;
	s->group_weight = 1;
	s->protocol = ZP_PROTOCOL_TCP;
	s->max_header_size = ZP_DEFAULT_MAX_HEADER_SIZE;
	s->wake_on = ZP_WAKE_CONNECT;
	s->idle_ignore_status = 200;
	s->loading_page_after_ms = ZP_DEFAULT_LOADING_PAGE_AFTER_MS;
}

void service_config_free(struct service_config *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->path);
	free(s->listen);
	free(s->exec);
	strv_free(s->argv);
	strv_free(s->ready_argv);
	free(s->ready_path);
	free(s->user);
	free(s->group);
	free(s->working_directory);
	strv_free(s->environment);
	free(s->group_name);
	strv_free(s->idle_ignore_paths);
	strv_free(s->idle_ignore_agents);
	free(s->loading_page_file);
	free(s->loading_page_body);
	strv_free(s->hosts);
	free(s);
}

/* ---- warnings: what may still change before the backend starts ---- */

/* The value of PATH for the backend: its own environment = PATH=..., else ours. */
static const char *exec_search_path(const struct service_config *s)
{
	for (size_t i = 0; s->environment && s->environment[i]; i++)
		if (strncmp(s->environment[i], "PATH=", 5) == 0)
			return s->environment[i] + 5;
	const char *env = getenv("PATH");
	return env && *env ? env : "/usr/local/bin:/usr/bin:/bin";
}

/* 0 when path is an executable regular file, else -errno. */
static int check_executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return -EACCES;
	return 0;
}

/* Warnings only: the program is looked up again at each start, where a missing
 * one is a start failure; `zeroproxy check` tells early. */
static void warn_exec(struct conf_parser *p, const struct service_config *s)
{
	unsigned line = conf_key_line(p, "exec");
	const char *prog = s->argv[0];
	int r;

	if (strchr(prog, '/')) {
		char *full = prog[0] != '/' && s->working_directory
				 ? path_join(s->working_directory, prog)
				 : xstrdup(prog);
		r = check_executable(full);
		if (r < 0)
			conf_key_warning(p, "exec", line, "cannot execute %s: %s", full,
					 strerror(-r));
		free(full);
		return;
	}
	const char *search = exec_search_path(s);
	char *copy = xstrdup(search), *save = NULL, *found_bad = NULL;
	int bad_err = 0;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full = path_join(*dir ? dir : ".", prog);
		r = check_executable(full);
		if (r == 0) {
			free(full);
			free(found_bad);
			free(copy);
			return;
		}
		if (r != -ENOENT && r != -ENOTDIR && !found_bad) {
			found_bad = full;
			bad_err = -r;
		} else {
			free(full);
		}
	}
	if (found_bad)
		conf_key_warning(p, "exec", line, "cannot execute %s: %s", found_bad,
				 strerror(bad_err));
	else
		conf_key_warning(p, "exec", line, "program %s not found in PATH (%s)", prog,
				 search);
	free(found_bad);
	free(copy);
}

static void warn_working_directory(struct conf_parser *p, const struct service_config *s)
{
	unsigned line = conf_key_line(p, "working_directory");
	struct stat st;

	if (stat(s->working_directory, &st) < 0)
		conf_key_warning(p, "working_directory", line, "cannot access %s: %s",
				 s->working_directory, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		conf_key_warning(p, "working_directory", line, "%s is not a directory",
				 s->working_directory);
}

/* Warnings only, like warn_exec: the user and group are looked up again at
 * each start, where a missing one fails the start. */
static void warn_credentials(struct conf_parser *p, const struct service_config *s)
{
	static const char *const keys[] = {"user", "group"};

	for (size_t i = 0; i < ZP_ARRAY_SIZE(keys); i++) {
		const char *what = keys[i];
		const char *name = i == 0 ? s->user : s->group;
		if (!name)
			continue;
		errno = 0;
		if (i == 0 ? getpwnam(name) != NULL : getgrnam(name) != NULL)
			continue;
		int e = errno;
		unsigned line = conf_key_line(p, what);
		/* "Not found" may come with any of these, says getpwnam(3). */
		if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM)
			conf_key_warning(p, what, line, "no such %s %s", what, name);
		else
			conf_key_warning(p, what, line, "cannot look up %s: %s", name, strerror(e));
	}
}

/* ---- the rules between keys ---- */

/* A required key with no value: at the line of its (empty) value when it was
 * written, at the file when it was left out. */
static void required(struct conf_parser *p, const char *name, const char *what)
{
	unsigned line = conf_key_line(p, name);

	if (line)
		conf_key_error(p, name, line, "%s, got an empty value", what);
	else
		conf_key_error(p, name, 0, "%s, not given", what);
}

/* ready = command needs ready_command, and ready_command needs ready =
 * command; the second of the two keys is the one in error. */
static void ready_command_check(struct conf_parser *p, const struct service_config *s)
{
	if (conf_key_bad(p, "ready") || conf_key_bad(p, "ready_command"))
		return;
	unsigned ready_line = conf_key_line(p, "ready");
	unsigned cmd_line = conf_key_line(p, "ready_command");
	if (s->ready == ZP_READY_COMMAND && !s->ready_argv)
		conf_key_error(p, "ready", ready_line, "command needs ready_command, not given");
	else if (s->ready != ZP_READY_COMMAND && s->ready_argv) {
		if (ready_line > cmd_line)
			conf_key_error(p, "ready", ready_line,
				       "ready_command (line %u) needs ready = command, got %s",
				       cmd_line, ready_name(s->ready));
		else
			conf_key_error(p, "ready_command", cmd_line,
				       "only with ready = command, ready is %s",
				       ready_name(s->ready));
	}
}

/* ready = http GETs an HTTP backend: only with protocol = http; ready_path
 * only with ready = http. The second of two keys is the one in error. */
static void ready_http_check(struct conf_parser *p, const struct service_config *s)
{
	if (conf_key_bad(p, "ready") || conf_key_bad(p, "protocol"))
		return;
	unsigned ready_line = conf_key_line(p, "ready");
	unsigned protocol_line = conf_key_line(p, "protocol");
	if (s->ready == ZP_READY_HTTP && s->protocol != ZP_PROTOCOL_HTTP) {
		if (protocol_line > ready_line)
			conf_key_error(p, "protocol", protocol_line,
				       "%s cannot be used with ready = http (line %u), which needs "
				       "protocol = http",
				       protocol_name(s->protocol), ready_line);
		else
			conf_key_error(p, "ready", ready_line,
				       "http needs protocol = http, protocol is %s",
				       protocol_name(s->protocol));
	}
	unsigned path_line = conf_key_line(p, "ready_path");
	if (s->ready_path && s->ready != ZP_READY_HTTP && !conf_key_bad(p, "ready_path")) {
		if (ready_line > path_line)
			conf_key_error(p, "ready", ready_line,
				       "ready_path (line %u) needs ready = http, got %s", path_line,
				       ready_name(s->ready));
		else
			conf_key_error(p, "ready_path", path_line,
				       "only with ready = http, ready is %s", ready_name(s->ready));
	}
}

/* relay = no hands the listeners to the backend: nothing of the relay
 * applies. The second of the two keys is the one in error. */
static void relay_check(struct conf_parser *p, const struct service_config *s)
{
	static const char *const relay_only[] = {"address", "ready", "max_pending",
						 "pending_timeout"};

	if (s->relay || conf_key_bad(p, "relay"))
		return;
	unsigned relay_line = conf_key_line(p, "relay");
	for (size_t i = 0; i < ZP_ARRAY_SIZE(relay_only); i++) {
		const char *key = relay_only[i];
		unsigned line = conf_key_line(p, key);
		if (!conf_key_set(p, key) || conf_key_bad(p, key))
			continue;
		if (line > relay_line)
			conf_key_error(p, key, line,
				       "not with relay = no (line %u): the backend accepts on the "
				       "listen sockets itself",
				       relay_line);
		else
			conf_key_error(p, "relay", relay_line,
				       "no cannot be used with %s (line %u): the backend accepts "
				       "on the listen sockets itself",
				       key, line);
	}
}

/* freeze_after must end before idle_timeout (counted from the same last
 * activity: a freeze at or after the idle stop would never happen), and
 * needs a relay: a handed-off backend accepts on the listen sockets itself,
 * and frozen it would leave them unanswered. The later key is in error. */
static void freeze_check(struct conf_parser *p, const struct service_config *s)
{
	if (s->freeze_after_ms == ZP_INFINITY || conf_key_bad(p, "freeze_after"))
		return;
	unsigned freeze_line = conf_key_line(p, "freeze_after");
	if (!s->relay && !conf_key_bad(p, "relay")) {
		unsigned relay_line = conf_key_line(p, "relay");
		if (freeze_line > relay_line)
			conf_key_error(
			    p, "freeze_after", freeze_line,
			    "not with relay = no (line %u): a frozen backend would leave "
			    "its listen sockets unanswered",
			    relay_line);
		else
			conf_key_error(p, "relay", relay_line,
				       "no cannot be used with freeze_after (line %u): a frozen "
				       "backend would leave its listen sockets unanswered",
				       freeze_line);
	}
	if (conf_key_bad(p, "idle_timeout") || s->freeze_after_ms < s->idle_timeout_ms)
		return;
	char f[32], i[32];
	format_duration(s->freeze_after_ms, f, sizeof(f));
	format_duration(s->idle_timeout_ms, i, sizeof(i));
	unsigned idle_line = conf_key_line(p, "idle_timeout");
	if (freeze_line > idle_line)
		conf_key_error(p, "freeze_after", freeze_line,
			       "expected less than idle_timeout (%s%s), got %s", i,
			       idle_line ? "" : ", the default", f);
	else
		conf_key_error(p, "idle_timeout", idle_line,
			       "expected more than freeze_after (%s, line %u), got %s", f,
			       freeze_line, i);
}

/* protocol = http parses the traffic zeroproxy relays: not with relay = no
 * (the second of the two keys is the one in error), and the [http] keys only
 * with it. */
static void protocol_check(struct conf_parser *p, const struct service_config *s)
{
	if (conf_key_bad(p, "protocol"))
		return;
	unsigned protocol_line = conf_key_line(p, "protocol");
	if (s->protocol == ZP_PROTOCOL_HTTP && !s->relay && !conf_key_bad(p, "relay")) {
		unsigned relay_line = conf_key_line(p, "relay");
		if (relay_line > protocol_line)
			conf_key_error(p, "relay", relay_line,
				       "no cannot be used with protocol = http (line %u): requests "
				       "are seen only when zeroproxy relays them",
				       protocol_line);
		else
			conf_key_error(
			    p, "protocol", protocol_line,
			    "http cannot be used with relay = no (line %u): requests are "
			    "seen only when zeroproxy relays them",
			    relay_line);
	}
	if (s->protocol == ZP_PROTOCOL_HTTP)
		return;
	for (size_t i = 0; i < ZP_ARRAY_SIZE(service_keys); i++) {
		const struct conf_key *k = &service_keys[i];
		if (strcmp(k->section, "http") != 0 || !conf_key_line(p, k->name) ||
		    conf_key_bad(p, k->name))
			continue;
		conf_key_error(p, k->name, conf_key_line(p, k->name),
			       "[http] only with protocol = http, protocol is %s",
			       protocol_name(s->protocol));
	}
}

/* wake_on = data waits for a relayed connection's first byte: not with
 * relay = no, where zeroproxy accepts nothing. The second of the two keys is
 * the one in error. */
static void wake_on_check(struct conf_parser *p, const struct service_config *s)
{
	if (s->relay || s->wake_on != ZP_WAKE_DATA || conf_key_bad(p, "relay") ||
	    conf_key_bad(p, "wake_on"))
		return;
	unsigned relay_line = conf_key_line(p, "relay");
	unsigned wake_line = conf_key_line(p, "wake_on");
	if (wake_line > relay_line)
		conf_key_error(
		    p, "wake_on", wake_line,
		    "data cannot be used with relay = no (line %u): zeroproxy accepts no "
		    "connection to wait for its first byte",
		    relay_line);
	else
		conf_key_error(
		    p, "relay", relay_line,
		    "no cannot be used with wake_on = data (line %u): zeroproxy accepts no "
		    "connection to wait for its first byte",
		    wake_line);
}

static void service_finish(struct conf_parser *p, struct service_config *s)
{
	const struct service_lines *lines = p->userdata;

	/* The default max_pending follows a max_connections set lower; one written
	 * out must fit. */
	if (!conf_key_set(p, "max_pending") && s->max_pending > s->max_connections)
		s->max_pending = s->max_connections;
	if (conf_key_set(p, "max_pending") && !conf_key_bad(p, "max_connections") &&
	    s->max_pending > s->max_connections)
		conf_key_error(p, "max_pending", conf_key_line(p, "max_pending"),
			       "expected at most max_connections (%u), got \"%u\"",
			       s->max_connections, s->max_pending);

	for (size_t i = 0; s->has_address && i < s->n_listen; i++)
		if (addr_clash(&s->address, &s->listen[i])) {
			conf_key_error(p, "address", conf_key_line(p, "address"),
				       "%s is already used by listen = %s at line %u",
				       s->address.text, s->listen[i].text, lines->listen[i]);
			break;
		}

	/* "Required" would only echo an error at a bad section header. */
	if (!conf_skipped_keys(p)) {
		if (s->n_listen == 0 && !conf_key_bad(p, "listen"))
			required(p, "listen", "required");
		if (!s->exec && !conf_key_bad(p, "exec"))
			required(p, "exec", "required");
		if (!s->has_address && s->ready != ZP_READY_SOCKET && s->relay &&
		    !conf_key_bad(p, "relay") && !conf_key_bad(p, "address") &&
		    !conf_key_bad(p, "ready"))
			required(p, "address", "required unless ready = socket");
	}

	ready_command_check(p, s);
	ready_http_check(p, s);
	relay_check(p, s);
	freeze_check(p, s);
	protocol_check(p, s);
	wake_on_check(p, s);

	if (s->argv)
		warn_exec(p, s);
	if (s->working_directory)
		warn_working_directory(p, s);
	warn_credentials(p, s);
}

struct service_config *service_parse(const char *path, const char *name, struct diag *d,
				     struct service_lines *lines, size_t *n_errors)
{
	struct service_config *s = xcalloc(1, sizeof(*s));
	struct conf_parser p = {
	    .path = path,
	    .d = d,
	    .keys = service_keys,
	    .n_keys = ZP_ARRAY_SIZE(service_keys),
	    .sections = service_sections,
	    .n_sections = ZP_ARRAY_SIZE(service_sections),
	    .target = s,
	    .userdata = lines,
	    .base_dir = ".",
	};
	size_t before = d->n_errors;
	FILE *f;

	s->name = xstrdup(name);
	s->path = xstrdup(path);
	service_defaults(s);
	*lines = (struct service_lines){0};

	f = conf_open(path);
	if (!f) {
		diag_error(d, "%s: cannot read: %s", path, conf_open_error(errno));
	} else {
		conf_parse(&p, f);
		fclose(f);
		service_finish(&p, s);
		if (s->has_address)
			lines->address = conf_key_line(&p, "address");
		lines->group = conf_key_line(&p, "service.group");
		lines->group_weight = conf_key_line(&p, "group_weight");
	}
	conf_parser_done(&p);
	*n_errors = d->n_errors - before;
	return s;
}

struct service_config *service_config_load(const char *path, const char *name, struct diag *d)
{
	struct service_lines lines;
	size_t n_errors;
	struct service_config *s = service_parse(path, name, d, &lines, &n_errors);

	free(lines.listen);
	free(lines.host);
	if (n_errors) {
		service_config_free(s);
		return NULL;
	}
	return s;
}

/* ---- comparing ---- */

static bool str_equal(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool strv_equal(char *const *a, char *const *b)
{
	size_t n = strv_length(a);

	if (n != strv_length(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static bool addr_same(const struct addr *a, const struct addr *b)
{
	return addr_equal(a, b) && strcmp(a->text, b->text) == 0;
}

bool service_config_equal(const struct service_config *a, const struct service_config *b)
{
	if (!str_equal(a->name, b->name) || a->n_listen != b->n_listen)
		return false;
	for (size_t i = 0; i < a->n_listen; i++)
		if (!addr_same(&a->listen[i], &b->listen[i]))
			return false;
	if (a->has_address != b->has_address ||
	    (a->has_address && !addr_same(&a->address, &b->address)))
		return false;
	return a->idle_timeout_ms == b->idle_timeout_ms &&
	       a->freeze_after_ms == b->freeze_after_ms &&
	       a->max_connections == b->max_connections && a->max_pending == b->max_pending &&
	       a->pending_timeout_ms == b->pending_timeout_ms &&
	       a->connection_idle_timeout_ms == b->connection_idle_timeout_ms &&
	       a->relay == b->relay && a->protocol == b->protocol &&
	       a->max_header_size == b->max_header_size && a->wake_on == b->wake_on &&
	       strv_equal(a->idle_ignore_paths, b->idle_ignore_paths) &&
	       strv_equal(a->idle_ignore_agents, b->idle_ignore_agents) &&
	       a->idle_ignore_status == b->idle_ignore_status &&
	       a->loading_page == b->loading_page &&
	       str_equal(a->loading_page_file, b->loading_page_file) &&
	       a->loading_page_len == b->loading_page_len &&
	       (!a->loading_page_len ||
		memcmp(a->loading_page_body, b->loading_page_body, a->loading_page_len) == 0) &&
	       a->loading_page_after_ms == b->loading_page_after_ms &&
	       str_equal(a->exec, b->exec) && strv_equal(a->argv, b->argv) &&
	       a->ready == b->ready && a->start_timeout_ms == b->start_timeout_ms &&
	       a->stop_signal == b->stop_signal && a->stop_timeout_ms == b->stop_timeout_ms &&
	       strv_equal(a->ready_argv, b->ready_argv) &&
	       str_equal(a->ready_path, b->ready_path) && a->kill_mode == b->kill_mode &&
	       str_equal(a->user, b->user) && str_equal(a->group, b->group) &&
	       str_equal(a->working_directory, b->working_directory) &&
	       strv_equal(a->environment, b->environment) &&
	       str_equal(a->group_name, b->group_name) && a->group_weight == b->group_weight &&
	       strv_equal(a->hosts, b->hosts);
}
