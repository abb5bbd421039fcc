package download

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rkt/rkt/common/atomicfile"
	"golang.org/x/sys/unix"
)

// WaitingMessage is printed to Options.Progress when another process holds
// the lock on the partial file.
const WaitingMessage = "another rkt instance is downloading this file, waiting..."

// lockPartial opens (creating it if needed) and exclusively flocks the
// partial file.
//
// The lock is taken on the descriptor that will be written, and common/flock
// is not used because it opens files read-only. After the lock is granted the
// path is checked to still name the locked file: the previous holder's caller
// may have renamed it into the store meanwhile, and writing the renamed file
// would corrupt the store.
func lockPartial(ctx context.Context, path string, progress io.Writer) (*os.File, error) {
	warned := false
	for {
		// 0660 before the umask, like the rest of the data directory,
		// which is shared with the rkt group.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o660)
		if err != nil {
			return nil, fmt.Errorf("open partial file: %w", err)
		}
		err = tryLock(f)
		for errors.Is(err, unix.EWOULDBLOCK) {
			if !warned && progress != nil {
				fmt.Fprintln(progress, WaitingMessage)
			}
			warned = true
			timer := time.NewTimer(lockPoll)
			select {
			case <-ctx.Done():
				timer.Stop()
				f.Close()
				return nil, ctx.Err()
			case <-timer.C:
			}
			err = tryLock(f)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock partial file: %w", err)
		}
		same, err := stillAt(f, path)
		if err != nil {
			f.Close()
			return nil, err
		}
		if same {
			return f, nil
		}
		f.Close()
	}
}

// tryLock takes an exclusive flock(2) without blocking.
func tryLock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lockErr error
	err = rc.Control(func(fd uintptr) {
		for {
			lockErr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if lockErr != unix.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return lockErr
}

// stillAt reports whether path still names the open file f.
func stillAt(f *os.File, path string) (bool, error) {
	have, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat partial file: %w", err)
	}
	now, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat partial file: %w", err)
	}
	return os.SameFile(have, now), nil
}

// meta is what partial+".meta" records about the bytes in the partial file:
// where they came from and the validator that proves a later answer is the
// same version of the resource.
type meta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
}

func metaPath(partial string) string { return partial + ".meta" }

// readMeta returns the saved metadata; a missing or damaged file gives the
// zero value, which only means that the partial file cannot be resumed.
func readMeta(path string) meta {
	var m meta
	data, err := os.ReadFile(path)
	if err != nil {
		return meta{}
	}
	if json.Unmarshal(data, &m) != nil {
		return meta{}
	}
	return m
}

func writeMeta(path string, m meta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data, 0o660); err != nil {
		return fmt.Errorf("write download metadata: %w", err)
	}
	return nil
}

// ifRange returns the validator to send in If-Range, or "" if there is none
// that a server may use there: If-Range requires a strong validator, so a
// weak ETag cannot serve.
func (m meta) ifRange() string {
	if m.ETag != "" && !strings.HasPrefix(m.ETag, "W/") {
		return m.ETag
	}
	return m.LastModified
}

// matches reports whether a 206 answer carries the validator that the
// partial bytes were saved under. Validators the answer leaves out are not
// held against it: If-Range already made the server compare them.
func (m meta) matches(h http.Header) bool {
	if v := m.ifRange(); v == m.ETag {
		got := h.Get("ETag")
		return got == "" || got == m.ETag
	}
	got := h.Get("Last-Modified")
	return got == "" || got == m.LastModified
}
