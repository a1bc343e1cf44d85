#!/bin/bash
# proxy.sh — relay throughput benchmark: requests/s and p99 latency with wrk
# against an nginx serving a small static file, on loopback, measured in the
# same run: direct (the baseline), through zeroproxy, through zeroproxy with
# relay = no (zeroproxy-handoff: nginx accepts on the socket zeroproxy hands
# it, inherited through nginx's own NGINX variable), through zeroproxy with
# protocol = http (zeroproxy-http: the same nginx setup, every request
# parsed and counted), through haproxy (mode tcp, one thread; once more with
# `option splice-auto`, once with splicing forced; and haproxy-http: mode
# http, one thread, option http-keep-alive) and through systemd-socket-proxyd
# (under systemd-socket-activate);
# each with keep-alive and with one connection per request (Connection:
# close). Prints a table with ratios to direct, and for bodies of 64 KiB or
# more the throughput and the proxy's own CPU per GiB relayed
# (tests/bench/bulk.sh runs those).
#
# Run by hand, never by `make check`:
#   tests/bench/proxy.sh [BUILDDIR]       (BUILDDIR holds ./zeroproxy; default .)
# Environment:
#   BENCH_DURATION   seconds per case (default 10)
#   BENCH_THREADS    wrk threads (default 2)
#   BENCH_CONNS      wrk connections (default 50)
#   BENCH_REPEAT     rounds over all cases; the table shows the median (default 1)
#   BENCH_CASES      cases to run, space separated, from: direct zeroproxy
#                    zeroproxy-handoff zeroproxy-http haproxy haproxy-splice
#                    (splice-auto) haproxy-spliceall (splice-request and
#                    splice-response) haproxy-http socket-proxyd (default
#                    all; direct is always run)
#   BENCH_MODES      "keepalive close" (default both)
#   BENCH_SIZE       bytes of the static file (default 128)
#   BENCH_IDLE       N > 0: afterwards, for each zeroproxy case that relays
#                    (zeroproxy, zeroproxy-http), hold N keep-alive
#                    connections open after one request each and print the
#                    proxy's RSS growth per idle connection (default 0)
#   BENCH_STRACE     1: afterwards, for each proxy and mode, a short extra wrk
#                    run (BENCH_STRACE_DURATION s, default 3) under `strace -c`
#                    on the proxy, printing its system calls per request
#   ZEROPROXY        the zeroproxy binary (default BUILDDIR/zeroproxy)
#   NGINX, HAPROXY, WRK, SOCKET_PROXYD, SOCKET_ACTIVATE  the other programs
#
# Everything binds 127.0.0.1 on free ports chosen at run time; every process
# started is stopped on exit. Nothing is pinned to a CPU: wrk, the proxy and
# nginx share the machine's cores, which the output says.
set -u

BUILDDIR=${1:-.}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-50}
REPEAT=${BENCH_REPEAT:-1}
CASES=${BENCH_CASES:-direct zeroproxy zeroproxy-handoff zeroproxy-http haproxy haproxy-splice haproxy-spliceall haproxy-http socket-proxyd}
MODES=${BENCH_MODES:-keepalive close}
SIZE=${BENCH_SIZE:-128}
ZEROPROXY=${ZEROPROXY:-$BUILDDIR/zeroproxy}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
WRK=${WRK:-$(command -v wrk || echo wrk)}
SOCKET_PROXYD=${SOCKET_PROXYD:-/lib/systemd/systemd-socket-proxyd}
SOCKET_ACTIVATE=${SOCKET_ACTIVATE:-$(command -v systemd-socket-activate || echo /usr/bin/systemd-socket-activate)}

die() {
	echo "proxy.sh: $*" >&2
	exit 1
}

[ -x "$WRK" ] || die "wrk not found (apt-get install wrk)"
[ -x "$NGINX" ] || die "nginx not found (apt-get install nginx-light)"
command -v python3 >/dev/null || die "python3 not found (used to pick free ports)"
command -v curl >/dev/null || die "curl not found"

TMP=$(mktemp -d /tmp/zp-bench-proxy.XXXXXX) || die "mktemp failed"
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

# N free TCP ports on 127.0.0.1, one per line.
free_ports() {
	python3 - "$1" <<-'EOF'
		import socket, sys
		socks = []
		for _ in range(int(sys.argv[1])):
		    s = socket.socket()
		    s.bind(("127.0.0.1", 0))
		    socks.append(s)
		for s in socks:
		    print(s.getsockname()[1])
	EOF
}

