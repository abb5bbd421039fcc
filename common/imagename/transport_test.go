package imagename

import (
	"errors"
	"testing"
)

func TestParseSource(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want Source
		ok   bool
		err  bool
	}{
		{arg: "docker://busybox", want: Source{Transport: Docker, Ref: "busybox"}, ok: true},
		{arg: "docker:busybox:1.36", want: Source{Transport: Docker, Ref: "busybox:1.36"}, ok: true},
		{arg: "docker://127.0.0.1:5000/library/busybox@sha256:abc", want: Source{Transport: Docker, Ref: "127.0.0.1:5000/library/busybox@sha256:abc"}, ok: true},
		{arg: "oci-layout:/srv/app", want: Source{Transport: OCILayout, Path: "/srv/app"}, ok: true},
		{arg: "oci-layout:/srv/app:latest", want: Source{Transport: OCILayout, Path: "/srv/app", Ref: "latest"}, ok: true},
		{arg: "oci-archive:app.tar:v1", want: Source{Transport: OCIArchive, Path: "app.tar", Ref: "v1"}, ok: true},
		{arg: "docker-archive:bb.tar:library/busybox:latest", want: Source{Transport: DockerArchive, Path: "bb.tar", Ref: "library/busybox:latest"}, ok: true},
		{arg: "docker://", ok: true, err: true},
		{arg: "docker:///library/busybox", ok: true, err: true},
		{arg: "docker://127.0.0.1:5000//busybox", ok: true, err: true},
		{arg: "oci-layout:", ok: true, err: true},
		{arg: "oci-layout::ref", ok: true, err: true},
		{arg: "example.com/app:1.0", ok: false},
		{arg: "./app.aci", ok: false},
		{arg: "https://example.com/app.aci", ok: false},
		{arg: "sha512-abcdef", ok: false},
	} {
		got, ok, err := ParseSource(tc.arg)
		if ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%q: ok=%v err=%v, want ok=%v err=%v", tc.arg, ok, err, tc.ok, tc.err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: error does not wrap ErrInvalid: %v", tc.arg, err)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.arg, got, tc.want)
		}
	}
}

// FuzzParseSource: never a panic; what parses prints back to an argument
// that parses to the same source.
func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"docker://busybox", "docker:a/b:c", "oci-layout:/x:y", "oci-archive:a.tar", "docker-archive:a:b:c", "name:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		src, ok, err := ParseSource(arg)
		if !ok || err != nil {
			return
		}
		again, ok2, err2 := ParseSource(src.String())
		if !ok2 || err2 != nil || again != src {
			t.Fatalf("%q parsed to %+v, printed %q, parsed again to %+v (%v)", arg, src, src.String(), again, err2)
		}
	})
}
