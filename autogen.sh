#!/bin/sh
# Generate ./configure. As root on Debian, first install whatever the build
# and the tests lack (a fresh Debian 12 may not even have a compiler).
set -e
cd "$(dirname "$0")"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	need=
	for p in gcc make autoconf automake pkg-config libev-dev libsystemd-dev libinih-dev \
		python3 systemd mandoc prometheus procps strace curl util-linux; do
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
