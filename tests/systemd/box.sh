#!/bin/bash
# box.sh — boot a real systemd in a throw-away box for tests, on a machine whose
# PID 1 is not systemd (see SYSTEMD-BOX.md in the project notes).
#
# The box is systemd as PID 1 of new mount, pid, network, uts and ipc
# namespaces, chrooted into an overlay whose lower layer is the host's root
# filesystem and whose upper layer is a tmpfs: every write inside (make install,
# systemctl enable, the journal) lands in memory and vanishes with the box; the
# network namespace has only loopback. Only box.target and what basic.target
# pulls in is started, never the host's multi-user.target services.
#
#   box.sh check                  exit 0 if a box can be booted here, else print
#                                 why on stderr and exit 77 (a test's skip)
#   box.sh start STATE            boot a box; STATE is an empty directory of the
#                                 caller's (e.g. mktemp -d) holding its pids/log
#   box.sh run STATE CMD [ARG...] run CMD inside the box (as root, cwd /, a clean
#                                 environment); exits with CMD's status
#   box.sh pid STATE              print the box's systemd pid (host view)
#   box.sh stop STATE             kill the box: the kernel ends every process in
#                                 its pid namespace, its mounts go with its mount
#                                 namespace; then STATE is removed
#
# Never boot systemd any other way: without the overlay and the namespaces it
# would empty the host's /tmp and start every installed service on the host.
#
# Beyond the recipe, three more things keep the host untouched (each was seen
# to leak without it): systemd remounts /sys/fs/cgroup read-only and creates
# directories in it, so the box gets a tmpfs of its own there; it creates
# /dev/log, /dev/initctl, /dev/mqueue, /dev/hugepages, so /dev is an overlay of
# the host's; and it creates cgroups for its units, so the box runs in a cgroup
# namespace rooted at a cgroup of its own in each hierarchy (below the caller's,
# so the caller's limits still apply), removed again by `stop`.
set -u

BOX_SYSTEMD=/lib/systemd/systemd
BOX_BOOT_TIMEOUT=${BOX_BOOT_TIMEOUT:-30}
BOX_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

box_die() {
	echo "box.sh: $*" >&2
	exit 1
}

# Print why a box cannot be booted here and return 1, or return 0.
box_check() {
	local c
	if [ "$(id -u)" != 0 ]; then
		echo "box.sh: needs root (namespaces, mounts)" >&2
		return 1
	fi
	if ! grep -qw overlay /proc/filesystems 2>/dev/null; then
		echo "box.sh: no overlayfs in /proc/filesystems" >&2
		return 1
	fi
	if [ ! -x "$BOX_SYSTEMD" ]; then
		echo "box.sh: no $BOX_SYSTEMD" >&2
		return 1
	fi
	for c in unshare nsenter setsid chroot mount pgrep; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "box.sh: missing command $c" >&2
			return 1
		fi
	done
	return 0
}

# One line per cgroup hierarchy mounted under /sys/fs/cgroup:
# "MOUNTPOINT FSTYPE OPTIONS PATH" with the super options to mount it again and
# this process's cgroup in it.
box_hierarchies() {
	local mp fs opts id ctrls path o want
	while read -r mp fs opts; do
		want=
		if [ "$fs" = cgroup ]; then
			for o in ${opts//,/ }; do
				case $o in
				rw | ro | xattr | noprefix | clone_children | cpuset_v2_mode | release_agent=*) ;;
				*) want=${want:+$want,}$o ;;
				esac
			done
		fi
		while IFS=: read -r id ctrls path; do
			if { [ "$fs" = cgroup2 ] && [ -z "$ctrls" ]; } ||
				{ [ "$fs" = cgroup ] && [ "$ctrls" = "$want" ]; }; then
				echo "$mp $fs $opts $path"
				break
			fi
		done </proc/self/cgroup
	done < <(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break;
		if ($(i+1) ~ /^cgroup2?$/ && $5 ~ "^/sys/fs/cgroup/") print $5, $(i+1), $(i+3) }' /proc/self/mountinfo)
}

