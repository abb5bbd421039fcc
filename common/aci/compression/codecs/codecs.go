// Package codecs registers the decoders of the compression formats of
// image files with package compression: gzip (klauspost/compress, faster
// than the standard library's), bzip2, xz and zstd. Programs that read
// image blobs import it for that effect.
package codecs

import (
	"compress/bzip2"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/rkt/rkt/common/aci/compression"
)

// zstdMaxWindow is the largest zstd window accepted, the zstd CLI's default
// limit: a hostile frame must not make the decoder allocate gigabytes.
const zstdMaxWindow = 128 << 20

func init() {
	compression.Register(compression.Gzip, func(r io.Reader) (io.ReadCloser, error) {
		return gzip.NewReader(r)
	})
	compression.Register(compression.Bzip2, func(r io.Reader) (io.ReadCloser, error) {
		return io.NopCloser(bzip2.NewReader(r)), nil
	})
	compression.Register(compression.Xz, func(r io.Reader) (io.ReadCloser, error) {
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(xr), nil
	})
	compression.Register(compression.Zstd, func(r io.Reader) (io.ReadCloser, error) {
		zr, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, err
		}
		return zstdCloser{zr}, nil
	})
}

// zstdCloser adapts the decoder's Close, which returns nothing.
type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error {
	z.Decoder.Close()
	return nil
}
