# shellcheck shell=bash
# Image fixtures for the store benchmarks (import, ondisk, list, fetch-new),
# cached in build/bench/images across runs.

# large_aci: REPLY = a gzip ACI of a large tree (the Go distribution at
# /usr/local/go: ~270 MB in ~17k files), made once.
large_aci() {
	local dir="$ROOT/build/bench/images" src=/usr/local/go
	REPLY="$dir/large.aci"
	[ -s "$REPLY" ] && return 0
	[ -d "$src" ] || { REPLY="$src not found"; return 1; }
	mkdir -p "$dir/large"
	cat >"$dir/large/manifest" <<-'JSON'
	{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/large","labels":[{"name":"version","value":"1"},{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]}
	JSON
	tar -C "$dir/large" -cf "$dir/large.tar" manifest
	tar -C "$(dirname "$src")" --transform "s,^$(basename "$src"),rootfs," -rf "$dir/large.tar" "$(basename "$src")"
	gzip -n -c "$dir/large.tar" >"$REPLY.tmp" && mv "$REPLY.tmp" "$REPLY"
	rm -rf "$dir/large" "$dir/large.tar"
}

# many_images_store N: REPLY = an rkt data dir holding N small images,
# made once with rkt fetch.
many_images_store() {
	local n="$1" dir="$ROOT/build/bench/images/store-$1"
	REPLY="$dir"
	[ -f "$dir/.complete" ] && return 0
	rm -rf "$dir"
	mkdir -p "$dir/acis"
	python3 - "$dir/acis" "$n" <<-'PY'
	import io, json, sys, tarfile, gzip
	out, n = sys.argv[1], int(sys.argv[2])
	for i in range(n):
	    m = json.dumps({"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/img%d" % i,
	                    "labels": [{"name": "version", "value": "1"}, {"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]}).encode()
	    buf = io.BytesIO()
	    with tarfile.open(fileobj=buf, mode="w") as t:
	        ti = tarfile.TarInfo("manifest"); ti.size = len(m); t.addfile(ti, io.BytesIO(m))
	        d = tarfile.TarInfo("rootfs"); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
	        body = (b"%d\n" % i) * 100
	        f = tarfile.TarInfo("rootfs/data"); f.size = len(body); t.addfile(f, io.BytesIO(body))
	    with gzip.open("%s/img%d.aci" % (out, i), "wb") as g:
	        g.write(buf.getvalue())
	PY
	local f
	for f in "$dir"/acis/*.aci; do
		"$ROOT/build/bin/rkt" --dir="$dir/data" fetch --insecure-options=image "$f" >/dev/null || return 1
	done
	touch "$dir/.complete"
}
