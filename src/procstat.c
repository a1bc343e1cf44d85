/*
 * procstat — /proc/PID/stat and /proc/PID/status readers; see procstat.h.
 * Fields are located after the last ')' of stat, since the command name in
 * parentheses may itself contain spaces and parentheses.
 */
#define _GNU_SOURCE 1

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"
#include "util.h"

/* /proc/PID/... of a process that is gone is ENOENT; say ESRCH. */
static ssize_t proc_read(const char *path, char *buf, size_t size)
{
	ssize_t n = read_small_file(path, buf, size);
	return n == -ENOENT ? -ESRCH : n;
}

/* Fields 3.. of /proc/PID/stat after the command: we want the process group
 * (5), utime (14), stime (15), cutime (16), cstime (17), numbered as in
 * proc(5). */
static int read_stat(pid_t pid, uint64_t *cpu_usec, long *pgrp)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	ssize_t n = proc_read(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	p++;
	unsigned long long ticks = 0;
	for (int field = 3; field <= 17; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EINVAL;
		char *end;
		if (field == 5 && pgrp)
			*pgrp = strtol(p, &end, 10);
		else if (field >= 14) {
			long long v = strtoll(p, &end, 10);
			if (v > 0)
				ticks += (unsigned long long)v;
		}
		end = strchr(p, ' ');
		if (!end)
			return field == 17 ? 0 : -EINVAL;
		p = end;
	}
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		hz = 100;
	*cpu_usec = ticks * 1000000ull / (unsigned long long)hz;
	return 0;
}

/* VmRSS and VmHWM (kB) from /proc/PID/status; 0 for a kernel thread or zombie. */
static int read_status(pid_t pid, uint64_t *rss, uint64_t *hwm)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	ssize_t n = proc_read(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	*rss = *hwm = 0;
	for (char *l = buf; l && *l;) {
		unsigned long long kb;
		if (sscanf(l, "VmRSS: %llu kB", &kb) == 1)
			*rss = kb * 1024;
		else if (sscanf(l, "VmHWM: %llu kB", &kb) == 1)
			*hwm = kb * 1024;
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return 0;
}

int procstat_read(pid_t pid, struct procstat *ps)
{
	memset(ps, 0, sizeof(*ps));
	if (pid <= 0)
		return -EINVAL;
	int r = read_stat(pid, &ps->cpu_usec, NULL);
	if (r < 0)
		return r;
	r = read_status(pid, &ps->rss_bytes, &ps->hwm_bytes);
	return r == -ESRCH ? 0 : r;
}

int procstat_read_group(pid_t pgid, struct procstat *ps)
{
	memset(ps, 0, sizeof(*ps));
	if (pgid <= 0)
		return -EINVAL;
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	bool found = false;
	uint64_t max_hwm = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
		uint64_t cpu, rss, hwm;
		long pgrp = -1;
		if (read_stat(pid, &cpu, &pgrp) < 0 || pgrp != (long)pgid)
			continue;
		found = true;
		ps->cpu_usec += cpu;
		if (read_status(pid, &rss, &hwm) == 0) {
			ps->rss_bytes += rss;
			if (hwm > max_hwm)
				max_hwm = hwm;
		}
	}
	closedir(d);
	ps->hwm_bytes = ps->rss_bytes > max_hwm ? ps->rss_bytes : max_hwm;
	return found ? 0 : -ESRCH;
}
