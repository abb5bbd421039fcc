# shellcheck shell=bash disable=SC2034 # DESCRIPTION etc. are read by scripts/bench
# list-images: `rkt image list` and a store look-up with 1,000 images.
. "$BENCH_D/images.bash"

DESCRIPTION="rkt image list with 1,000 images; fetch --pull-policy=new of a stored image"

bench() {
	row "/bin/true (process floor)" -- /bin/true
	if ! rkt_bin rkt; then skip "rkt" "$REPLY"; return 0; fi
	local rkt="$REPLY"
	if ! many_images_store 1000; then skip "rkt" "could not build the 1,000-image store"; return 0; fi
	local d="$REPLY/data"
	row "rkt image list (1,000 images)" --rkt image -- "$rkt" --dir="$d" image list
	row "rkt image list --format=json" --rkt image -- "$rkt" --dir="$d" image list --format=json
	row "rkt fetch --pull-policy=new NAME" --rkt fetch -- "$rkt" --dir="$d" fetch --pull-policy=new example.com/img500
	local id
	id="$("$rkt" --dir="$d" fetch --pull-policy=never example.com/img500)"
	row "rkt fetch --pull-policy=new ID" --rkt fetch -- "$rkt" --dir="$d" fetch --pull-policy=new "$id"
}
