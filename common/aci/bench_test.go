package aci

import (
	"archive/tar"
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

// benchDir holds generated benchmark images for the whole test binary run;
// TestMain removes it, since a benchmark's own TempDir goes away between
// its b.N rounds.
var benchDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

var (
	largeOnce sync.Once
	largeImg  string
	largeErr  error
)

// largeImage writes, once, a synthetic image of about 20k small files (a
// few large ones among them) in 400 directories: ~300 MB of tar, ~100 MB
// gzipped, shaped like a distribution's /usr.
func largeImage(b *testing.B) string {
	largeOnce.Do(func() {
		if benchDir, largeErr = os.MkdirTemp("", "aci-bench-"); largeErr != nil {
			return
		}
		largeImg = filepath.Join(benchDir, "large.aci")
		largeErr = writeLargeImage(largeImg)
	})
	if largeErr != nil {
		b.Fatal(largeErr)
	}
	return largeImg
}

func writeLargeImage(p string) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := kgzip.NewWriter(bw)
	tw := tar.NewWriter(zw)
	rng := rand.New(rand.NewPCG(1, 2))
	// Text from a small vocabulary with random bytes mixed in compresses
	// about 2.5:1 with gzip, like binaries and libraries do.
	words := strings.Fields("the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she there")
	var pool []byte
	for len(pool) < 8<<20 {
		if rng.IntN(8) == 0 {
			for range 4 {
				pool = append(pool, byte(rng.Uint32()))
			}
		} else {
			pool = append(pool, words[rng.IntN(len(words))]...)
			pool = append(pool, ' ')
		}
	}
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(h *tar.Header, body []byte) error {
		h.ModTime = mtime
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := write(&tar.Header{Name: "manifest", Mode: 0o644, Typeflag: tar.TypeReg}, []byte(testManifest)); err != nil {
		return err
	}
	if err := write(&tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir}, nil); err != nil {
		return err
	}
	for d := range 400 {
		dn := fmt.Sprintf("rootfs/usr/lib/pkg%03d/", d)
		if d == 0 {
			for _, p := range []string{"rootfs/usr/", "rootfs/usr/lib/"} {
				if err := write(&tar.Header{Name: p, Mode: 0o755, Typeflag: tar.TypeDir}, nil); err != nil {
					return err
				}
			}
		}
		if err := write(&tar.Header{Name: dn, Mode: 0o755, Typeflag: tar.TypeDir}, nil); err != nil {
			return err
		}
		for i := range 50 {
			// Log-uniform sizes from 64 bytes to 64 KiB, mean ~13 KiB;
			// every 500th file is 2 MiB, above smallFile.
			size := int(64 * pow2(10*rng.Float64()))
			if (d*50+i)%500 == 499 {
				size = 2 << 20
			}
			off := rng.IntN(len(pool) - size)
			mode := int64(0o644)
			if i%5 == 0 {
				mode = 0o755
			}
			h := &tar.Header{Name: fmt.Sprintf("%sf%02d", dn, i), Mode: mode, Typeflag: tar.TypeReg}
			if err := write(h, pool[off:off+size]); err != nil {
				return err
			}
			if i%10 == 0 {
				l := &tar.Header{Name: fmt.Sprintf("%sl%02d", dn, i), Linkname: fmt.Sprintf("f%02d", i), Mode: 0o777, Typeflag: tar.TypeSymlink}
				if err := write(l, nil); err != nil {
					return err
				}
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func pow2(x float64) float64 {
	r := 1.0
	for ; x >= 1; x-- {
		r *= 2
	}
	return r * (1 + x*0.6931)
}

// benchRead extracts img b.N times into fresh directories. With
// compareTar it also times `sha512sum IMG && tar -xzf IMG -C DIR`, the
// same work done by coreutils and GNU tar, in alternation with ours so that
// both see the same page cache and writeback state.
func benchRead(b *testing.B, img string, compareTar bool) {
	fi, err := os.Stat(img)
	if err != nil {
		b.Skip(err)
	}
	if compareTar {
		if _, err := exec.LookPath("tar"); err != nil {
			compareTar = false
		}
	}
	// Trees are removed only at the end: ext4 scans recently freed inodes
	// when allocating new ones, so deleting 20k files between rounds would
	// slow the next round's creates, ours and tar's alike, by several times.
	parent, err := os.MkdirTemp("", "aci-bench-extract-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(parent) })
	var tarTime time.Duration
	var size int64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		d := filepath.Join(parent, fmt.Sprint("aci", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		// Each round starts with no dirty pages, so that neither side pays
		// for writing back the other's tree.
		unix.Sync()
		b.StartTimer()
		im, _, err := ReadFile(img, d, ExtractOptions{Root: os.Geteuid() == 0, RootfsOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		size = im.Size
		if compareTar {
			d := filepath.Join(parent, fmt.Sprint("tar", i))
			if err := os.Mkdir(d, 0o755); err != nil {
				b.Fatal(err)
			}
			unix.Sync()
			start := time.Now()
			cmd := exec.Command("sh", "-c", `sha512sum "$1" >/dev/null && tar -xzf "$1" -C "$2"`, "sh", img, d)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("tar: %v\n%s", err, out)
			}
			tarTime += time.Since(start)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.SetBytes(size)
	b.ReportMetric(float64(fi.Size())/1e6, "MB-compressed")
	if compareTar && b.N > 0 {
		ours := float64(b.Elapsed()) / float64(b.N)
		theirs := float64(tarTime) / float64(b.N)
		b.ReportMetric(theirs, "tar-ns/op")
		b.ReportMetric(ours/theirs, "ratio-to-tar")
	}
}

func BenchmarkReadBusybox(b *testing.B) {
	benchRead(b, fixture(b, "busybox.aci"), true)
}

func BenchmarkReadLarge(b *testing.B) {
	benchRead(b, largeImage(b), true)
}
