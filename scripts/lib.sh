# Shared helpers for the scripts in this directory; source it.
# shellcheck shell=bash

TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export TOP

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'rkt scripts: %s\n' "$*" >&2; exit 1; }

# apt_install PKG...: install the Debian packages that are missing, and
# nothing else; apt-get update only when something has to be installed.
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install Debian packages: ${missing[*]}"
	log "installing Debian packages: ${missing[*]}"
	local i
	for i in 1 2 3 4 5; do
		if apt-get -o DPkg::Lock::Timeout=120 update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${missing[@]}"; then
			return 0
		fi
		log "apt-get failed, retry $i/5 in 10s"
		sleep 10
	done
	die "could not install: ${missing[*]}"
}

# go_env: make sure the Go toolchain is on PATH.
go_env() {
	if ! command -v go >/dev/null 2>&1; then
		[ -x /usr/local/go/bin/go ] && PATH="/usr/local/go/bin:$PATH"
	fi
	command -v go >/dev/null 2>&1 || die "Go is not installed (expected /usr/local/go/bin/go)"
	export PATH CGO_ENABLED=0 GOFLAGS=-buildvcs=false
}

# rkt_version: the version stamped into the binaries.
rkt_version() {
	local v
	v=$(git -C "$TOP" describe --tags --always --dirty 2>/dev/null) || v=""
	case "$v" in
	v[0-9]*) echo "${v#v}" ;;
	"") echo "0.1.0+git" ;;
	*) echo "0.1.0+git.$v" ;;
	esac
}
