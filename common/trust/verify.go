package trust

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Verification outcomes. The errors Done returns wrap one of these, with
// context (the image name, a hint on how to trust a key) in the message.
var (
	// ErrUnsignedBy means the signature was not made by any key trusted
	// for the image name.
	ErrUnsignedBy = errors.New("openpgp: signature made by unknown entity")
	// ErrBadSignature means a trusted key made the signature but it does
	// not match the data (or the key or signature is expired or revoked).
	ErrBadSignature = errors.New("bad signature")
	// ErrNoKeys means no key at all is trusted for the image name.
	ErrNoKeys = errors.New("no trusted keys")
	// ErrNoSignature means the signature file holds no OpenPGP signature
	// (e.g. an HTML error page saved as NAME.aci.asc).
	ErrNoSignature = errors.New("keystore: no valid signatures found in signature file")
	// ErrAborted is what Done returns after Abort.
	ErrAborted = errors.New("signature verification aborted")
)

// Verifier checks a detached signature over data written to it.
//
// Write returns the verification error as soon as it is known: an unknown
// signer, for instance, is known before any data is written, so a caller
// copying an image through the verifier stops early instead of downloading
// an image it will throw away. Either Done or Abort must be called, or a
// goroutine leaks. A Verifier is safe for one writer goroutine plus one
// goroutine calling Abort.
type Verifier interface {
	io.Writer
	// Done ends the data and returns the signer, or why the data is not
	// verified: an error wrapping ErrUnsignedBy, ErrBadSignature, ErrNoKeys,
	// ErrNoSignature or ErrAborted.
	Done() (*openpgp.Entity, error)
	// Abort gives up: pending and later writes fail and Done returns
	// ErrAborted (unless the outcome was already known).
	Abort()
}

type verifier struct {
	pw   *io.PipeWriter
	done chan struct{}
	// Set before done is closed; read only after.
	signer *openpgp.Entity
	err    error
}

// NewVerifier starts verifying a detached signature (armored first,
// binary fallback) over data that the caller streams into the returned
// writer, so that the image store can verify in the same single pass that
// hashes and extracts the image. NewVerifier itself fails only when the
// name is invalid or the trust store cannot be read; every verification
// outcome, including a malformed signature or an empty keyring, comes from
// Done.
func (s *Store) NewVerifier(name string, signature []byte) (Verifier, error) {
	kr, err := s.Keyring(name)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	v := &verifier{pw: pw, done: make(chan struct{})}
	bin, err := decodeSignature(signature)
	switch {
	case err != nil:
		v.finish(pr, nil, err)
	case len(kr) == 0:
		v.finish(pr, nil, fmt.Errorf("%w for %q; to trust a key, run: rkt trust --prefix %q", ErrNoKeys, name, name))
	default:
		go func() {
			signer, err := openpgp.CheckDetachedSignature(kr, pr, bytes.NewReader(bin), nil)
			v.finish(pr, signer, classify(err, name))
		}()
	}
	return v, nil
}

// finish records the outcome. Closing the read side with the error makes
// pending and later writes return it instead of blocking on a reader that
// is gone.
func (v *verifier) finish(pr *io.PipeReader, signer *openpgp.Entity, err error) {
	if err != nil {
		signer = nil
	}
	v.signer, v.err = signer, err
	pr.CloseWithError(err)
	close(v.done)
}

func (v *verifier) Write(p []byte) (int, error) { return v.pw.Write(p) }

func (v *verifier) Done() (*openpgp.Entity, error) {
	v.pw.Close()
	<-v.done
	return v.signer, v.err
}

func (v *verifier) Abort() {
	v.pw.CloseWithError(ErrAborted)
	<-v.done
}

// classify maps go-crypto's errors onto this package's.
func classify(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrAborted):
		return ErrAborted
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return fmt.Errorf("%w; if you trust the signer of %q, run: rkt trust --prefix %q", ErrUnsignedBy, name, name)
	default:
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
}

// decodeSignature returns the binary signature packets: the armored form
// is tried first, then the bytes are taken as binary. It checks that there
// is at least one signature packet, because go-crypto reports an empty
// signature as an unknown signer, which would send the user off to trust a
// key that cannot help.
func decodeSignature(sig []byte) ([]byte, error) {
	bin := sig
	block, err := armor.Decode(bytes.NewReader(sig))
	switch {
	case err == nil:
		if block.Type != openpgp.SignatureType {
			return nil, fmt.Errorf("%w: armored %q block instead", ErrNoSignature, block.Type)
		}
		if bin, err = io.ReadAll(block.Body); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoSignature, err)
		}
	case !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: %w", ErrNoSignature, err)
	}
	n := 0
	packets := packet.NewReader(bytes.NewReader(bin))
	for {
		p, err := packets.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoSignature, err)
		}
		if _, ok := p.(*packet.Signature); !ok {
			return nil, fmt.Errorf("%w: found a non-signature packet", ErrNoSignature)
		}
		n++
	}
	if n == 0 {
		return nil, ErrNoSignature
	}
	return bin, nil
}

// Verify is the non-streaming convenience form of NewVerifier.
func (s *Store) Verify(name string, signed io.Reader, signature []byte) (*openpgp.Entity, error) {
	v, err := s.NewVerifier(name, signature)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 64<<10)
	for {
		n, rerr := signed.Read(buf)
		if n > 0 {
			if _, werr := v.Write(buf[:n]); werr != nil {
				// The outcome is known (and is what Done returns).
				return v.Done()
			}
		}
		if rerr == io.EOF {
			return v.Done()
		}
		if rerr != nil {
			v.Abort()
			return nil, fmt.Errorf("reading signed data: %w", rerr)
		}
	}
}
