#!/bin/bash
# bulk.sh — the relay's bulk case: proxy.sh with nginx serving a 1 MiB and a
# 64 MiB body over keep-alive connections (direct, zeroproxy, haproxy mode tcp
# without and with `option splice-auto`, and with splice forced both ways,
# systemd-socket-proxyd, same run),
# printing throughput relative to direct and each proxy's CPU seconds per GiB
# relayed (utime+stime from /proc/PID/stat before and after each case).
#
# Run by hand, never by `make check`:
#   tests/bench/bulk.sh [BUILDDIR]
# Environment: BENCH_SIZES (default "1048576 67108864"), BENCH_CONNS (default
# 8), and everything proxy.sh reads.
set -u
here=$(dirname "$0")
rc=0
for size in ${BENCH_SIZES:-1048576 67108864}; do
	echo "=== bulk: $size-byte body"
	BENCH_SIZE=$size BENCH_MODES=${BENCH_MODES:-keepalive} BENCH_CONNS=${BENCH_CONNS:-8} \
		BENCH_THREADS=${BENCH_THREADS:-2} "$here/proxy.sh" "$@" || rc=$?
	echo
done
exit $rc
