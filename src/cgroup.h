/*
 * cgroup — one cgroup v2 per backend instance, for exact CPU and memory
 * figures of the backend and all its descendants, and for stopping every
 * process of it, not just the one zeroproxy forked.
 *
 * Layout: OURS is zeroproxy's cgroup at start-up. When zeroproxy is alone in
 * it (systemd with Delegate=yes), it moves itself into OURS/zeroproxy (the
 * no-internal-processes rule) and creates OURS/svc-NAME beside it; when it
 * shares OURS with other processes (root in a shell, a test harness) it keeps
 * to a private OURS/zeroproxy.PID/svc-NAME. Everything fails soft: without a
 * usable cgroup the caller falls back to wait4() rusage and process groups.
 */
#ifndef ZP_CGROUP_H
#define ZP_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

struct cgroup_root;

/* Find cgroup v2, check that we may manage it, set up the layout above and
 * enable the cpu and memory controllers where the kernel offers them. Logs
 * one line on what it found. 0, or -errno when cgroups cannot be used (the
 * reason is logged once; do not call again). */
int cgroup_setup(struct cgroup_root **out);

/* Remove the service cgroups that are empty and our private directory; does
 * not kill anything. NULL is fine. */
void cgroup_root_free(struct cgroup_root *root);

/* Where the service cgroups live (for logs). */
const char *cgroup_root_path(const struct cgroup_root *root);

/* A fresh, empty cgroup for one instance of service name (its counters start
 * at zero): OURS/svc-NAME, replacing an empty leftover, or OURS/svc-NAME@N
 * when a previous instance's processes are still in the way. Sets *path to a
 * malloc'd absolute path. 0 or -errno. */
int cgroup_create(struct cgroup_root *root, const char *name, char **path);

/* Open path/cgroup.procs for writing (O_CLOEXEC): the fd or -errno. A child
 * that clone3() could not create in its cgroup (Linux before 5.7) opens it
 * itself between fork() and exec, then calls cgroup_enter(); the exec closes
 * it. */
int cgroup_procs_open(const char *path);

/* In the child between fork() and exec (async-signal-safe: one write()): move
 * the calling process into the cgroup whose cgroup.procs fd is given. Must be
 * done before dropping privileges. 0 or -errno. */
int cgroup_enter(int procs_fd);

/* CPU time (usage_usec of cpu.stat: user + system of every process that ever
 * ran in it) and peak memory (memory.peak; 0 when the memory controller is not
 * available) of a cgroup. 0 or -errno. */
int cgroup_read(const char *path, uint64_t *cpu_usec, uint64_t *mem_peak_bytes);

/* Whether any process is left in the cgroup (cgroup.events): 1, 0 or -errno. */
int cgroup_populated(const char *path);

/* An inotify fd (non-blocking, close-on-exec) that becomes readable whenever
 * path/cgroup.events changes, e.g. populated 1 -> 0. The fd or -errno. */
int cgroup_events_watch(const char *path);

/* Send sig to every process in the cgroup; SIGKILL uses cgroup.kill where the
 * kernel has it (5.14+), which also catches processes forking meanwhile.
 * Returns how many processes were signalled (or 1 for cgroup.kill), or -errno. */
int cgroup_kill(const char *path, int sig);

/* Freeze every process of the cgroup (on) or thaw them (cgroup.freeze,
 * Linux 5.2+): 0 or -errno (-ENOENT: the kernel has no v2 freezer). A
 * freeze completes asynchronously (cgroup_frozen() says when; the change
 * reaches cgroup.events, see cgroup_events_watch()); a thaw is immediate. */
int cgroup_freeze(const char *path, bool on);

/* Whether the cgroup's freeze has completed ("frozen" in cgroup.events):
 * 1, 0 or -errno. */
int cgroup_frozen(const char *path);

/* rmdir the cgroup: 0, -EBUSY while processes are left, or -errno. */
int cgroup_remove(const char *path);

#endif