# The box's PID 1 before it becomes systemd: runs as PID 1 of the fresh
# namespaces that `unshare` made. $1 is the (host-side, empty) mount point.
box_init() {
	local dir=$1
	set -e
	# Refuse to go on anywhere but as PID 1 of a new pid namespace: this is
	# what guarantees the mounts below are private to the box.
	[ "$$" = 1 ] || box_die "init: not PID 1 of a new pid namespace"
	[ -d "$dir" ] || box_die "init: no directory $dir"
	mount --make-rprivate /
	mount -t tmpfs -o size=2g tmpfs "$dir"
	mkdir "$dir/upper" "$dir/work" "$dir/root"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
	mount -t proc proc "$dir/root/proc"
	mount --rbind /sys "$dir/root/sys"
	# A tmpfs of the box's own on /sys/fs/cgroup (systemd remounts it
	# read-only and adds directories), holding fresh mounts of the host's
	# hierarchies: made in the box's cgroup namespace, they are rooted at
	# the box's own cgroups.
	mount -t tmpfs -o mode=0755,size=4m tmpfs "$dir/root/sys/fs/cgroup"
	local mp fs opts path
	while read -r mp fs opts path; do
		mkdir -p "$dir/root$mp"
		mount -t "$fs" -o "$opts" "$fs" "$dir/root$mp"
	done <"$dir/../hierarchies"
	# /dev: the host's device nodes under an overlay, so what systemd
	# creates there stays in the box; pts and shm bound as they are.
	mkdir "$dir/dev-upper" "$dir/dev-work"
	mount -t overlay overlay -o "lowerdir=/dev,upperdir=$dir/dev-upper,workdir=$dir/dev-work" "$dir/root/dev"
	for mp in /dev/pts /dev/shm; do
		if grep -q " $mp " /proc/self/mounts; then
			mount --rbind "$mp" "$dir/root$mp"
		fi
	done
	# Check the overlay really is there before systemd gets anywhere near it.
	grep -q " $dir/root overlay " /proc/self/mounts || box_die "init: overlay not mounted"
	# The box's /tmp is the host's, seen through the overlay: systemd-tmpfiles
	# would empty it at boot (Debian's tmp.conf: "D /tmp"), and a build or a
	# clone under /tmp would vanish from the box. Keep it ("d": create only).
	mkdir -p "$dir/root/etc/tmpfiles.d"
	echo 'd /tmp 1777 root root -' >"$dir/root/etc/tmpfiles.d/tmp.conf"
	mkdir -p "$dir/root/etc/systemd/system"
	cat >"$dir/root/etc/systemd/system/box.target" <<-'EOF'
		[Unit]
		Description=Test box (basic system only)
		Requires=basic.target
		After=basic.target
		AllowIsolate=yes
	EOF
	cd "$dir/root"
	exec chroot . /usr/bin/env -i container=other PATH="$BOX_PATH" \
		"$BOX_SYSTEMD" --unit=box.target --log-level=warning
}

box_pid() {
	local state=$1 pid
	[ -s "$state/systemd.pid" ] || return 1
	pid=$(cat "$state/systemd.pid")
	kill -0 "$pid" 2>/dev/null || return 1
	echo "$pid"
}

