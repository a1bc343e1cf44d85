#!/bin/bash
# redis.sh — the relay's pipelined case: redis-benchmark -P 16 (SET and GET)
# against Redis directly, through zeroproxy and through haproxy (mode tcp, one
# thread), same run. Prints requests/s relative to direct and the proxy's own
# CPU per request (utime+stime from /proc/PID/stat before and after).
#
# Run by hand, never by `make check`:
#   tests/bench/redis.sh [BUILDDIR]
# Environment: BENCH_REQUESTS (default 500000), BENCH_CLIENTS (default 50),
# BENCH_PIPELINE (default 16), ZEROPROXY, REDIS_SERVER, REDIS_BENCHMARK, REDIS_CLI, HAPROXY.
set -u
BUILDDIR=${1:-.}
N=${BENCH_REQUESTS:-500000}
C=${BENCH_CLIENTS:-50}
P=${BENCH_PIPELINE:-16}
ZEROPROXY=${ZEROPROXY:-$BUILDDIR/zeroproxy}
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-$(command -v redis-benchmark || echo redis-benchmark)}
REDIS_CLI=${REDIS_CLI:-$(command -v redis-cli || echo redis-cli)}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}

die() {
	echo "redis.sh: $*" >&2
	exit 1
}
[ -x "$REDIS_SERVER" ] || die "redis-server not found (apt-get install redis-server)"
command -v "$REDIS_BENCHMARK" >/dev/null || die "redis-benchmark not found (apt-get install redis-tools)"
[ -x "$ZEROPROXY" ] || die "no zeroproxy binary at $ZEROPROXY"

TMP=$(mktemp -d /tmp/zp-bench-redis.XXXXXX) || die "mktemp failed"
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r P_REDIS P_REDIS_ZP P_ZP P_HAPROXY < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')

redis_args() { echo "--port $1 --bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir $TMP"; }
eval "\"$REDIS_SERVER\" $(redis_args "$P_REDIS")" >"$TMP/redis.log" 2>&1 &
PIDS+=($!)

mkdir -p "$TMP/zp/services.d"
cat >"$TMP/zp/zeroproxy.conf" <<-EOF2
	[zeroproxy]
	services_dir   = services.d
	control_socket = control.sock
	state_dir      = state
	log_level      = warning
EOF2
cat >"$TMP/zp/services.d/redis.conf" <<-EOF2
	[service]
	listen          = 127.0.0.1:$P_ZP
	idle_timeout    = infinity
	max_connections = 4096
	[backend]
	exec            = $REDIS_SERVER --port $P_REDIS_ZP --bind 127.0.0.1 --save "" --appendonly no --dir $TMP
	address         = 127.0.0.1:$P_REDIS_ZP
	ready           = connect
EOF2
"$ZEROPROXY" run -c "$TMP/zp/zeroproxy.conf" >"$TMP/zp/stdout" 2>"$TMP/zp/stderr" &
PIDS+=($!)
ZP_PID=$!

HA_PID=
if [ -x "$HAPROXY" ]; then
	cat >"$TMP/haproxy.cfg" <<-EOF2
		global
		    nbthread 1
		    maxconn 4096
		defaults
		    mode tcp
		    timeout connect 5s
		    timeout client 300s
		    timeout server 300s
		frontend fe
		    bind 127.0.0.1:$P_HAPROXY
		    default_backend be
		backend be
		    server redis 127.0.0.1:$P_REDIS
	EOF2
	"$HAPROXY" -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
	PIDS+=($!)
	HA_PID=$!
fi

for port in $P_REDIS $P_ZP ${HA_PID:+$P_HAPROXY}; do
	for ((i = 0; i < 200; i++)); do
		[ "$(timeout 2 "$REDIS_CLI" -p "$port" ping 2>/dev/null)" = PONG ] && break
		sleep 0.05
	done
done

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
run() { # NAME PORT PID
	local t0 t1 out
	[ -n "$3" ] && t0=$(ticks "$3")
	out=$(timeout 300 "$REDIS_BENCHMARK" -p "$2" -n "$N" -c "$C" -P "$P" -t set,get -q 2>/dev/null | tr '\r' '\n' | grep -E '^(SET|GET):' )
	[ -n "$3" ] && t1=$(ticks "$3")
	echo "$out" | awk -v name="$1" -v a="${t0:-0}" -v b="${t1:-0}" -v hz="$HZ" -v n="$N" -v pid="$3" '
		{ sub(":", "", $1); printf "%s %s %s %s\n", name, $1, $2, pid == "" ? "-" : (b - a) / hz * 1e6 / (2 * n) }'
}
RES=$TMP/res
{
	run direct "$P_REDIS" ""
	run zeroproxy "$P_ZP" "$ZP_PID"
	[ -n "$HA_PID" ] && run haproxy "$P_HAPROXY" "$HA_PID"
} >"$RES"
echo "redis.sh: redis-benchmark -n $N -c $C -P $P -t set,get, $(nproc) CPU(s), nothing pinned"
awk '{ k = $1 " " $2; rps[k] = $3; us[k] = $4; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
END {
	printf "%-10s %4s %12s %8s %10s\n", "case", "cmd", "req/s", "x-rps", "us/req"
	for (i = 1; i <= n; i++) for (c = 1; c <= 2; c++) {
		cmd = c == 1 ? "SET" : "GET"; k = order[i] " " cmd
		printf "%-10s %4s %12.0f %7.2fx %10s\n", order[i], cmd, rps[k], rps["direct " cmd] ? rps[k] / rps["direct " cmd] : 0, us[k] == "-" ? "-" : sprintf("%.2f", us[k])
	}
}' "$RES"
echo "us/req: the proxy's CPU microseconds per request, SET and GET together."
