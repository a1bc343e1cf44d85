/*
 * cgroup — per-instance cgroup v2 accounting, freezing and killing; see cgroup.h for
 * the layout. Only the cgroup v2 interface files are used (cgroup.procs,
 * cgroup.events, cgroup.freeze, cgroup.kill, cgroup.subtree_control, cpu.stat, memory.peak),
 * so a hybrid host whose controllers are all bound to v1 still gives CPU time
 * (cpu.stat is a core file), just no memory.peak.
 */
#define _GNU_SOURCE 1

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"
#include "log.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CG_PATH_MAX 4096

struct cgroup_root {
	char base[CG_PATH_MAX]; /* directory holding svc-NAME (absolute) */
	bool private_base;      /* base is our own zeroproxy.PID: remove it at the end */
	bool memory;            /* memory controller enabled for the services */
};

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, s, strlen(s));
	int r = w < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int events_flag(const char *path, const char *key);

static int join(char *out, size_t size, const char *a, const char *b)
{
	if ((size_t)snprintf(out, size, "%s/%s", a, b) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* The cgroup v2 mount point: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a
 * hybrid host. */
static const char *find_mount(void)
{
	static const char *const candidates[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	struct statfs sfs;

	for (size_t i = 0; i < 2; i++)
		if (statfs(candidates[i], &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
			return candidates[i];
	return NULL;
}

/* Our v2 cgroup from /proc/self/cgroup ("0::/path"). */
static int own_cgroup(char *out, size_t size)
{
	char buf[8192];
	ssize_t n = read_small_file("/proc/self/cgroup", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	for (char *l = buf; l && *l;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(l, "0::/", 4)) {
			if (strstr(l, " (deleted)") || strlen(l + 3) >= size)
				return -ENOENT;
			strcpy(out, l + 3);
			return 0;
		}
		l = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

/* Whether cgroup.procs of dir lists our pid and nothing else. */
static bool alone_in(const char *dir)
{
	char path[CG_PATH_MAX], buf[256];
	if (join(path, sizeof(path), dir, "cgroup.procs") < 0)
		return false;
	ssize_t n = read_small_file(path, buf, sizeof(buf));
	if (n <= 0 || (size_t)n >= sizeof(buf) - 1)
		return false;
	char me[32];
	snprintf(me, sizeof(me), "%ld\n", (long)getpid());
	return !strcmp(buf, me);
}

/* Under systemd a cgroup is ours to manage only when delegated: systemd marks
 * such a directory with the xattr trusted.delegate (user.delegate for a user
 * manager). */
static bool delegated(const char *dir)
{
	char v[8];
	ssize_t n = getxattr(dir, "trusted.delegate", v, sizeof(v));
	if (n <= 0)
		n = getxattr(dir, "user.delegate", v, sizeof(v));
	return n == 1 && v[0] == '1';
}

/* Enable each controller of want that dir offers in dir/cgroup.subtree_control;
 * sets *memory when the memory controller ends up on. */
static void enable_controllers(const char *dir, bool *memory)
{
	char path[CG_PATH_MAX], avail[1024];
	static const char *const want[] = {"cpu", "memory"};

	*memory = false;
	if (join(path, sizeof(path), dir, "cgroup.controllers") < 0 ||
	    read_small_file(path, avail, sizeof(avail)) < 0)
		return;
	if (join(path, sizeof(path), dir, "cgroup.subtree_control") < 0)
		return;
	for (size_t i = 0; i < 2; i++) {
		bool offered = false;
		char copy[1024], *save = NULL;
		strcpy(copy, avail);
		for (char *w = strtok_r(copy, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
			offered |= !strcmp(w, want[i]);
		if (!offered)
			continue;
		char cmd[32];
		snprintf(cmd, sizeof(cmd), "+%s", want[i]);
		int r = write_str(path, cmd);
		if (r < 0)
			log_debug("cgroup: cannot enable %s in %s: %s", want[i], path,
				  strerror(-r));
		else if (i == 1)
			*memory = true;
	}
}

/* rmdir the empty svc-* cgroups in dir. With kill_left (dir is a dead
 * zeroproxy's), SIGKILL what is left in them first: the main processes died
 * with it (PR_SET_PDEATHSIG), their children may not have, and in a frozen
 * cgroup they would wait for a thaw for ever (cgroup.kill ends frozen
 * processes too). Those cgroups are removed by the next start. */
static void remove_services(const char *dir, bool kill_left)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[CG_PATH_MAX];
		if (strncmp(e->d_name, "svc-", 4) || join(path, sizeof(path), dir, e->d_name) < 0)
			continue;
		if (kill_left && events_flag(path, "populated") > 0 &&
		    cgroup_kill(path, SIGKILL) > 0)
			log_info("cgroup: killed the processes left in %s by an earlier zeroproxy",
				 path);
		(void)rmdir(path); /* -EBUSY: still in use, kept */
	}
	closedir(d);
}

/* A kill -9 of an earlier zeroproxy in a shared cgroup leaves an empty
 * zeroproxy.PID behind; remove those whose process is gone. */
static void remove_stale(const char *ours)
{
	DIR *d = opendir(ours);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		if (strncmp(e->d_name, "zeroproxy.", 10))
			continue;
		long pid = strtol(e->d_name + 10, &end, 10);
		if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		char path[CG_PATH_MAX];
		if (join(path, sizeof(path), ours, e->d_name) < 0)
			continue;
		remove_services(path, true);
		if (rmdir(path) == 0)
			log_info("cgroup: removed %s, left by an earlier zeroproxy", path);
	}
	closedir(d);
}

/* The layout of cgroup.h under our own cgroup. 0, or -errno with the reason
 * in why. */
static int setup(struct cgroup_root *root, char *why, size_t why_len)
{
	char rel[CG_PATH_MAX], ours[CG_PATH_MAX], path[CG_PATH_MAX];
	const char *mnt = find_mount();
	int r;

	snprintf(why, why_len, "path too long"); /* for each -ENAMETOOLONG below */
	if (!mnt) {
		snprintf(why, why_len, "no cgroup v2 hierarchy is mounted");
		return -EOPNOTSUPP;
	}
	r = own_cgroup(rel, sizeof(rel));
	if (r < 0) {
		snprintf(why, why_len, "cannot find our cgroup v2 in /proc/self/cgroup");
		return r;
	}
	if ((size_t)snprintf(ours, sizeof(ours), "%s%s", mnt, strcmp(rel, "/") ? rel : "") >=
	    sizeof(ours))
		return -ENAMETOOLONG;
	if (getenv("INVOCATION_ID") && strcmp(rel, "/") && !delegated(ours)) {
		snprintf(why, why_len,
			 "our cgroup is not delegated to us (set Delegate=yes in the unit)");
		return -EPERM;
	}
	if (access(ours, W_OK) < 0) {
		r = -errno;
		snprintf(why, why_len, "our cgroup is not writable");
		return r;
	}

	if (alone_in(ours) && strcmp(rel, "/")) {
		/* Ours alone: move into a leaf so that OURS may have controllers
		 * enabled and service children beside us. */
		if (join(path, sizeof(path), ours, "zeroproxy") < 0)
			return -ENAMETOOLONG;
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(why, why_len, "cannot create a cgroup");
			return r;
		}
		char procs[CG_PATH_MAX], pid[32];
		if (join(procs, sizeof(procs), path, "cgroup.procs") < 0)
			return -ENAMETOOLONG;
		snprintf(pid, sizeof(pid), "%ld", (long)getpid());
		r = write_str(procs, pid);
		if (r < 0) {
			(void)rmdir(path);
			snprintf(why, why_len, "cannot move zeroproxy into its own leaf cgroup");
			return r;
		}
		strcpy(root->base, ours);
		root->private_base = false;
	} else {
		/* Shared with other processes: a private subtree, no moving. */
		remove_stale(ours);
		char name[64];
		snprintf(name, sizeof(name), "zeroproxy.%ld", (long)getpid());
		if (join(root->base, sizeof(root->base), ours, name) < 0)
			return -ENAMETOOLONG;
		if (mkdir(root->base, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(why, why_len, "cannot create a cgroup");
			return r;
		}
		root->private_base = true;
	}
	enable_controllers(root->base, &root->memory);
	return 0;
}

int cgroup_setup(struct cgroup_root **out)
{
	struct cgroup_root *root = calloc(1, sizeof(*root));
	char why[128];

	*out = NULL;
	if (!root)
		return -ENOMEM;
	int r = setup(root, why, sizeof(why));
	if (r < 0) {
		log_info("cgroup: not used (%s: %s); CPU and memory from rusage", why,
			 strerror(-r));
		free(root);
		return r;
	}
	log_info("cgroup: service cgroups under %s (memory.peak %s)", root->base,
		 root->memory ? "available" : "not available");
	*out = root;
	return 0;
}

void cgroup_root_free(struct cgroup_root *root)
{
	if (!root)
		return;
	remove_services(root->base, false);
	if (root->private_base)
		(void)rmdir(root->base); /* -EBUSY: processes left, kept */
	free(root);
}

const char *cgroup_root_path(const struct cgroup_root *root)
{
	return root->base;
}

int cgroup_create(struct cgroup_root *root, const char *name, char **path)
{
	char p[CG_PATH_MAX];

	*path = NULL;
	if (!name || !*name || strchr(name, '/') || strlen(name) > 64)
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		int n = i ? snprintf(p, sizeof(p), "%s/svc-%s@%d", root->base, name, i)
			  : snprintf(p, sizeof(p), "%s/svc-%s", root->base, name);
		if ((size_t)n >= sizeof(p))
			return -ENAMETOOLONG;
		/* A leftover of an earlier instance keeps its counters: replace it. */
		if (rmdir(p) < 0 && errno != ENOENT)
			continue;
		if (mkdir(p, 0755) < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		*path = strdup(p);
		if (!*path) {
			(void)rmdir(p);
			return -ENOMEM;
		}
		return 0;
	}
	return -EBUSY;
}

int cgroup_procs_open(const char *path)
{
	char p[CG_PATH_MAX];
	if (join(p, sizeof(p), path, "cgroup.procs") < 0)
		return -ENAMETOOLONG;
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int cgroup_enter(int procs_fd)
{
	/* "0" is the writing process itself. */
	if (write(procs_fd, "0", 1) != 1)
		return -errno;
	return 0;
}

/* The value of key in a "key value" per line file, or -ENOENT. */
static int read_keyed(const char *path, const char *key, uint64_t *v)
{
	char buf[4096];
	ssize_t n = read_small_file(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	size_t kl = strlen(key);
	for (char *l = buf; l && *l;) {
		if (!strncmp(l, key, kl) && l[kl] == ' ') {
			char *end;
			errno = 0;
			unsigned long long x = strtoull(l + kl + 1, &end, 10);
			if (errno || end == l + kl + 1)
				return -EINVAL;
			*v = x;
			return 0;
		}
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return -ENOENT;
}

int cgroup_read(const char *path, uint64_t *cpu_usec, uint64_t *mem_peak_bytes)
{
	char p[CG_PATH_MAX], buf[64];
	int r;

	*cpu_usec = 0;
	*mem_peak_bytes = 0;
	if (join(p, sizeof(p), path, "cpu.stat") < 0)
		return -ENAMETOOLONG;
	r = read_keyed(p, "usage_usec", cpu_usec);
	if (r < 0)
		return r;
	if (join(p, sizeof(p), path, "memory.peak") == 0 &&
	    read_small_file(p, buf, sizeof(buf)) > 0) {
		char *end;
		errno = 0;
		unsigned long long x = strtoull(buf, &end, 10);
		if (!errno && end != buf)
			*mem_peak_bytes = x;
	}
	return 0;
}

/* A 0/1 key of cgroup.events: 1, 0 or -errno. */
static int events_flag(const char *path, const char *key)
{
	char p[CG_PATH_MAX];
	uint64_t v;
	if (join(p, sizeof(p), path, "cgroup.events") < 0)
		return -ENAMETOOLONG;
	int r = read_keyed(p, key, &v);
	return r < 0 ? r : v != 0;
}

int cgroup_populated(const char *path)
{
	return events_flag(path, "populated");
}

int cgroup_events_watch(const char *path)
{
	char p[CG_PATH_MAX];
	if (join(p, sizeof(p), path, "cgroup.events") < 0)
		return -ENAMETOOLONG;
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (inotify_add_watch(fd, p, IN_MODIFY) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int cgroup_kill(const char *path, int sig)
{
	char p[CG_PATH_MAX];

	if (sig == SIGKILL && join(p, sizeof(p), path, "cgroup.kill") == 0 &&
	    write_str(p, "1") == 0)
		return 1;
	if (join(p, sizeof(p), path, "cgroup.procs") < 0)
		return -ENAMETOOLONG;
	FILE *f = fopen(p, "re");
	if (!f)
		return -errno;
	int n = 0;
	long pid;
	while (fscanf(f, "%ld", &pid) == 1)
		if (pid > 0 && kill((pid_t)pid, sig) == 0)
			n++;
	fclose(f);
	return n;
}

int cgroup_freeze(const char *path, bool on)
{
	char p[CG_PATH_MAX];
	if (join(p, sizeof(p), path, "cgroup.freeze") < 0)
		return -ENAMETOOLONG;
	return write_str(p, on ? "1" : "0");
}

int cgroup_frozen(const char *path)
{
	return events_flag(path, "frozen");
}

int cgroup_remove(const char *path)
{
	return rmdir(path) < 0 ? -errno : 0;
}
