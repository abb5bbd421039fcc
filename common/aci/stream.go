package aci

import (
	"crypto/sha512"
	"io"
	"sync"
)

const (
	chunkSize = 256 << 10
	numChunks = 16
)

// hashPipe reads a stream in its own goroutine (where decompression
// happens, inside r.Read), hashes it in a second one and hands the chunks to
// the tar parser, which reads them through Read. The three stages overlap on
// separate cores; the hash covers every byte read from r, so the image ID
// includes the tar's end padding and anything after it.
type hashPipe struct {
	free    chan []byte
	hashed  chan []byte
	toParse chan []byte
	stop    chan struct{}
	done    sync.WaitGroup

	readErr error // set by the reader before it closes hashed
	size    int64 // set by the hasher before it closes toParse
	sum     [sha512.Size]byte

	cur      []byte
	curBuf   []byte
	stopOnce sync.Once
}

func newHashPipe(r io.Reader) *hashPipe {
	p := &hashPipe{
		free:    make(chan []byte, numChunks),
		hashed:  make(chan []byte, numChunks),
		toParse: make(chan []byte, numChunks),
		stop:    make(chan struct{}),
	}
	p.done.Add(2)
	go p.read(r)
	go p.hash()
	return p
}

func (p *hashPipe) read(r io.Reader) {
	defer p.done.Done()
	defer close(p.hashed)
	allocated := 0
	for {
		var buf []byte
		select {
		case buf = <-p.free:
		default:
			// Chunks are taken as needed, so that reading a small image
			// (or a fuzz input) does not cost numChunks of them.
			if allocated < numChunks {
				allocated++
				buf = *chunkPool.Get().(*[]byte)
			} else {
				select {
				case buf = <-p.free:
				case <-p.stop:
					return
				}
			}
		}
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			select {
			case p.hashed <- buf[:n]:
			case <-p.stop:
				return
			}
		}
		if err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				p.readErr = err
			}
			return
		}
	}
}

func (p *hashPipe) hash() {
	defer p.done.Done()
	defer close(p.toParse)
	h := sha512.New()
	for buf := range p.hashed {
		h.Write(buf)
		p.size += int64(len(buf))
		select {
		case p.toParse <- buf:
		case <-p.stop:
			// Keep draining hashed so the reader never blocks on it.
			for range p.hashed {
			}
			return
		}
	}
	h.Sum(p.sum[:0])
}

// Read implements io.Reader for the tar parser.
func (p *hashPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.curBuf != nil {
			p.free <- p.curBuf[:cap(p.curBuf)]
			p.curBuf = nil
		}
		buf, ok := <-p.toParse
		if !ok {
			if p.readErr != nil {
				return 0, p.readErr
			}
			return 0, io.EOF
		}
		p.cur, p.curBuf = buf, buf
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// finish consumes the rest of the stream (whatever follows the tar's end
// marker still belongs to the image ID) and returns the digest and size.
func (p *hashPipe) finish() ([sha512.Size]byte, int64, error) {
	if p.curBuf != nil {
		p.free <- p.curBuf[:cap(p.curBuf)]
		p.cur, p.curBuf = nil, nil
	}
	for buf := range p.toParse {
		p.free <- buf[:cap(buf)]
	}
	p.done.Wait()
	for len(p.free) > 0 {
		buf := <-p.free
		chunkPool.Put(&buf)
	}
	return p.sum, p.size, p.readErr
}

var chunkPool = sync.Pool{New: func() any {
	b := make([]byte, chunkSize)
	return &b
}}

// abort stops both goroutines and waits for them. The reader may be inside
// r.Read; abort returns once that call does, so nothing touches r after
// Read returns.
func (p *hashPipe) abort() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.done.Wait()
}
