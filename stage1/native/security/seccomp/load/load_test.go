package load

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEncodeDecode(t *testing.T) {
	prog := []unix.SockFilter{{Code: 0x20, Jt: 0, Jf: 0, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x6, K: 0x7fff0000}}
	b := Encode(prog)
	if len(b) != 24 {
		t.Fatalf("%d bytes", len(b))
	}
	got, err := Decode(b)
	if err != nil || !slices.Equal(got, prog) {
		t.Fatalf("Decode(Encode(p)) = %v, %v", got, err)
	}
	if _, err := Decode(b[:23]); err == nil {
		t.Fatal("a truncated program was accepted")
	}
}
