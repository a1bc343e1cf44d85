#!/bin/bash
# hosts.sh — host routing benchmark: keep-alive requests/s through zeroproxy
# (protocol = http) with 50 services on one listen address, routed by Host,
# against the same run with one service, in the same run, on loopback. The
# backend is one nginx serving a small static file for every service (each
# service's exec is a `sleep` that stands for it; ready = connect finds
# nginx listening), so the two cases differ only in the route table. wrk
# asks for the Host of the last service (the far end of the table). Besides
# req/s (noisy on a shared machine) it prints zeroproxy's own CPU time per
# request, which the route lookup adds to.
#
# Run by hand, never by `make check`:
#   tests/bench/hosts.sh [BUILDDIR]       (BUILDDIR holds ./zeroproxy; default .)
# Environment:
#   BENCH_DURATION   seconds per run (default 10)
#   BENCH_THREADS    wrk threads (default 2)
#   BENCH_CONNS      wrk connections (default 50)
#   BENCH_REPEAT     rounds, alternating the two cases; the median is shown (default 3)
#   BENCH_SERVICES   services on the address in the routed case (default 50)
#   ZEROPROXY, NGINX, WRK  the programs
#
# Everything binds 127.0.0.1 on free ports chosen at run time; every process
# started is stopped on exit.
set -u

BUILDDIR=${1:-.}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-50}
REPEAT=${BENCH_REPEAT:-3}
NSVC=${BENCH_SERVICES:-50}
ZEROPROXY=${ZEROPROXY:-$BUILDDIR/zeroproxy}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
WRK=${WRK:-$(command -v wrk || echo wrk)}

die() {
	echo "hosts.sh: $*" >&2
	exit 1
}

[ -x "$WRK" ] || die "wrk not found (apt-get install wrk)"
[ -x "$NGINX" ] || die "nginx not found (apt-get install nginx-light)"
[ -x "$ZEROPROXY" ] || die "no zeroproxy binary at $ZEROPROXY (pass the build dir)"
command -v python3 >/dev/null || die "python3 not found (used to pick free ports)"
command -v curl >/dev/null || die "curl not found"

TMP=$(mktemp -d /tmp/zp-bench-hosts.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP" # nginx workers may run as another user
PIDS=()

cleanup() {
	local p i
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for ((i = 0; i < 100; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r P_NGINX P_ONE P_MANY < <(python3 - <<-'EOF'
	import socket
	socks = [socket.socket() for _ in range(3)]
	for s in socks:
	    s.bind(("127.0.0.1", 0))
	print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)

# Wait until URL answers 200 with Host HOST (at most ~10 s).
wait_http() { # URL HOST
	local i
	for ((i = 0; i < 200; i++)); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $2" --max-time 2 "$1")" = 200 ]; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

mkdir -p "$TMP/www" "$TMP/nginx"
head -c 128 /dev/urandom >"$TMP/www/body.bin"
chmod 644 "$TMP/www/body.bin"
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$P_NGINX backlog=4096;
        root $TMP/www;
        location / { }
    }
}
EOF
"$NGINX" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" 2>"$TMP/nginx/stderr" &
PIDS+=($!)
wait_http "http://127.0.0.1:$P_NGINX/body.bin" x || die "nginx did not come up"

LAST=$(printf 'svc%02d.bench' $((NSVC - 1)))

declare -A ZPPID

# A zeroproxy with services FIRST..NSVC-1 (svcNN.bench) on PORT: DIR PORT FIRST.
start_zp() {
	local dir=$1 port=$2 first=$3 i
	mkdir -p "$dir/services.d"
	cat >"$dir/zeroproxy.conf" <<-EOF
		[zeroproxy]
		services_dir   = services.d
		control_socket = control.sock
		state_dir      = state
		log_level      = warning
	EOF
	for ((i = first; i < NSVC; i++)); do
		cat >"$dir/services.d/$(printf 'svc%02d' "$i").conf" <<-EOF
			[service]
			listen          = 127.0.0.1:$port
			protocol        = http
			idle_timeout    = infinity
			max_connections = 4096
			[backend]
			exec            = /bin/sleep infinity
			address         = 127.0.0.1:$P_NGINX
			ready           = connect
			[http]
			host            = $(printf 'svc%02d.bench' "$i")
			host            = $(printf 'alias%02d.bench' "$i")
		EOF
	done
	"$ZEROPROXY" run -c "$dir/zeroproxy.conf" 2>"$dir/stderr" &
	PIDS+=($!)
	ZPPID[$port]=$!
	wait_http "http://127.0.0.1:$port/body.bin" "$LAST" ||
		die "zeroproxy did not answer ($(tail -n 3 "$dir/stderr" | tr '\n' ' '))"
}
start_zp "$TMP/one" "$P_ONE" $((NSVC - 1))
start_zp "$TMP/many" "$P_MANY" 0

# Total CPU time (user+system, clock ticks) of a process.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

run_wrk() { # PORT -> "req/s cpu-us-per-request"
	local c0 c1 out
	c0=$(cpu_ticks "${ZPPID[$1]}")
	out=$("$WRK" -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -H "Host: $LAST" \
		"http://127.0.0.1:$1/body.bin")
	c1=$(cpu_ticks "${ZPPID[$1]}")
	awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v d="$DURATION" '
		/^Requests\/sec:/ { rps = $2 }
		END { printf "%s %.2f\n", rps, (rps > 0 ? c / hz * 1e6 / (rps * d) : 0) }' <<<"$out"
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ONE=()
MANY=()
ONE_CPU=()
MANY_CPU=()
for ((r = 1; r <= REPEAT; r++)); do
	read -r rps cpu < <(run_wrk "$P_ONE")
	ONE+=("$rps")
	ONE_CPU+=("$cpu")
	read -r rps cpu < <(run_wrk "$P_MANY")
	MANY+=("$rps")
	MANY_CPU+=("$cpu")
	echo "round $r: 1 service ${ONE[-1]} req/s (${ONE_CPU[-1]} us CPU/req)," \
		"$NSVC services ${MANY[-1]} req/s (${MANY_CPU[-1]} us CPU/req)" >&2
done
M1=$(printf '%s\n' "${ONE[@]}" | median)
MN=$(printf '%s\n' "${MANY[@]}" | median)
C1=$(printf '%s\n' "${ONE_CPU[@]}" | median)
CN=$(printf '%s\n' "${MANY_CPU[@]}" | median)
echo "keep-alive, $CONNS connections, ${DURATION}s x $REPEAT, $(nproc) CPUs shared by wrk, zeroproxy and nginx"
printf '%-28s %12s %16s\n' "case" "req/s" "zeroproxy us/req"
printf '%-28s %12.0f %16.2f\n' "1 service (host $LAST)" "$M1" "$C1"
printf '%-28s %12.0f %16.2f\n' "$NSVC services, one address" "$MN" "$CN"
awk -v a="$MN" -v b="$M1" -v x="$CN" -v y="$C1" 'BEGIN {
	printf "ratio %d/1: %.3f req/s, %.3f CPU per request\n", '"$NSVC"', a / b, x / y }'
