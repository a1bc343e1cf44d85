#!/bin/sh
# tests/minbase/run.sh — prove the README's two commands on a minimal Debian 12.
#
# Run by hand, as root, from a clone (not part of `make check`: it downloads a
# Debian root and the build dependencies, and takes several minutes):
#
#     sh tests/minbase/run.sh [--ci]
#
# It makes a fresh `debootstrap --variant=minbase bookworm` root (what many
# cloud and container images are: no compiler, no libc6-dev, no python3), puts
# a clean clone of this repository's HEAD (commits only, not the work tree) in
# /root/zeroproxy inside (/root is mode 0700 there, as everywhere), and runs in
# a chroot, as a new user would:
#
#  1. ./autogen.sh && ./configure && make && make demo
#     `make demo` runs in the foreground: it is started in the background in a
#     private network namespace (so its fixed port 8080 meets nothing of this
#     machine), curl asks 127.0.0.1:8080 and the answer must come from a
#     backend (its pid= line), then the demo is stopped;
#  2. ./autogen.sh && ./configure --enable-werror && make -j2 check
#     in the same clone, and prints the test suite's counts;
#  3. with --ci only: `bash .ci/run` in the same clone (CI=true), which must
#     install what its other stages need (clang for the fuzz stage) on this
#     fresh root too; its last line is its count. Takes half an hour or more.
#
# The downloaded root is kept in $ZP_MINBASE_CACHE (default /var/tmp/zp-minbase)
# as pristine/, together with apt's downloaded .deb files (apt-archives/), so
# that a rerun needs no download; every run starts from a new copy of the
# pristine root (run/, removed at the next run). Mounts live in a private mount
# namespace and go with it; every process left in the root is killed at the end.
# ZP_MINBASE_MIRROR overrides the Debian mirror (default: deb.debian.org).
# Exit status: 0 when both commands succeeded, 1 when one failed, 77 when this
# machine cannot run it (not root), 99 when the root cannot be made.
set -eu

