# shellcheck shell=bash disable=SC2034 # DESCRIPTION etc. are read by scripts/bench
# start: start a container running /bin/true from the busybox rootfs.
# Each row is one whole start-run-exit-teardown of a container; the image
# is already in place (bundle, rootfs copy, loaded image, ACI on disk).

DESCRIPTION="start a container running /bin/true from the busybox rootfs: floors, crun, runc, systemd-nspawn, podman, rkt"

bench() {
	local labels=("floor: unshare+chroot" "crun run" "runc run" "systemd-nspawn" "podman run --network=none" "rkt run") l
	if ! need_fixtures; then
		for l in "${labels[@]}"; do skip "$l" "$FIXTURES_ERROR"; done
		return 0
	fi
	local rootfs="$FIXTURES/rootfs" bundle="$BENCH_TMP/bundle"

	# the floor: the namespaces a container gets, a chroot, nothing else
	row "${labels[0]}" -- unshare -fmpiun --mount-proc chroot "$rootfs" /bin/true
	# rkt's floor: its chain of processes (dispatcher, prepare,
	# run-prepared, stage1 run, supervisor) doing nothing but exec or fork
	# the next, the last one /bin/true: Go programs where rkt's are, an
	# exec before any runtime (tramp) where rkt's fast paths are
	if go build -trimpath -ldflags "-s -w" -o "$BENCH_TMP/execchain" "$ROOT/scripts/bench.d/execchain" >>"$BENCH_LOG" 2>&1 &&
		go build -trimpath -ldflags "-s -w -E main.entry" -o "$BENCH_TMP/tramp" "$ROOT/scripts/bench.d/execchain/tramp" >>"$BENCH_LOG" 2>&1; then
		row "floor: rkt's exec chain, empty" -- "$BENCH_TMP/tramp" "$BENCH_TMP/execchain" prepare /bin/true
	else
		skip "floor: rkt's exec chain, empty" "go build of scripts/bench.d/execchain failed (see log)"
	fi

	# OCI runtimes, one bundle (a copy of the rootfs, runc spec's config)
	local have_bundle=""
	if { command -v runc >/dev/null 2>&1 || command -v crun >/dev/null 2>&1 || need runc runc; } &&
		oci_bundle "$bundle" "$rootfs" /bin/true >>"$BENCH_LOG" 2>&1; then
		have_bundle=1
	fi
	if ! need crun crun; then
		skip "${labels[1]}" "crun not installable (apt crun)"
	elif [ -z "$have_bundle" ]; then
		skip "${labels[1]}" "no OCI bundle (runc/crun spec failed, see log)"
	else
		on_exit oci_cleanup crun "$BENCH_TMP/crun-state" "$BENCH_ID-crun"
		row "${labels[1]}" --in in_v1_controllers_ns -- \
			crun --root "$BENCH_TMP/crun-state" run --bundle "$bundle" "$BENCH_ID-crun"
	fi
	if ! need runc runc; then
		skip "${labels[2]}" "runc not installable (apt runc)"
	elif [ -z "$have_bundle" ]; then
		skip "${labels[2]}" "no OCI bundle (runc/crun spec failed, see log)"
	else
		on_exit oci_cleanup runc "$BENCH_TMP/runc-state" "$BENCH_ID-runc"
		row "${labels[2]}" -- runc --root "$BENCH_TMP/runc-state" run --bundle "$bundle" "$BENCH_ID-runc"
	fi

	# systemd-nspawn: no machined, no systemd as PID 1 here
	if ! need systemd-nspawn systemd-container; then
		skip "${labels[3]}" "systemd-nspawn not installable (apt systemd-container)"
	elif ! nspawn_rootfs "$BENCH_TMP/nspawn-rootfs" "$rootfs" >>"$BENCH_LOG" 2>&1; then
		skip "${labels[3]}" "could not copy the rootfs for nspawn"
	else
		row "${labels[3]}" --in in_own_cgroup -- \
			systemd-nspawn -q --register=no --keep-unit -M "$BENCH_ID" -D "$BENCH_TMP/nspawn-rootfs" /bin/true
	fi

	# podman, the image loaded from the docker-archive fixture
	if podman_setup; then
		local envs=() e
		for e in "${PODMAN_ENV[@]}"; do envs+=(--env "$e"); done
		row "${labels[4]}" "${envs[@]}" -- podman run --rm --network=none "$PODMAN_IMAGE" /bin/true
	else
		skip "${labels[4]}" "$REPLY"
	fi

	# rkt, the busybox image already in the store: the native stage1 (the
	# default) without and with its default CNI network, and the fly
	# stage1; each run leaves an exited pod, collected by rkt gc at the end.
	if rkt_bin rkt; then
		local rkt="$REPLY" d id
		rkt_data_dir run
		d="$REPLY"
		if id="$("$rkt" --dir="$d" fetch --insecure-options=image --full "$FIXTURES/busybox.aci" 2>>"$BENCH_LOG")"; then
			# The fetch's writeback (the rendered tree, the stage1 image)
			# must not run during the timed rows.
			sync
			row "rkt run native --net=none" --rkt run -- "$rkt" --dir="$d" run --net=none example.com/busybox --exec /bin/true
			row "rkt run native, 5 apps" --rkt run -- "$rkt" --dir="$d" run --net=none \
				example.com/busybox --name=a1 --exec /bin/true example.com/busybox --name=a2 --exec /bin/true \
				example.com/busybox --name=a3 --exec /bin/true example.com/busybox --name=a4 --exec /bin/true \
				example.com/busybox --name=a5 --exec /bin/true
			row "rkt run fly" --rkt run -- "$rkt" --dir="$d" run --stage1-from-dir=stage1-fly.aci example.com/busybox --exec /bin/true
			# Last: the kernel tears the pods' network namespaces down
			# in the background, which would slow the rows after it.
			row "rkt run native (default net)" --rkt run -- "$rkt" --dir="$d" run example.com/busybox --exec /bin/true
		else
			skip "${labels[5]}" "rkt fetch of the busybox ACI failed (see log)"
		fi
	else
		skip "${labels[5]}" "$REPLY"
	fi
}
