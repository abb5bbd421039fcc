# shellcheck shell=bash disable=SC2034 # DESCRIPTION etc. are read by scripts/bench
# ondisk: the check of a rendered tree before use. `rkt fetch` as root
# returns a stored image only after checking its tree (the ondisk check);
# --insecure-options=ondisk skips it, so the difference is its cost.
. "$BENCH_D/images.bash"

DESCRIPTION="ondisk check of the ~300 MB rendered tree: fetch of a stored image with and without the check"

bench() {
	if ! rkt_bin rkt; then skip "rkt" "$REPLY"; return 0; fi
	local rkt="$REPLY"
	if ! large_aci; then skip "large" "$REPLY"; return 0; fi
	local large="$REPLY" d="$BENCH_TMP/ondisk"
	mkdir -p "$d"
	on_exit remove_tree "$d"
	local id
	id="$("$rkt" --dir="$d" fetch --insecure-options=image "$large")" || { skip "rkt" "import failed"; return 0; }
	row "fetch stored, ondisk check" --rkt fetch -- "$rkt" --dir="$d" fetch --pull-policy=never "$id"
	row "fetch stored, no check" --rkt fetch -- "$rkt" --dir="$d" --insecure-options=ondisk fetch --pull-policy=never "$id"
}
