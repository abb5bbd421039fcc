// Package ui formats what rkt prints for people: tables, sizes, times.
package ui

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// LongTime is the layout of times with --full (reference CLI-GEN-07).
const LongTime = "2006-01-02 15:04:05.999 -0700 MST"

// NewTable returns a writer that aligns tab-separated columns as rkt's
// tables do (CLI-GEN-08); Flush it at the end.
func NewTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 1, '\t', 0)
}

// IECSize renders bytes in powers of 1024: "12MiB".
func IECSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	suffix := "KMGTPE"[exp : exp+1]
	if v < 10 {
		return fmt.Sprintf("%.1f%siB", v, suffix)
	}
	return fmt.Sprintf("%.0f%siB", v, suffix)
}

// Ago renders a past time relative to now: "2 minutes ago".
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	for _, u := range []struct {
		d    time.Duration
		name string
	}{
		{365 * 24 * time.Hour, "year"},
		{30 * 24 * time.Hour, "month"},
		{7 * 24 * time.Hour, "week"},
		{24 * time.Hour, "day"},
		{time.Hour, "hour"},
		{time.Minute, "minute"},
		{time.Second, "second"},
	} {
		if d >= u.d {
			n := int(d / u.d)
			if n == 1 {
				return "1 " + u.name + " ago"
			}
			return fmt.Sprintf("%d %ss ago", n, u.name)
		}
	}
	return "just now"
}
