#!/bin/sh
# Generate ./configure. As root on Debian, first install whatever the build
# and the tests lack (a fresh Debian 12 may not even have a compiler).
#
# Every package is named, and installed without its Recommends: a minimal
# Debian (debootstrap --variant=minbase, most container and cloud images) has
# none of them, and gcc without its recommended libc6-dev cannot link a
# program. tests/minbase/run.sh proves the list on such a root.
set -e
cd "$(dirname "$0")"
# The build: compiler, C library headers, linker, autotools, libraries.
zp_build="gcc libc6-dev linux-libc-dev binutils make autoconf automake m4 pkg-config
	libev-dev libsystemd-dev libinih-dev libhttp-parser-dev"
# The tests and `make demo`: python3 (the harness), curl, ps/pgrep (procps),
# setpriv/prlimit/unshare/nsenter (util-linux), mount, systemd
# (systemd-analyze, systemd-socket-activate, the systemd box), man-db and
# mandoc (the man pages), prometheus (promtool, and the server the
# monitoring tests scrape zeroproxy with), python3-yaml (they read the rules
# files), strace, clang-format, and
# the real servers the readiness and stop tests run behind zeroproxy:
# PostgreSQL with psql and pg_isready (t82), gunicorn (t83), lighttpd as a
# socket-activated hand-off backend (t137).
zp_test="python3 python3-yaml curl procps util-linux mount systemd man-db mandoc prometheus strace
	clang-format postgresql postgresql-client gunicorn lighttpd"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	need=
	for p in $zp_build $zp_test; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need="$need $p"
	done
	if [ -n "$need" ]; then
		echo "autogen.sh: installing$need" >&2
		apt-get update -qq
		# Packages like prometheus (for promtool) ship a daemon: keep its
		# maintainer scripts from starting it, unless a policy already exists.
		policy=
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod +x /usr/sbin/policy-rc.d
			policy=yes
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null ||
			{ [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
		[ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
	fi
fi
mkdir -p m4
autoreconf -fi
