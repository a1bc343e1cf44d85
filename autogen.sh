#!/bin/sh
# Generate ./configure. As root on Debian, first install whatever the build lacks.
set -e
cd "$(dirname "$0")"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	need=
	for p in gcc make autoconf automake pkg-config libev-dev libsystemd-dev libinih-dev; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need="$need $p"
	done
	if [ -n "$need" ]; then
		echo "autogen.sh: installing$need" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
	fi
fi
mkdir -p m4
autoreconf -fi
