package aci

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression is the compression format of an image file.
type Compression int

// The compression formats Decompress recognises. None means a bare tar.
const (
	None Compression = iota
	Gzip
	Bzip2
	Xz
	Zstd
)

// String returns the usual name of the format, as used in file suffixes and
// messages.
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Bzip2:
		return "bzip2"
	case Xz:
		return "xz"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// zstdMaxWindow is the largest zstd window accepted, the zstd CLI's default
// limit: a hostile frame must not make the decoder allocate gigabytes.
const zstdMaxWindow = 128 << 20

// Detect returns the compression format announced by the first bytes of an
// image file. Anything unrecognised is None: a tar has no magic at offset 0.
func Detect(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, magicGzip):
		return Gzip
	case bytes.HasPrefix(head, magicBzip2):
		return Bzip2
	case bytes.HasPrefix(head, magicXz):
		return Xz
	case bytes.HasPrefix(head, magicZstd):
		return Zstd
	}
	return None
}

// Decompress sniffs the magic bytes of r and returns the uncompressed stream.
// Close releases decoder resources (zstd decoder goroutines); it does not
// close r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	// A short or empty stream is not an error here: it is not compressed,
	// and the tar reader will say what is wrong with it.
	head, err := br.Peek(len(magicXz))
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, None, fmt.Errorf("aci: read image header: %w", err)
	}
	c := Detect(head)
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("aci: gzip: %w", err)
		}
		return zr, c, nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(br)), c, nil
	case Xz:
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("aci: xz: %w", err)
		}
		return io.NopCloser(xr), c, nil
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, c, fmt.Errorf("aci: zstd: %w", err)
		}
		return zstdCloser{zr}, c, nil
	}
	return io.NopCloser(br), None, nil
}

// zstdCloser adapts the decoder's Close, which returns nothing.
type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error {
	z.Decoder.Close()
	return nil
}