# Wait until URL answers 200 (at most ~10 s).
wait_http() {
	local url=$1 i
	for ((i = 0; i < 200; i++)); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")" = 200 ]; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# Total CPU time (user+system, clock ticks) of a process and its threads.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# Convert a wrk duration ("850.00us", "1.23ms", "1.02s", "2.00m") to ms.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else print "nan" }'
}

read -r P_NGINX P_NGINX_ZP P_ZP P_HAPROXY P_HAPROXY_SPLICE P_HAPROXY_SPLICEALL P_SPD P_ZPH \
	P_ZPHTTP P_NGINX_ZPHTTP P_HAPROXY_HTTP < <(free_ports 11 | tr '\n' ' ')

# --- nginx: one worker, a small static file, no logs, endless keep-alive.
mkdir -p "$TMP/www" "$TMP/nginx"
FILE=body.bin
head -c "$SIZE" /dev/urandom >"$TMP/www/$FILE"
chmod 644 "$TMP/www/$FILE"
nginx_conf() { # PORT NAME
	cat >"$TMP/nginx/$2.conf" <<-EOF
		daemon off;
		worker_processes 1;
		pid $TMP/nginx/$2.pid;
		error_log $TMP/nginx/$2.error.log warn;
		events { worker_connections 4096; }
		http {
		    access_log off;
		    client_body_temp_path $TMP/nginx/$2.body;
		    proxy_temp_path $TMP/nginx/$2.proxy;
		    fastcgi_temp_path $TMP/nginx/$2.fastcgi;
		    uwsgi_temp_path $TMP/nginx/$2.uwsgi;
		    scgi_temp_path $TMP/nginx/$2.scgi;
		    keepalive_requests 100000000;
		    keepalive_timeout 300s;
		    server {
		        listen 127.0.0.1:$1 backlog=4096;
		        root $TMP/www;
		        location / { }
		    }
		}
	EOF
}
nginx_conf "$P_NGINX" direct
nginx_conf "$P_NGINX_ZP" zp
nginx_conf "$P_ZPH" handoff
nginx_conf "$P_NGINX_ZPHTTP" zphttp

"$NGINX" -c "$TMP/nginx/direct.conf" -e "$TMP/nginx/direct.error.log" 2>"$TMP/nginx/direct.stderr" &
PIDS+=($!)
wait_http "http://127.0.0.1:$P_NGINX/$FILE" || {
	cat "$TMP/nginx/direct.stderr" "$TMP/nginx/direct.error.log" >&2 2>/dev/null
	die "nginx did not come up"
}

# --- the proxies, each started only if its case is asked for and available.
declare -A URL SKIP PROCPID
URL[direct]=http://127.0.0.1:$P_NGINX/$FILE
PROCPID[direct]=

want() {
	case " $CASES " in *" $1 "*) return 0 ;; esac
	return 1
}

# A zeroproxy.conf with its services.d in DIR.
zp_global() { # DIR
	mkdir -p "$1/services.d"
	cat >"$1/zeroproxy.conf" <<-EOF
		[zeroproxy]
		services_dir   = services.d
		control_socket = control.sock
		state_dir      = state
		log_level      = warning
	EOF
}

# zeroproxy relaying to its own nginx: CASE DIR PORT NGINX_PORT NGINX_NAME PROTOCOL.
start_zeroproxy() {
	local c=$1 dir=$2 port=$3 nport=$4 nname=$5 protocol=$6
	want "$c" || return 0
	if [ ! -x "$ZEROPROXY" ]; then
		SKIP[$c]="no zeroproxy binary at $ZEROPROXY (pass the build dir)"
		return 0
	fi
	zp_global "$dir"
	cat >"$dir/services.d/web.conf" <<-EOF
		[service]
		listen          = 127.0.0.1:$port
		protocol        = $protocol
		idle_timeout    = infinity
		max_connections = 4096
		[backend]
		exec            = $NGINX -c $TMP/nginx/$nname.conf -e $TMP/nginx/$nname.error.log
		address         = 127.0.0.1:$nport
		ready           = connect
		stop_timeout    = 5s
	EOF
	"$ZEROPROXY" run -c "$dir/zeroproxy.conf" 2>"$dir/stderr" &
	PIDS+=($!)
	PROCPID[$c]=$!
	URL[$c]=http://127.0.0.1:$port/$FILE
	# The first request is the cold start that launches nginx.
	wait_http "${URL[$c]}" || SKIP[$c]="zeroproxy ($protocol) did not answer ($(tail -n 3 "$dir/stderr" | tr '\n' ' '))"
}
start_zeroproxy zeroproxy "$TMP/zp" "$P_ZP" "$P_NGINX_ZP" zp tcp
start_zeroproxy zeroproxy-http "$TMP/zphttp" "$P_ZPHTTP" "$P_NGINX_ZPHTTP" zphttp http

