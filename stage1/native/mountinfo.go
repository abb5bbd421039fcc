package native

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// mountPoints returns the mount points listed in a mountinfo file
// (proc(5)), unescaped, in file order.
func mountPoints(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		out = append(out, unescapeMountinfo(f[4]))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// readMountPoints reads the mount points of the calling thread's mount
// namespace.
func readMountPoints() ([]string, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		if f, err = os.Open("/proc/self/mountinfo"); err != nil {
			return nil, fmt.Errorf("read mountinfo: %w", err)
		}
	}
	defer f.Close()
	return mountPoints(f)
}

// mountsUnder returns the mount points strictly below dir, deepest first
// (the order to unmount them in), without duplicates.
func mountsUnder(mps []string, dir string) []string {
	seen := map[string]bool{}
	var out []string
	for _, mp := range mps {
		if strings.HasPrefix(mp, dir+"/") && !seen[mp] {
			seen[mp] = true
			out = append(out, mp)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return depth(out[i]) > depth(out[j]) })
	return out
}

// unescapeMountinfo undoes the octal escapes (\040 and the like) the
// kernel puts in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
