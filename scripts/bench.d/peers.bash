# shellcheck shell=bash disable=SC2034 # DESCRIPTION etc. are read by scripts/bench
# Helpers for the benchmarks in scripts/bench.d: how to run rkt and each peer
# on this kind of machine (see docs/benchmarks.md) and leave the host as
# found. scripts/bench sources this file, then NAME.sh, in the benchmark's
# own subshell; available from there: ROOT, BENCH_TMP (a scratch dir removed
# at the end), FIXTURES, need CMD PKG, need_fixtures, on_exit CMD...,
# remove_tree DIR, track_new_path [--rmdir] PATH, row, skip.
#
# Helpers that register cleanups (on_exit) return their result in REPLY:
# never call them inside $(...), where the registration would be lost.

BENCH_ID="rkt-bench-$BASHPID"

# ---------------------------------------------------------------- rkt
# rkt_bin NAME: REPLY = build/bin/NAME when it is built (by scripts/build);
# otherwise REPLY = the reason to skip the row, and non-zero.
rkt_bin() {
	REPLY="$ROOT/build/bin/$1"
	[ -x "$REPLY" ] && return 0
	REPLY="build/bin/$1 not built (scripts/build)"
	return 1
}

# rkt_data_dir TAG: REPLY = a fresh, empty rkt --dir under BENCH_TMP; at the
# end it is garbage-collected by rkt gc (when rkt is built; best effort)
# and removed with whatever is still mounted below it.
rkt_data_dir() {
	local d="$BENCH_TMP/rkt-dir.$1"
	mkdir -p "$d"
	on_exit remove_tree "$d"
	if [ -x "$ROOT/build/bin/rkt" ]; then
		on_exit timeout -k 5 120 "$ROOT/build/bin/rkt" --dir="$d" gc --grace-period=0s
	fi
	REPLY="$d"
}

# ---------------------------------------------------------------- cgroups
# cgroup_mounts [v2|systemd|all]: mount points of the cgroup hierarchies:
# cgroup2 (pure or the hybrid "unified" one), the name=systemd v1
# hierarchy, or all of them (default).
cgroup_mounts() {
	awk -v want="${1:-all}" '{
		for (i = 7; $i != "-"; i++) {}
		fs = $(i + 1); opts = $(i + 3); mp = $5
		if (fs == "cgroup2" && (want == "all" || want == "v2")) print mp
		else if (fs == "cgroup" && (want == "all" || (want == "systemd" && opts ~ /(^|,)name=systemd(,|$)/))) print mp
	}' /proc/self/mountinfo
}

# cgroup_rmtree [--kill] DIR: remove a cgroup directory and the groups
# below it, deepest first, retrying for up to 5 s while a process that has
# just exited is still in there; with --kill (a group that only our own
# commands ran in), SIGKILL what is left in it first.
cgroup_rmtree() {
	local kill="" i pid
	if [ "$1" = --kill ]; then kill=1; shift; fi
	for ((i = 0; i < 50; i++)); do
		[ -d "$1" ] || return 0
		if [ -n "$kill" ]; then
			while IFS= read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done \
				< <(find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null)
		fi
		find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		[ -d "$1" ] || return 0
		sleep 0.1
	done
	return 1
}

# track_new_cgroup NAME: when a peer creates the top-level cgroup NAME in
# any hierarchy where it does not exist yet (podman: libpod_parent), remove
# it at the end.
track_new_cgroup() {
	local m
	while IFS= read -r m; do
		[ -e "$m/$1" ] || on_exit cgroup_rmtree "$m/$1"
	done < <(cgroup_mounts all)
}

# own_cgroup_parents: where in_own_cgroup makes its groups: the current
# cgroup in the cgroup2 and in the name=systemd hierarchy.
own_cgroup_parents() {
	local m rel
	while IFS= read -r m; do
		if [ "$(stat -f -c %T "$m")" = cgroup2fs ]; then
			rel="$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)"
		else
			rel="$(awk -F: '$2 == "name=systemd" { print $3 }' /proc/self/cgroup)"
		fi
		echo "$m${rel%/}"
	done < <(cgroup_mounts v2; cgroup_mounts systemd)
}

