package ui

import (
	"testing"
	"time"
)

func TestIECSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 12 << 20: "12MiB", 1536 << 10: "1.5MiB", 3 << 30: "3.0GiB"} {
		if got := IECSize(n); got != want {
			t.Errorf("IECSize(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Now()
	for d, want := range map[time.Duration]string{0: "just now", 2 * time.Minute: "2 minutes ago", time.Hour: "1 hour ago", 50 * time.Hour: "2 days ago"} {
		if got := Ago(now.Add(-d), now); got != want {
			t.Errorf("Ago(-%v) = %s, want %s", d, got, want)
		}
	}
}