# relay = no: nginx does not speak LISTEN_FDS, but inherits listening sockets
# named in its NGINX variable (fds separated by ':'), which is enough: fd 3 is
# the socket of its listen directive.
if want zeroproxy-handoff; then
	if [ ! -x "$ZEROPROXY" ]; then
		SKIP[zeroproxy-handoff]="no zeroproxy binary at $ZEROPROXY (pass the build dir)"
	else
		zp_global "$TMP/zph"
		cat >"$TMP/zph/services.d/web.conf" <<-EOF
			[service]
			listen          = 127.0.0.1:$P_ZPH
			relay           = no
			idle_timeout    = infinity
			[backend]
			exec            = $NGINX -c $TMP/nginx/handoff.conf -e $TMP/nginx/handoff.error.log
			environment     = NGINX=3:
			stop_timeout    = 5s
		EOF
		"$ZEROPROXY" run -c "$TMP/zph/zeroproxy.conf" 2>"$TMP/zph/stderr" &
		PIDS+=($!)
		PROCPID[zeroproxy-handoff]=$!
		URL[zeroproxy-handoff]=http://127.0.0.1:$P_ZPH/$FILE
		wait_http "${URL[zeroproxy-handoff]}" || SKIP[zeroproxy-handoff]="zeroproxy (relay = no) did not answer ($(tail -n 3 "$TMP/zph/stderr" | tr '\n' ' '))"
	fi
fi

# haproxy, one thread: CASE PORT MODE [OPTION...] (mode tcp or http;
# splice-auto: haproxy splices where it guesses a bulk stream; splice-request
# splice-response: always; http-keep-alive: keep client and server
# connections open between requests).
start_haproxy() {
	local c=$1 port=$2 mode=$3 opts="" o
	shift 3
	for o in "$@"; do opts+="option $o"$'\n'; done
	want "$c" || return 0
	if [ ! -x "$HAPROXY" ]; then
		SKIP[$c]="haproxy not found (apt-get install haproxy)"
		return 0
	fi
	cat >"$TMP/$c.cfg" <<-EOF
		global
		    nbthread 1
		    maxconn 4096
		defaults
		    mode $mode
		    timeout connect 5s
		    timeout client 300s
		    timeout server 300s
		$opts
		frontend fe
		    bind 127.0.0.1:$port
		    default_backend be
		backend be
		    server nginx 127.0.0.1:$P_NGINX
	EOF
	"$HAPROXY" -db -f "$TMP/$c.cfg" >"$TMP/$c.log" 2>&1 &
	PIDS+=($!)
	PROCPID[$c]=$!
	URL[$c]=http://127.0.0.1:$port/$FILE
	wait_http "${URL[$c]}" || SKIP[$c]="haproxy did not answer ($(tail -n 3 "$TMP/$c.log" | tr '\n' ' '))"
}
start_haproxy haproxy "$P_HAPROXY" tcp
start_haproxy haproxy-splice "$P_HAPROXY_SPLICE" tcp splice-auto
start_haproxy haproxy-spliceall "$P_HAPROXY_SPLICEALL" tcp splice-request splice-response
start_haproxy haproxy-http "$P_HAPROXY_HTTP" http http-keep-alive

if want socket-proxyd; then
	if [ ! -x "$SOCKET_PROXYD" ] || [ ! -x "$SOCKET_ACTIVATE" ]; then
		SKIP[socket-proxyd]="systemd-socket-proxyd or systemd-socket-activate not found"
	else
		# -c: the default of 256 connections is enough for 50, but leave room.
		"$SOCKET_ACTIVATE" -l "127.0.0.1:$P_SPD" \
			"$SOCKET_PROXYD" --connections-max=4096 "127.0.0.1:$P_NGINX" >"$TMP/spd.log" 2>&1 &
		PIDS+=($!)
		PROCPID[socket-proxyd]=$! # socket-activate execs the proxy in place
		URL[socket-proxyd]=http://127.0.0.1:$P_SPD/$FILE
		wait_http "${URL[socket-proxyd]}" || SKIP[socket-proxyd]="socket-proxyd did not answer ($(tail -n 3 "$TMP/spd.log" | tr '\n' ' '))"
	fi