# in_own_cgroup CMD...: run CMD inside a new child of the current cgroup in
# the cgroup2 and name=systemd hierarchies, removed afterwards with all that
# CMD made below it. systemd-nspawn --keep-unit creates payload/ and
# supervisor/ groups under its own cgroup and leaves them behind.
in_own_cgroup() {
	local paths=() parent p rc=0
	while IFS= read -r parent; do
		p="$parent/$BENCH_ID.$ROW_INDEX"
		mkdir -p "$p" || return 125
		on_exit cgroup_rmtree --kill "$p"
		paths+=("$p")
	done < <(own_cgroup_parents)
	# shellcheck disable=SC2016 # for the inner shell
	bash -c 'n=$1; shift
		for ((i = 0; i < n; i++)); do
			echo $$ >"$1/cgroup.procs" || { echo "cannot enter cgroup $1" >&2; exit 125; }
			shift
		done
		exec "$@"' in_own_cgroup "${#paths[@]}" "${paths[@]}" "$@" || rc=$?
	for p in "${paths[@]}"; do cgroup_rmtree --kill "$p" || echo "bench: cgroup $p not removed" >&2; done
	return $rc
}

# stale_cleanup: what a benchmark killed with SIGKILL left: in_own_cgroup
# groups whose benchmark process is gone. scripts/bench calls it first.
stale_cleanup() {
	local parent d pid
	while IFS= read -r parent; do
		for d in "$parent"/rkt-bench-*.*; do
			[ -d "$d" ] || continue
			pid="${d##*/rkt-bench-}"
			pid="${pid%%.*}"
			case "$pid" in '' | *[!0-9]*) continue ;; esac
			kill -0 "$pid" 2>/dev/null || cgroup_rmtree --kill "$d" || true
		done
	done < <(own_cgroup_parents)
}

# hybrid_cgroup2_controllers: the controllers the cgroup2 mount of a hybrid
# layout owns (nothing on pure v1 or pure v2).
hybrid_cgroup2_controllers() {
	[ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] && return 0
	[ -f /sys/fs/cgroup/unified/cgroup.controllers ] || return 0
	cat /sys/fs/cgroup/unified/cgroup.controllers
}

# in_v1_controllers_ns CMD...: run CMD where crun 1.8 accepts a hybrid
# layout: in a private mount namespace in which every controller that
# cgroup2 owns (here: hugetlb) is mounted as a throw-away v1 hierarchy,
# which takes it away from cgroup2 for the namespace's lifetime only. Then
# waits until the host's cgroup2 has its controllers back (see
# cgroup2_restore). On pure v1 or v2, or with no controller on cgroup2, it
# just runs CMD.
in_v1_controllers_ns() {
	local ctrls rc=0
	ctrls="$(hybrid_cgroup2_controllers)"
	if [ -z "$ctrls" ]; then "$@"; return; fi
	on_exit cgroup2_restore "$ctrls" # also when interrupted
	# shellcheck disable=SC2086 # the controllers are a word list
	set -- "$BENCH_TMP/v1-controllers" "$(wc -w <<<"$ctrls")" $ctrls "$@"
	# shellcheck disable=SC2016 # for the inner shell
	unshare -m --propagation private -- bash -c 'd=$1 n=$2; shift 2
		for ((i = 0; i < n; i++)); do
			mkdir -p "$d/$1" && mount -t cgroup -o "$1" cgroup "$d/$1" ||
				{ echo "cannot mount the $1 controller as a cgroup v1 hierarchy" >&2; exit 125; }
			shift
		done
		exec "$@"' in_v1_controllers_ns "$@" || rc=$?
	if ! cgroup2_restore "$ctrls" && [ $rc -eq 0 ]; then rc=125; fi
	return $rc
}

# cgroup2_restore CONTROLLERS: wait (up to 20 s) until the hybrid cgroup2
# mount owns CONTROLLERS again; the kernel frees an unmounted v1 hierarchy
# asynchronously, and only once it has no child cgroup. If one is left
# (a runtime that did not remove its cgroup), mount the hierarchy again in
# a private namespace, remove its children and wait once more.
cgroup2_restore() {
	local want="$1" i c
	for ((i = 0; i < 200; i++)); do
		[ "$(hybrid_cgroup2_controllers)" = "$want" ] && return 0
		sleep 0.1
	done
	for c in $want; do
		grep -qw "$c" /sys/fs/cgroup/unified/cgroup.controllers && continue
		echo "bench: $c still bound to a v1 hierarchy, removing its child cgroups" >&2
		# shellcheck disable=SC2016 # for the inner shell
		unshare -m --propagation private -- bash -c 'd=$(mktemp -d) && mount -t cgroup -o "$1" cgroup "$d" &&
			find "$d" -mindepth 1 -depth -type d -exec rmdir {} \; ; umount "$d"; rmdir "$d"' cgroup2_restore "$c" || true
	done
	for ((i = 0; i < 200; i++)); do
		[ "$(hybrid_cgroup2_controllers)" = "$want" ] && return 0
		sleep 0.1
	done
	echo "bench: cgroup2 controllers are '$(hybrid_cgroup2_controllers)', were '$want'" >&2
	return 1
}

