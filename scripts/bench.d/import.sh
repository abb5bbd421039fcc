# shellcheck shell=bash disable=SC2034 # DESCRIPTION etc. are read by scripts/bench
# import: fetch an ACI file into an empty store (hash, decompress, verify,
# extract and render), against the floor `sha512sum IMG && tar -xzf IMG`.
# Each run starts from an empty directory (--prepare, not timed).
. "$BENCH_D/images.bash"

DESCRIPTION="import an ACI into an empty store vs sha512sum+tar -xzf: small busybox and a ~300 MB tree"

bench() {
	local d="$BENCH_TMP/import" small=""
	mkdir -p "$d"
	on_exit remove_tree "$d"
	if need_fixtures; then small="$FIXTURES/busybox.aci"; fi
	if [ -n "$small" ]; then
		row "floor small: sha512sum && tar -xzf" --prepare "rm -rf $d/x" -- \
			sh -c "mkdir -p $d/x && sha512sum $small >/dev/null && tar -xzf $small -C $d/x"
		if rkt_bin rkt; then
			row "rkt fetch small" --rkt fetch --prepare "rm -rf $d/store" -- \
				"$REPLY" --dir="$d/store" fetch --insecure-options=image "$small"
		else
			skip "rkt fetch small" "$REPLY"
		fi
	else
		skip "small" "$FIXTURES_ERROR"
	fi
	if ! large_aci; then
		skip "large" "$REPLY"
		return 0
	fi
	local large="$REPLY" RUNS="${IMPORT_LARGE_RUNS:-5}" WARMUP=1
	row "floor large: sha512sum && tar -xzf" --prepare "sh -c 'rm -rf $d/x && sync'" -- \
		sh -c "mkdir -p $d/x && sha512sum $large >/dev/null && tar -xzf $large -C $d/x"
	if rkt_bin rkt; then
		row "rkt fetch large" --rkt fetch --prepare "sh -c 'rm -rf $d/store && sync'" -- \
			"$REPLY" --dir="$d/store" fetch --insecure-options=image "$large"
	fi
}
