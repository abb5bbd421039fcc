# shellcheck shell=bash disable=SC2034 # DESCRIPTION etc. are read by scripts/bench
# docker-fetch: fetch a large (~300 MB, 5 layers) Docker image from a
# registry on 127.0.0.1 into an empty store: podman pull against rkt
# fetch; then rkt's --pull-policy=update re-fetch when nothing changed.
# The image is made once from /usr/local/go (cached in build/bench/images)
# and pushed with skopeo into a docker-registry started for the run.

DESCRIPTION="fetch a ~300 MB 5-layer image from a local registry into an empty store: podman pull vs rkt fetch, and rkt's update re-fetch"

# large_oci_layout: REPLY = an OCI layout of /usr/local/go in 5 gzip
# layers, made once.
large_oci_layout() {
	local dir="$ROOT/build/bench/images/docker-large" src=/usr/local/go
	REPLY="$dir"
	[ -f "$dir/index.json" ] && return 0
	[ -d "$src" ] || { REPLY="$src not found"; return 1; }
	local work="$dir.work"
	rm -rf "$work" "$dir"
	mkdir -p "$work/layout/blobs/sha256"
	local i=0 diff blob layers="" diffs="" spec
	# one layer per line: tar options and paths relative to /usr/local
	while read -r spec; do
		i=$((i + 1))
		# shellcheck disable=SC2086 # spec holds options and paths
		tar -C "$(dirname "$src")" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/l$i.tar" $spec
		diff="$(sha256sum "$work/l$i.tar" | cut -d' ' -f1)"
		gzip -n -1 -c "$work/l$i.tar" >"$work/l$i.tar.gz"
		blob="$(sha256sum "$work/l$i.tar.gz" | cut -d' ' -f1)"
		mv "$work/l$i.tar.gz" "$work/layout/blobs/sha256/$blob"
		rm -f "$work/l$i.tar"
		layers+="{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$blob\",\"size\":$(stat -c %s "$work/layout/blobs/sha256/$blob")},"
		diffs+="\"sha256:$diff\","
	done <<-'EOF'
	go/src/cmd
	--exclude=go/src/cmd go/src
	go/pkg
	go/test
	--exclude=go/src --exclude=go/pkg --exclude=go/test go
	EOF
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/go/bin/go","version"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "${diffs%,}" >"$work/config.json"
	local cfg
	cfg="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
	mv "$work/config.json" "$work/layout/blobs/sha256/$cfg"
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
		"$cfg" "$(stat -c %s "$work/layout/blobs/sha256/$cfg")" "${layers%,}" >"$work/manifest.json"
	local man
	man="$(sha256sum "$work/manifest.json" | cut -d' ' -f1)"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
		"$man" "$(stat -c %s "$work/manifest.json")" >"$work/layout/index.json"
	mv "$work/manifest.json" "$work/layout/blobs/sha256/$man"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
	mv "$work/layout" "$dir"
	rm -rf "$work"
}

# bench_registry LAYOUT: REGISTRY = host:port of a docker-registry on
# 127.0.0.1 (stopped at exit) holding LAYOUT as bench/large:latest.
bench_registry() {
	need docker-registry docker-registry || { REPLY="docker-registry not installable"; return 1; }
	need skopeo skopeo || { REPLY="skopeo not installable"; return 1; }
	local st="$BENCH_TMP/registry" port
	mkdir -p "$st/data"
	port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
	cat >"$st/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $st/data
http:
  addr: 127.0.0.1:$port
EOF
	docker-registry serve "$st/config.yml" >>"$BENCH_LOG" 2>&1 &
	local pid=$!
	on_exit kill "$pid"
	local i
	for i in $(seq 50); do
		curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
		sleep 0.1
	done
	REGISTRY="127.0.0.1:$port"
	if ! skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$1:latest" "docker://$REGISTRY/bench/large:latest" >>"$BENCH_LOG" 2>&1; then
		REPLY="skopeo copy into the registry failed (see log)"
		return 1
	fi
}

# Each timed run gets a never-used store directory: the previous one is
# moved aside (prepare, not timed) and all of them are removed at the end.
# Removing a store between runs instead would make the next run's file
# creations scan ext4's recently deleted inodes (find_inode_bit and
# recently_deleted were 70% of a profile), which measures the previous
# run's deletion, not the fetch.
bench() {
	local labels=("podman pull large" "rkt fetch large" "rkt fetch --pull-policy=update, unchanged")
	local l
	if ! large_oci_layout; then
		for l in "${labels[@]}"; do skip "$l" "$REPLY"; done
		return 0
	fi
	local layout="$REPLY"
	if ! bench_registry "$layout"; then
		for l in "${labels[@]}"; do skip "$l" "$REPLY"; done
		return 0
	fi
	local ref="$REGISTRY/bench/large:latest" RUNS="${DOCKER_FETCH_RUNS:-5}" WARMUP=1
	local aside="$BENCH_TMP/aside"
	mkdir -p "$aside"
	on_exit remove_tree "$aside"
	if podman_setup; then
		local g
		g="$(sed -n 's/^graphroot = "\(.*\)"$/\1/p' "${PODMAN_ENV[1]#*=}")"
		row "${labels[0]}" --prepare "sh -c 'mv $g $aside/podman.\$(date +%s%N) 2>/dev/null; sync; true'" -- \
			env "${PODMAN_ENV[@]}" podman pull -q --tls-verify=false "docker://$ref"
	else
		skip "${labels[0]}" "$REPLY"
	fi
	if ! rkt_bin rkt; then
		skip "${labels[1]}" "$REPLY"
		skip "${labels[2]}" "$REPLY"
		return 0
	fi
	local rkt="$REPLY" d
	rkt_data_dir fetch
	d="$REPLY"
	row "${labels[1]}" --rkt fetch --prepare "sh -c 'mv $d/store $aside/rkt.\$(date +%s%N) 2>/dev/null; sync; true'" -- \
		"$rkt" --dir="$d/store" fetch --insecure-options=http,image "docker://$ref"
	rkt_data_dir update
	d="$REPLY"
	"$rkt" --dir="$d" fetch --insecure-options=http,image "docker://$ref" >>"$BENCH_LOG" 2>&1 || true
	RUNS=30 WARMUP=3
	row "${labels[2]}" --rkt fetch -- \
		"$rkt" --dir="$d" fetch --insecure-options=http,image --pull-policy=update "docker://$ref"
}