fi

# --- run wrk. One result line per run: case mode rps p99ms errors cpu%.
RESULTS=$TMP/results
: >"$RESULTS"
HZ=$(getconf CLK_TCK)

run_case() { # CASE MODE ROUND
	local c=$1 mode=$2 out hdr=() pid t0 t1 rps p99 errs cpu reqs us gib
	[ "$mode" = close ] && hdr=(-H 'Connection: close')
	out=$TMP/wrk.$c.$mode.$3
	pid=${PROCPID[$c]}
	[ -n "$pid" ] && t0=$(cpu_ticks "$pid")
	"$WRK" -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --timeout 5s --latency "${hdr[@]}" \
		"${URL[$c]}" >"$out" 2>&1
	[ -n "$pid" ] && t1=$(cpu_ticks "$pid")
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
	errs=$(awk '/Socket errors:/ { gsub(/,/, ""); n = $4 + $6 + $8 + $10 }
		/Non-2xx/ { n += $NF } END { print n + 0 }' "$out")
	reqs=$(awk '/requests in/ { print $1 }' "$out")
	cpu=- us=- gib=-
	if [ -n "$pid" ] && [ "${reqs:-0}" -gt 0 ]; then
		cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v d="$DURATION" \
			'BEGIN { printf "%.0f", (b - a) / hz / d * 100 }')
		us=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$reqs" \
			'BEGIN { printf "%.2f", (b - a) / hz * 1e6 / n }')
		gib=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$reqs" -v sz="$SIZE" \
			'BEGIN { printf "%.3f", (b - a) / hz / (n * sz / 1073741824) }')
	fi
	[ -n "$rps" ] || {
		echo "proxy.sh: wrk failed for $c/$mode:" >&2
		sed 's/^/  | /' "$out" >&2
		rps=0 p99=nan
	}
	echo "$c $mode $rps $p99 $errs $cpu $us $gib" >>"$RESULTS"
}

ORDER=(direct)
for c in zeroproxy zeroproxy-handoff zeroproxy-http haproxy haproxy-splice haproxy-spliceall \
	haproxy-http socket-proxyd; do
	want "$c" || continue
	if [ -n "${SKIP[$c]:-}" ]; then
		echo "proxy.sh: skipping $c: ${SKIP[$c]}" >&2
		continue
	fi
	ORDER+=("$c")
done

NCPU=$(nproc)
echo "proxy.sh: wrk -t$THREADS -c$CONNS -d${DURATION}s, nginx (1 worker) serving $SIZE bytes, ${REPEAT} round(s)"
echo "proxy.sh: $NCPU CPU(s), nothing pinned: wrk, the proxy and nginx compete for the same cores"
for ((r = 1; r <= REPEAT; r++)); do
	for mode in $MODES; do
		for c in "${ORDER[@]}"; do
			printf '  round %d: %-17s %-9s ... ' "$r" "$c" "$mode"
			run_case "$c" "$mode" "$r"
			tail -n 1 "$RESULTS" | awk '{ printf "%.0f req/s, p99 %s ms\n", $3, $4 }'
		done
	done
done

# --- the table: the median over rounds, ratios against direct in the same mode.
echo
awk -v order="${ORDER[*]}" -v modes="$MODES" -v size="$SIZE" '
function median(list,    a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ k = $1 SUBSEP $2; rps[k] = rps[k] " " $3; p99[k] = p99[k] " " $4; err[k] += $5; cpu[k] = cpu[k] " " $6; us[k] = us[k] " " $7; gib[k] = gib[k] " " $8 }
END {
	bulk = size >= 65536
	printf "%-17s %-9s %10s %9s %8s %8s %7s %8s %6s", "case", "mode", "req/s", "p99(ms)", "x-rps", "x-p99", "proxy%", "us/req", "errors"
	if (bulk) printf " %8s %9s", "GB/s", "cpu-s/GiB"
	printf "\n"
	nc = split(order, cs, " "); nm = split(modes, ms, " ")
	for (m = 1; m <= nm; m++) {
		b = ms[m]
		base_r = median(rps["direct" SUBSEP b]); base_p = median(p99["direct" SUBSEP b])
		for (i = 1; i <= nc; i++) {
			k = cs[i] SUBSEP b
			if (!(k in rps)) continue
			r = median(rps[k]); p = median(p99[k])
			c = cs[i] == "direct" ? "-" : sprintf("%.0f", median(cpu[k]))
			u = cs[i] == "direct" ? "-" : sprintf("%.2f", median(us[k]))
			xr = base_r > 0 ? r / base_r : 0
			xp = base_p > 0 ? p / base_p : 0
			printf "%-17s %-9s %10.0f %9.2f %7.2fx %7.2fx %7s %8s %6d", cs[i], b, r, p, xr, xp, c, u, err[k]
			if (bulk) printf " %8.2f %9s", r * size / 1e9, cs[i] == "direct" ? "-" : sprintf("%.3f", median(gib[k]))
			printf "\n"
		}
	}
}' "$RESULTS"
echo
echo "x-rps: req/s relative to direct (higher is better); x-p99: p99 relative to direct (lower is better);"
echo "proxy%: CPU used by the proxy process during the case (100 = one core); us/req: the proxy's CPU"
echo "microseconds per request (less sensitive to other load than req/s); errors: wrk socket errors + non-2xx."
[ "$SIZE" -ge 65536 ] && echo "GB/s: body bytes per second (10^9); cpu-s/GiB: the proxy's CPU seconds per GiB of body relayed."

