# shellcheck shell=bash disable=SC2034 # DESCRIPTION etc. are read by scripts/bench
# pods: the pod commands with 1,000 exited pods present: list, status and
# rm of one pod, and gc of all of them.

DESCRIPTION="rkt list / status / rm with 1,000 exited pods; rkt gc of 1,000 exited pods"

# make_pods DIR N: N exited pods of busybox in data dir DIR.
make_pods() {
	local i
	for ((i = 0; i < $2; i++)); do
		"$RKT" --dir="$1" run example.com/busybox --exec /bin/true || return 1
	done
}

bench() {
	if ! rkt_bin rkt; then skip "rkt" "$REPLY"; return 0; fi
	RKT="$REPLY"
	if ! need_fixtures; then skip "rkt" "$FIXTURES_ERROR"; return 0; fi
	rkt_data_dir pods
	local d="$REPLY" uuidf="$BENCH_TMP/uuid"
	"$RKT" --dir="$d" fetch --insecure-options=image "$FIXTURES/busybox.aci" >/dev/null 2>>"$BENCH_LOG" || { skip "rkt" "fetch failed"; return 0; }
	make_pods "$d" 1000 >>"$BENCH_LOG" 2>&1 || { skip "rkt" "could not make 1,000 pods (see log)"; return 0; }
	"$RKT" --dir="$d" run --uuid-file-save="$uuidf" example.com/busybox --exec /bin/true
	row "rkt list (1,000 pods)" --rkt list -- "$RKT" --dir="$d" list
	row "rkt status UUID (1,000 pods)" --rkt status -- "$RKT" --dir="$d" status --uuid-file="$uuidf"
	row "rkt rm UUID (1,000 pods)" --rkt rm \
		--prepare "$RKT --dir=$d prepare --quiet --uuid-file-save=$uuidf example.com/busybox --exec /bin/true" -- \
		"$RKT" --dir="$d" rm --uuid-file="$uuidf"
	local RUNS="${PODS_GC_RUNS:-3}" WARMUP=0
	row "rkt gc --grace-period=0s (1,000 pods)" --rkt gc \
		--prepare "bash -c 'source $BENCH_D/pods.sh && RKT=$RKT make_pods $d 1000 >/dev/null 2>&1'" -- \
		"$RKT" --dir="$d" gc --grace-period=0s
}
