/*
 * test-cgroup — per-instance cgroups where this host lets us have them: a
 * child that burns CPU inside one shows up in cpu.stat, a forked grandchild is
 * killed with the rest, the cgroup is removed. Skips (TAP SKIP) where cgroup
 * v2 is not usable. Also the /proc readers used without cgroups.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "procstat.h"
#include "tap.h"

static uint64_t cpu_now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void burn(uint64_t usec)
{
	uint64_t end = cpu_now_usec() + usec;
	volatile uint64_t x = 0;
	while (cpu_now_usec() < end)
		for (int i = 0; i < 10000; i++)
			x += (uint64_t)i;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void test_procstat(void)
{
	struct procstat ps;

	burn(50000);
	is_int(procstat_read(getpid(), &ps), 0, "procstat of ourselves");
	ok(ps.cpu_usec >= 20000, "our CPU time is seen (%llu us)", (unsigned long long)ps.cpu_usec);
	ok(ps.rss_bytes > 0 && ps.hwm_bytes >= ps.rss_bytes, "our RSS %llu <= HWM %llu",
	   (unsigned long long)ps.rss_bytes, (unsigned long long)ps.hwm_bytes);
	is_int(procstat_read(0, &ps), -EINVAL, "pid 0 rejected");

	/* A group leader (setsid: new session and group) with a busy child: the
	 * group's sum includes both. */
	int gate[2], done[2];
	if (pipe2(gate, O_CLOEXEC) < 0)
		return;
	if (pipe2(done, O_CLOEXEC) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		/* Only the parent holds the write end: its close is the signal to end. */
		close(gate[1]);
		close(done[0]);
		setsid();
		pid_t kid = fork();
		burn(kid == 0 ? 150000 : 100000);
		/* Burnt: said on done, so that the parent reads the sum only then
		 * (a fixed wait was too short on a loaded machine). */
		char c = 'd';
		if (write(done[1], &c, 1) < 0 || read(gate[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(gate[0]);
	close(done[1]);
	if (pid < 0)
		return;
	char got[2];
	size_t n_done = 0;
	struct pollfd pfd = {.fd = done[0], .events = POLLIN};
	while (n_done < 2 && poll(&pfd, 1, 30000) == 1) {
		ssize_t n = read(done[0], got, sizeof(got) - n_done);
		if (n <= 0)
			break;
		n_done += (size_t)n;
	}
	close(done[0]);
	int r = procstat_read_group(pid, &ps);
	ok(r == 0 && ps.cpu_usec >= 200000, "group of 2 busy processes: %llu us CPU (r=%d)",
	   (unsigned long long)ps.cpu_usec, r);
	struct procstat one;
	procstat_read(pid, &one);
	ok(one.cpu_usec < ps.cpu_usec, "the leader alone has less (%llu us)",
	   (unsigned long long)one.cpu_usec);
	close(gate[1]);
	waitpid(pid, NULL, 0);
	is_int(procstat_read(pid, &ps), -ESRCH, "a reaped pid is gone");
	/* The orphaned child ends on its own and is reaped by init. */
	r = 0;
	for (int i = 0; i < 300 && r == 0; i++) {
		sleep_ms(10);
		r = procstat_read_group(pid, &ps);
	}
	is_int(r, -ESRCH, "a group with no process left is gone");
}

/* A zeroproxy alone in its cgroup (systemd with Delegate=yes) moves itself
 * into a leaf and puts the services beside it: run that in a child placed
 * alone in a cgroup of ours. */
static void test_dedicated(struct cgroup_root *outer)
{
	char *home = NULL;
	if (cgroup_create(outer, "alone", &home) < 0) {
		ok(false, "cgroup for the dedicated layout");
		return;
	}
	int fd = cgroup_procs_open(home);
	pid_t pid = fork();
	if (pid == 0) {
		if (cgroup_enter(fd) < 0)
			_exit(10);
		unsetenv("INVOCATION_ID");
		struct cgroup_root *root = NULL;
		if (cgroup_setup(&root) < 0)
			_exit(11);
		if (strcmp(cgroup_root_path(root), home))
			_exit(12);
		char mine[4200], buf[256];
		FILE *f = fopen("/proc/self/cgroup", "re");
		bool in_leaf = false;
		while (f && fgets(buf, sizeof(buf), f))
			in_leaf |= !strncmp(buf, "0::", 3) && strstr(buf, "/svc-alone/zeroproxy\n");
		if (f)
			fclose(f);
		if (!in_leaf)
			_exit(13);
		char *svc = NULL;
		if (cgroup_create(root, "inner", &svc) < 0)
			_exit(14);
		snprintf(mine, sizeof(mine), "%s/svc-inner", home);
		if (strcmp(svc, mine))
			_exit(15);
		free(svc);
		cgroup_root_free(root);
		if (access(mine, F_OK) == 0)
			_exit(16);
		_exit(0);
	}
	close(fd);
	int status = 0;
	waitpid(pid, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : 100, 0,
	       "alone in its cgroup: moves into OURS/zeroproxy, services beside it");
	char leaf[4200];
	snprintf(leaf, sizeof(leaf), "%s/zeroproxy", home);
	rmdir(leaf);
	is_int(cgroup_remove(home), 0, "the dedicated layout cleans up");
	free(home);
}

static void test_cgroup(void)
{
	struct cgroup_root *root = NULL;
	int r = cgroup_setup(&root);
	if (r < 0) {
		printf("ok %d # SKIP cgroup v2 not usable here: %s\n", ++tap_n, strerror(-r));
		return;
	}
	ok(root != NULL, "cgroup_setup: %s", cgroup_root_path(root));

	char *path = NULL;
	r = cgroup_create(root, "burner", &path);
	if (!is_int(r, 0, "cgroup_create")) {
		cgroup_root_free(root);
		return;
	}
	uint64_t cpu = 1, mem = 1;
	ok(cgroup_read(path, &cpu, &mem) == 0 && cpu == 0, "a fresh cgroup has no CPU time");
	is_int(cgroup_populated(path), 0, "a fresh cgroup is empty");

	int fd = cgroup_procs_open(path);
	ok(fd >= 0, "cgroup_procs_open");
	pid_t pid = fork();
	if (pid == 0) {
		if (cgroup_enter(fd) < 0)
			_exit(99);
		/* A grandchild that lingers: it must die with the cgroup. */
		if (fork() == 0) {
			for (;;)
				pause();
		}
		burn(200000);
		_exit(0);
	}
	close(fd);
	int status = 0;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child ran in the cgroup");
	is_int(cgroup_populated(path), 1, "the lingering grandchild keeps it populated");
	r = cgroup_read(path, &cpu, &mem);
	ok(r == 0 && cpu >= 150000, "cpu.stat usage_usec %llu >= 150 ms", (unsigned long long)cpu);
	note("memory.peak: %llu bytes (0: no memory controller)", (unsigned long long)mem);

	is_int(cgroup_remove(path), -EBUSY, "a populated cgroup cannot be removed");
	ok(cgroup_kill(path, SIGKILL) >= 1, "cgroup_kill SIGKILL");
	int populated = 1;
	for (int i = 0; i < 200 && populated == 1; i++) {
		sleep_ms(10);
		populated = cgroup_populated(path);
	}
	is_int(populated, 0, "every process is gone");
	is_int(cgroup_remove(path), 0, "cgroup_remove");
	ok(access(path, F_OK) < 0, "the directory is gone");
	free(path);

	/* cgroup_kill by iterating cgroup.procs (a signal other than SIGKILL). */
	r = cgroup_create(root, "termed", &path);
	fd = cgroup_procs_open(path);
	pid = fork();
	if (pid == 0) {
		if (cgroup_enter(fd) < 0)
			_exit(99);
		for (;;)
			pause();
	}
	close(fd);
	sleep_ms(50);
	is_int(cgroup_kill(path, SIGTERM), 1, "SIGTERM to the one process in the cgroup");
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "it died of SIGTERM");

	/* A second instance gets a fresh cgroup; a leftover empty one is replaced. */
	char *again = NULL;
	is_int(cgroup_create(root, "termed", &again), 0, "cgroup_create over an empty leftover");
	is_str(again, path, "same path, reused");
	cgroup_read(again, &cpu, &mem);
	is_int((long long)cpu, 0, "with its counters reset");
	free(again);
	is_int(cgroup_create(root, "a/b", &again), -EINVAL, "a name with a slash is refused");
	free(path);

	test_dedicated(root);

	char base[4096];
	snprintf(base, sizeof(base), "%s", cgroup_root_path(root));
	cgroup_root_free(root);
	struct stat st;
	char svc[4200];
	snprintf(svc, sizeof(svc), "%s/svc-termed", base);
	ok(stat(svc, &st) < 0, "cgroup_root_free removed the empty service cgroups");
}

int main(void)
{
	test_procstat();
	test_cgroup();
	return done_testing();
}