if [ "$(id -u)" != 0 ]; then
	echo "minbase: needs root (debootstrap, chroot, mounts)" >&2
	exit 77
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${ZP_MINBASE_CACHE:-/var/tmp/zp-minbase}
mirror=${ZP_MINBASE_MIRROR:-http://deb.debian.org/debian}
root=$cache/run
say() { echo "minbase: $*" >&2; }

# Mounts made from here on stay in a private mount namespace: they vanish with
# this script whatever happens to it.
if [ -z "${ZP_MINBASE_IN_NS:-}" ]; then
	ZP_MINBASE_IN_NS=1 exec unshare --mount --propagation private sh "$0" "$@"
fi

kill_inside() { # every process whose root is the chroot
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -KILL "${p#/proc/}" 2>/dev/null
	done
	return 0
}
trap kill_inside EXIT

# --- the pristine root, downloaded once ------------------------------------------
if [ ! -e "$cache/pristine/.zp-complete" ]; then
	if ! command -v debootstrap >/dev/null 2>&1; then
		say "installing debootstrap"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
			{ say "cannot install debootstrap"; exit 99; }
	fi
	say "debootstrap --variant=minbase bookworm from $mirror (once; kept in $cache/pristine)"
	mkdir -p "$cache"
	rm -rf "$cache/pristine.tmp"
	if ! debootstrap --variant=minbase bookworm "$cache/pristine.tmp" "$mirror" \
		>"$cache/debootstrap.log" 2>&1; then
		tail -n 20 "$cache/debootstrap.log" >&2
		say "debootstrap failed (log: $cache/debootstrap.log)"
		exit 99
	fi
	touch "$cache/pristine.tmp/.zp-complete"
	rm -rf "$cache/pristine" && mv "$cache/pristine.tmp" "$cache/pristine"
fi

# --- a fresh copy with a clean clone in root's home ------------------------------
rm -rf "$root"
cp -a "$cache/pristine" "$root"
rm -f "$root/.zp-complete"
cp /etc/resolv.conf "$root/etc/resolv.conf"
head=$(git -C "$top" rev-parse HEAD)
git clone -q --no-hardlinks "$top" "$root/root/zeroproxy"
git -C "$root/root/zeroproxy" checkout -q --detach "$head"
say "clone of $head in /root/zeroproxy (/root mode $(stat -c %a "$root/root"))"

# The root is a mount point of its own, as / is on a real machine (unshare
# --mount, which the systemd box of t95 uses, cannot make a plain folder's
# propagation private).
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$root/run"
mkdir -p "$cache/apt-archives/partial"
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"

# A shell in the root with a new user's environment: nothing of ours leaks in.
inside() {
	chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/sh -c "cd /root/zeroproxy && $1"
}
status=0

# --- 1. the quick start --------------------------------------------------------------
say "1. ./autogen.sh && ./configure && make && make demo"
if inside './autogen.sh && ./configure && make' >"$cache/quickstart.log" 2>&1; then
	# In a network namespace of its own, with only loopback (brought up by
	# python3, which autogen.sh installed).
	if unshare --net chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c '
		cd /root/zeroproxy || exit 1
		python3 -c "
import fcntl, socket, struct
s = socket.socket()
fcntl.ioctl(s, 0x8914, struct.pack(\"16sH22x\", b\"lo\", 0x1 | 0x8 | 0x40))  # SIOCSIFFLAGS: up
" || exit 1
		setsid make demo >demo.log 2>&1 &
		demo=$!
		ok=
		for i in $(seq 1 100); do
			if curl -fsS --max-time 5 http://127.0.0.1:8080/ >answer.txt 2>/dev/null; then
				ok=yes
				break
			fi
			sleep 0.2
		done
		env kill -TERM -- -$demo  # procps kill: a process group (not dash'"'"'s builtin)
		wait $demo
		cat demo.log
		echo "--- answer:"
		cat answer.txt 2>/dev/null
		[ -n "$ok" ] && grep -q "^pid=[0-9]" answer.txt
	' >>"$cache/quickstart.log" 2>&1; then
		say "   quick start OK: the demo answered from backend $(grep '^pid=' "$root/root/zeroproxy/answer.txt")"
	else
		status=1
		tail -n 30 "$cache/quickstart.log" >&2
		say "   make demo: no answer from a backend on 127.0.0.1:8080 (log: $cache/quickstart.log)"
	fi
else
	status=1
	tail -n 30 "$cache/quickstart.log" >&2
	say "   the build failed (log: $cache/quickstart.log)"
fi

# --- 2. the test command ------------------------------------------------------------
say "2. ./autogen.sh && ./configure --enable-werror && make -j2 check"
if inside './autogen.sh && ./configure --enable-werror && make -j2 check' \
	>"$cache/check.log" 2>&1; then
	say "   make check OK"
else
	status=1
	grep -E '^(FAIL|ERROR|XPASS):' "$cache/check.log" >&2 || tail -n 30 "$cache/check.log" >&2
	say "   make check failed (log: $cache/check.log, test logs in $root/root/zeroproxy)"
fi
log=$root/root/zeroproxy/test-suite.log
if [ -f "$log" ]; then
	sed -n 's/^# \(TOTAL\|PASS\|SKIP\|XFAIL\|FAIL\|XPASS\|ERROR\): */\1 /p' "$log" |
		tr '\n' ' ' | sed 's/ $/\n/' >&2
	grep -E '^SKIP:' "$cache/check.log" >&2 || true
fi

# --- 3. CI, on request --------------------------------------------------------------
if [ "${1:-}" = --ci ]; then
	say "3. bash .ci/run"
	if inside 'CI=true bash .ci/run </dev/null' >"$cache/ci.log" 2>&1; then
		say "   .ci/run OK: $(tail -n 1 "$cache/ci.log")"
	else
		status=1
		grep -E '^(FAIL|ERROR|XPASS):' "$cache/ci.log" >&2 || tail -n 30 "$cache/ci.log" >&2
		say "   .ci/run failed: $(tail -n 1 "$cache/ci.log") (log: $cache/ci.log)"
	fi
fi
[ "$status" = 0 ] && say "all passed on a fresh minimal Debian 12" ||
	say "FAILED"
exit $status
