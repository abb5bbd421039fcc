# shellcheck shell=bash disable=SC2034 # DESCRIPTION etc. are read by scripts/bench
# dispatch: what the rkt dispatcher costs. `rkt config` finds and execs
# rkt-config; the difference between the last two rows is the dispatcher.

DESCRIPTION="cost of the rkt dispatcher: /bin/true vs rkt-config run directly vs rkt config (dispatch + exec)"

bench() {
	row "/bin/true (process floor)" -- /bin/true

	local dir=""
	if [ -x "$ROOT/build/bin/rkt-config" ] || [ -x "$ROOT/build/bin/rkt" ]; then
		rkt_data_dir dispatch
		dir="$REPLY"
	fi
	if rkt_bin rkt-config; then
		row "rkt-config (direct)" --rkt config -- "$REPLY" --dir="$dir"
	else
		skip "rkt-config (direct)" "$REPLY"
	fi
	if rkt_bin rkt; then
		row "rkt config (dispatcher)" --rkt config -- "$REPLY" --dir="$dir" config
	else
		skip "rkt config (dispatcher)" "$REPLY"
	fi
}
