// Package compression tells the compression formats of image files
// (ACIs, OCI layers) apart and opens their uncompressed streams with the
// decoders that the program registered.
//
// The decoders themselves are in package codecs, which a program links
// by importing it: rkt-fetch and rkt-image do, rkt-prepare does not. It
// has rkt-fetch render any tree that is missing, and the decoders'
// tables and their initialisation (~0.3 ms of every start, measured in
// an empty program) stay out of every pod start.
package compression

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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

// A Decoder returns the uncompressed stream of r. Close releases the
// decoder's resources; it does not close r.
type Decoder func(r io.Reader) (io.ReadCloser, error)

var decoders [Zstd + 1]Decoder

// Register makes Decompress read format c with dec. It is meant to be
// called from an init function (package codecs).
func Register(c Compression, dec Decoder) {
	if c <= None || int(c) >= len(decoders) {
		panic(fmt.Sprintf("compression: no such format %v", c))
	}
	decoders[c] = dec
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
	if c == None {
		return io.NopCloser(br), None, nil
	}
	dec := decoders[c]
	if dec == nil {
		// A program that reads images links package codecs.
		return nil, c, fmt.Errorf("aci: %s-compressed image, and this program has no %s decoder", c, c)
	}
	rc, err := dec(br)
	if err != nil {
		return nil, c, fmt.Errorf("aci: %s: %w", c, err)
	}
	return rc, c, nil
}
