/*
 * procstat — live CPU and memory figures of a running backend from /proc,
 * for when no cgroup is available. Final figures of an instance come from
 * wait4()'s rusage; these are for status while it runs.
 */
#ifndef ZP_PROCSTAT_H
#define ZP_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

struct procstat {
	uint64_t cpu_usec;  /* user + system, plus that of waited-for children */
	uint64_t rss_bytes; /* resident memory now (VmRSS) */
	uint64_t hwm_bytes; /* peak resident memory (VmHWM) */
};

/* Figures of one process. 0, or -errno (-ESRCH when it is gone). */
int procstat_read(pid_t pid, struct procstat *ps);

/* Figures of every process in process group pgid (a backend and the
 * descendants that stayed in its group): CPU and RSS summed (a child reaped
 * already counts in its parent's cutime/cstime, a live one in its own
 * entry), hwm the larger of the summed RSS and the largest single VmHWM.
 * Reads all of /proc. 0, or -errno (-ESRCH when the group is empty). */
int procstat_read_group(pid_t pgid, struct procstat *ps);

#endif