# --- optional: memory per idle keep-alive connection of each relaying
# zeroproxy: N connections, one request each, then held open while the RSS
# is read.
if [ "${BENCH_IDLE:-0}" -gt 0 ]; then
	echo
	echo "memory per idle keep-alive connection (${BENCH_IDLE} connections, one request each):"
	for c in zeroproxy zeroproxy-http; do
		case " ${ORDER[*]} " in *" $c "*) ;; *) continue ;; esac
		python3 - "${PROCPID[$c]}" "${URL[$c]}" "$BENCH_IDLE" "$c" <<-'EOF'
			import socket, sys, time, urllib.parse
			pid, url, n, case = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
			u = urllib.parse.urlsplit(url)
			def rss_kib():
			    with open(f"/proc/{pid}/status") as f:
			        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
			req = f"GET {u.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
			before = rss_kib()
			socks = []
			for _ in range(n):
			    s = socket.create_connection((u.hostname, u.port))
			    s.sendall(req)
			    got = b""
			    while b"\r\n\r\n" not in got:
			        got += s.recv(65536)
			    head, _, body = got.partition(b"\r\n\r\n")
			    length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n")
			                  if l.lower().startswith(b"content-length:"))
			    while len(body) < length:
			        body += s.recv(65536)
			    socks.append(s)
			time.sleep(0.5)
			after = rss_kib()
			print(f"  {case:17s} {(after - before) * 1024 / n / 1000:.1f} KB/connection "
			      f"(RSS {before} -> {after} KiB)")
			for s in socks:
			    s.close()
		EOF
	done
fi

# --- optional: system calls per request of each proxy (strace slows it down:
# the req/s of these runs mean nothing, only the per-request counts).
if [ "${BENCH_STRACE:-0}" = 1 ]; then
	command -v strace >/dev/null || die "BENCH_STRACE=1 needs strace"
	SD=${BENCH_STRACE_DURATION:-3}
	echo
	echo "system calls per request under strace -c -f (wrk -t$THREADS -c$CONNS -d${SD}s):"
	for mode in $MODES; do
		hdr=()
		[ "$mode" = close ] && hdr=(-H 'Connection: close')
		for c in "${ORDER[@]}"; do
			[ "$c" = direct ] && continue
			out=$TMP/strace.$c.$mode
			strace -c -f -o "$out" -p "${PROCPID[$c]}" 2>/dev/null &
			spid=$!
			sleep 0.5
			reqs=$("$WRK" -t "$THREADS" -c "$CONNS" -d "${SD}s" --timeout 5s "${hdr[@]}" "${URL[$c]}" 2>&1 |
				awk '/requests in/ { print $1 }')
			kill -INT "$spid" 2>/dev/null
			wait "$spid" 2>/dev/null
			printf '  %-17s %-9s %6s req  ' "$c" "$mode" "$reqs"
			awk -v n="$reqs" '
				/^-+/ { next }
				$NF == "total" { tot = $4 }
				$1 ~ /^[0-9.]+$/ && $NF != "total" { name[++k] = $NF; calls[k] = $4 }
				END {
					printf "%.1f calls/req:", tot / n
					for (i = 1; i <= k; i++) if (calls[i] / n >= 0.05) printf " %s %.2f", name[i], calls[i] / n
					print ""
				}' "$out"
		done
	done
fi