# ---------------------------------------------------------------- OCI runtimes
# oci_bundle DIR ROOTFS ARG...: an OCI runtime bundle in DIR: a copy of
# ROOTFS and the config.json of `runc spec` (or `crun spec`) with
# root.path "rootfs", terminal false and process.args ARG...; the
# namespaces and mounts stay as generated.
oci_bundle() {
	local dir="$1" rootfs="$2" gen
	shift 2
	if command -v runc >/dev/null 2>&1; then gen=runc; elif command -v crun >/dev/null 2>&1; then gen=crun; else
		echo "neither runc nor crun for 'spec'" >&2
		return 1
	fi
	mkdir -p "$dir" && cp -a "$rootfs" "$dir/rootfs" || return 1
	(cd "$dir" && rm -f config.json && "$gen" spec) || return 1
	jq '.root.path = "rootfs" | .process.terminal = false | .process.args = $ARGS.positional' \
		--args "$@" <"$dir/config.json" >"$dir/config.json.new" && mv "$dir/config.json.new" "$dir/config.json"
}

# oci_cleanup RUNTIME STATEDIR ID: delete container ID (if a run left it).
oci_cleanup() {
	"$1" --root "$2" delete --force "$3" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- systemd-nspawn
# nspawn_rootfs DIR ROOTFS: a copy of ROOTFS with the usr/ directory that
# systemd-nspawn insists on. Also arranges for /run/systemd/nspawn (its
# lock and propagation dirs) to go again if nspawn creates it.
nspawn_rootfs() {
	mkdir -p "$(dirname "$1")" && cp -a "$2" "$1" && mkdir -p "$1/usr" || return 1
	track_new_path /run/systemd/nspawn
}

# ---------------------------------------------------------------- podman
PODMAN_ENV=()
PODMAN_IMAGE="docker.io/library/busybox:latest"
PODMAN_RUNTIME=""
# podman_setup: podman with its own storage under build/bench/podman-storage,
# its own containers.conf (the ulimits root may set here, cgroupfs, no
# event log, runc because crun 1.8 refuses hybrid cgroups, network config
# dir in the storage) and the busybox fixture image loaded from the
# docker-archive. Sets PODMAN_ENV (for row --env) and PODMAN_RUNTIME; on
# failure REPLY = the reason. Everything goes at the end: containers,
# images, storage (mounts too), podman's cgroups and what it creates on
# the host outside its storage.
podman_setup() {
	local s="$ROOT/build/bench/podman-storage"
	need podman podman || { REPLY="podman not installable (apt podman)"; return 1; }
	if command -v runc >/dev/null 2>&1; then PODMAN_RUNTIME=runc
	elif need runc runc; then PODMAN_RUNTIME=runc
	else REPLY="podman needs runc here (crun 1.8 refuses hybrid cgroups)"; return 1; fi
	remove_tree "$s"
	mkdir -p "$s/net" "$s/tmp" "$s/volumes"
	cat >"$s/containers.conf" <<EOF
# written by scripts/bench: podman for benchmarks, leaving the host clean
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
runtime = "$PODMAN_RUNTIME"
tmp_dir = "$s/tmp"
volume_path = "$s/volumes"

[network]
network_config_dir = "$s/net"
EOF
	cat >"$s/storage.conf" <<EOF
# written by scripts/bench
[storage]
driver = "overlay"
graphroot = "$s/graphroot"
runroot = "$s/runroot"
EOF
	PODMAN_ENV=("CONTAINERS_CONF=$s/containers.conf" "CONTAINERS_STORAGE_CONF=$s/storage.conf")
	# registered first, so run last
	on_exit remove_tree "$s"
	track_new_cgroup libpod_parent
	track_new_path --rmdir /run/runc
	track_new_path /var/lib/containers
	track_new_path /run/containers
	track_new_path /run/libpod
	on_exit podman_teardown
	if ! env "${PODMAN_ENV[@]}" podman load -q -i "$FIXTURES/busybox-docker-archive.tar" >>"$BENCH_LOG" 2>&1; then
		REPLY="podman load of the docker-archive fixture failed (see build/bench/$BENCH_NAME.log)"
		return 1
	fi
}
podman_teardown() {
	env "${PODMAN_ENV[@]}" timeout -k 5 60 podman rm --all --force || true
	env "${PODMAN_ENV[@]}" timeout -k 5 60 podman rmi --all --force || true
}
