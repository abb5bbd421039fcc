package store

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rkt/rkt/common/aci"
	"github.com/rkt/rkt/common/aci/compression"
)

// Durability without fsync on the import path.
//
// Syncing a 300 MB tree (or the whole filesystem with syncfs) would cost
// more than the rest of an import. Instead an image or tree directory
// written without a sync carries an `unsynced` file naming the boot it was
// written in. Within that boot the page cache is the truth, so the content
// is right. In a later boot (after a crash or a reboot) writes may have
// been lost, so the first use verifies the content against its hash, then
// syncs it and drops the marker; what fails verification is treated as
// damaged and fetched or rendered again.
const unsyncedFile = "unsynced"

var (
	bootOnce sync.Once
	bootIDv  string
)

func bootID() string {
	bootOnce.Do(func() {
		b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
		if err == nil {
			bootIDv = strings.TrimSpace(string(b))
		}
	})
	return bootIDv
}

// markUnsynced records that dir was written in this boot without a sync.
// Without a boot ID there is nothing to compare against later: sync now.
func markUnsynced(dir string) error {
	if bootID() == "" {
		return aci.SyncTree(dir)
	}
	return os.WriteFile(filepath.Join(dir, unsyncedFile), []byte(bootID()), 0o660)
}

// needsVerify reports whether dir was written without a sync in another
// boot.
func needsVerify(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, unsyncedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return err != nil || strings.TrimSpace(string(b)) != bootID()
}

// settle syncs a verified directory and drops its marker.
func settle(dir string) error {
	if err := aci.SyncTree(dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, unsyncedFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// ErrImageDamaged means a stored image's blob does not hash to its ID.
var ErrImageDamaged = errors.New("stored image does not match its ID")

// checkImage verifies an image written in another boot without a sync.
func (s *Store) checkImage(key string) error {
	dir := s.imageDir(key)
	if !needsVerify(dir) {
		return nil
	}
	if s.IsOCI(key) {
		return s.checkOCIImage(key)
	}
	info, err := s.Info(key)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", key, ErrImageDamaged, err)
	}
	f, err := os.Open(s.BlobPath(key))
	if err != nil {
		return fmt.Errorf("%s: %w: %w", key, ErrImageDamaged, err)
	}
	defer f.Close()
	dec, _, err := compression.Decompress(f)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", key, ErrImageDamaged, err)
	}
	defer dec.Close()
	h := sha512.New()
	if _, err := io.Copy(h, dec); err != nil {
		return fmt.Errorf("%s: %w: %w", key, ErrImageDamaged, err)
	}
	if "sha512-"+hex.EncodeToString(h.Sum(nil)) != info.ID {
		return fmt.Errorf("%s: %w", key, ErrImageDamaged)
	}
	return settle(dir)
}