box_nsenter() {
	local pid=$1
	shift
	nsenter -t "$pid" -m -p -n -u -i -r -w \
		/usr/bin/env -i PATH="$BOX_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb \
		SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

box_start() {
	local state=$1 self upid pid i st t0
	[ -d "$state" ] || box_die "start: no directory $state"
	box_check || exit 77
	mkdir "$state/mnt" || box_die "start: cannot create $state/mnt"
	self=$(readlink -f "${BASH_SOURCE[0]}")
	t0=$(date +%s%N)
	# A cgroup of the box's own in every hierarchy, below ours.
	local name mp fs opts path cg
	name=zp-box-$$-$(basename "$state")
	box_hierarchies | while read -r mp fs opts path; do
		echo "$mp $fs $opts ${path%/}/$name"
	done >"$state/hierarchies"
	[ -s "$state/hierarchies" ] || box_die "start: no cgroup hierarchies under /sys/fs/cgroup"
	while read -r mp fs opts path; do
		cg=$mp$path
		mkdir "$cg" || box_die "start: cannot create cgroup $cg"
		echo "$cg" >>"$state/cgroups"
		if [ -e "$cg/cpuset.cpus" ] && [ -z "$(cat "$cg/cpuset.cpus")" ]; then
			cat "$(dirname "$cg")/cpuset.cpus" >"$cg/cpuset.cpus"
			cat "$(dirname "$cg")/cpuset.mems" >"$cg/cpuset.mems"
		fi
	done <"$state/hierarchies"
	(
		while read -r cg; do
			echo "$BASHPID" >"$cg/cgroup.procs" || exit 1
		done <"$state/cgroups"
		exec setsid unshare --mount --pid --fork --kill-child --net --uts --ipc --cgroup \
			bash "$self" __init "$state/mnt"
	) </dev/null >"$state/console.log" 2>&1 &
	upid=$!
	echo "$upid" >"$state/unshare.pid"
	# systemd is the child of the unshare process.
	pid=
	for ((i = 0; i < BOX_BOOT_TIMEOUT * 50; i++)); do
		kill -0 "$upid" 2>/dev/null || break
		pid=$(pgrep -P "$upid" | head -n1)
		# The init script execs systemd in place: wait for that exec.
		if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ]; then
			break
		fi
		pid=
		sleep 0.02
	done
	if [ -z "$pid" ]; then
		echo "box.sh: systemd did not come up; console:" >&2
		sed 's/^/  | /' "$state/console.log" >&2
		box_stop "$state"
		exit 1
	fi
	echo "$pid" >"$state/systemd.pid"
	st=
	for ((i = 0; i < BOX_BOOT_TIMEOUT * 20; i++)); do
		st=$(box_nsenter "$pid" systemctl is-system-running 2>/dev/null)
		case $st in
		running | degraded) break ;;
		esac
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	case $st in
	running | degraded) ;;
	*)
		echo "box.sh: systemd in the box is \"$st\" after ${BOX_BOOT_TIMEOUT}s; console:" >&2
		sed 's/^/  | /' "$state/console.log" >&2
		box_stop "$state"
		exit 1
		;;
	esac
	echo $((($(date +%s%N) - t0) / 1000000)) >"$state/boot.ms"
	if [ "$st" = degraded ]; then
		echo "box.sh: box is degraded:" >&2
		box_nsenter "$pid" systemctl --failed --no-legend >&2 || true
	fi
	return 0
}

box_stop() {
	local state=$1 upid pid i
	pid=$(cat "$state/systemd.pid" 2>/dev/null)
	upid=$(cat "$state/unshare.pid" 2>/dev/null)
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	if [ -n "$upid" ]; then
		# --kill-child: unshare ends once its child (the box's PID 1) is gone;
		# if systemd never came up, kill unshare and so its child.
		for ((i = 0; i < 500; i++)); do
			kill -0 "$upid" 2>/dev/null || break
			[ -z "$pid" ] && [ "$i" = 100 ] && kill -KILL "$upid" 2>/dev/null
			sleep 0.01
		done
		if kill -0 "$upid" 2>/dev/null; then
			echo "box.sh: unshare $upid still running" >&2
			return 1
		fi
	fi
	# Every process of the box is gone: remove its cgroups, deepest first
	# (an emptied cgroup may take a moment to become removable).
	local cg left=
	if [ -s "$state/cgroups" ]; then
		while read -r cg; do
			for ((i = 0; i < 100; i++)); do
				[ -d "$cg" ] || break
				find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
				[ -d "$cg" ] || break
				sleep 0.02
			done
			[ -d "$cg" ] && left="$left $cg"
		done <"$state/cgroups"
	fi
	if [ -n "$left" ]; then
		echo "box.sh: cgroups left behind:$left" >&2
		return 1
	fi
	rmdir "$state/mnt" 2>/dev/null
	rm -f "$state/systemd.pid" "$state/unshare.pid" "$state/console.log" "$state/boot.ms" \
		"$state/hierarchies" "$state/cgroups"
	rmdir "$state" 2>/dev/null
	return 0
}

case ${1:-} in
check)
	box_check || exit 77
	;;
start)
	[ $# = 2 ] || box_die "usage: box.sh start STATE"
	box_start "$2"
	;;
run)
	[ $# -ge 3 ] || box_die "usage: box.sh run STATE CMD [ARG...]"
	pid=$(box_pid "$2") || box_die "run: no box running in $2"
	shift 2
	box_nsenter "$pid" "$@"
	;;
pid)
	[ $# = 2 ] || box_die "usage: box.sh pid STATE"
	box_pid "$2" || box_die "pid: no box running in $2"
	;;
stop)
	[ $# = 2 ] || box_die "usage: box.sh stop STATE"
	box_stop "$2"
	;;
__init)
	[ $# = 2 ] || box_die "usage: box.sh __init DIR"
	box_init "$2"
	;;
*)
	sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed -e '/^set -u/d' -e 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
