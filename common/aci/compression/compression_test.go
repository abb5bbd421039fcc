package compression

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	for head, want := range map[string]Compression{
		"\x1f\x8b\x08":             Gzip,
		"BZh91AY":                  Bzip2,
		"\xfd7zXZ\x00\x00":         Xz,
		"\x28\xb5\x2f\xfd\x00":     Zstd,
		"manifest\x00\x00\x00\x00": None,
		"":                         None,
		"\x1f":                     None,
	} {
		if got := Detect([]byte(head)); got != want {
			t.Errorf("Detect(%q) = %v, want %v", head, got, want)
		}
	}
	if Compression(42).String() == "" {
		t.Error("empty String for an unknown format")
	}
}

// A program without the decoder of a format says so; a bare tar needs
// none; a registered decoder is used, and its error reported.
func TestDecompressWithRegisteredDecoders(t *testing.T) {
	saved := decoders
	t.Cleanup(func() { decoders = saved })
	decoders = [len(decoders)]Decoder{}

	xz := "\xfd7zXZ\x00rest"
	if _, c, err := Decompress(strings.NewReader(xz)); err == nil || c != Xz || !strings.Contains(err.Error(), "no xz decoder") {
		t.Errorf("no decoder: %v %v", c, err)
	}
	// Streams shorter than any magic, and tars, are plain.
	for _, plain := range []string{"\x1f", "", "manifest"} {
		rc, c, err := Decompress(strings.NewReader(plain))
		if err != nil || c != None {
			t.Fatalf("%q: %v %v", plain, c, err)
		}
		if b, _ := io.ReadAll(rc); string(b) != plain {
			t.Errorf("%q read back as %q", plain, b)
		}
		rc.Close()
	}
	Register(Xz, func(r io.Reader) (io.ReadCloser, error) {
		b, _ := io.ReadAll(r)
		return io.NopCloser(bytes.NewReader(bytes.ToUpper(b))), nil
	})
	rc, c, err := Decompress(strings.NewReader(xz))
	if err != nil || c != Xz {
		t.Fatalf("registered: %v %v", c, err)
	}
	if b, _ := io.ReadAll(rc); string(b) != strings.ToUpper(xz) {
		t.Errorf("decoder not given the whole stream: %q", b)
	}
	Register(Zstd, func(io.Reader) (io.ReadCloser, error) { return nil, errors.New("bad frame") })
	if _, _, err := Decompress(strings.NewReader("\x28\xb5\x2f\xfd\x00")); err == nil || err.Error() != "aci: zstd: bad frame" {
		t.Errorf("decoder error: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Register(None) did not panic")
		}
	}()
	Register(None, nil)
}
