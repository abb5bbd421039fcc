package download

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// bar is the progress bar of one transfer; a nil *bar draws nothing, so the
// download loop need not care whether there is one.
type bar struct {
	pb    *progressbar.ProgressBar
	known bool
}

// newBar returns a progress bar drawn on w, or nil unless w is a terminal:
// redrawn lines are noise in a log or a pipe. total is -1 when unknown;
// offset is where a resumed transfer starts.
//
// A resumed transfer gets a bar of the remaining bytes, labelled as such:
// the library counts every byte added as transferred now, so starting the
// bar at offset would show an absurd rate.
func newBar(w io.Writer, label string, total, offset int64) *bar {
	f, ok := w.(*os.File)
	if !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return nil
	}
	return newBarOn(w, label, total, offset)
}

// newBarOn draws on w unconditionally; it is split from newBar for tests.
func newBarOn(w io.Writer, label string, total, offset int64) *bar {
	desc := "Downloading"
	if label != "" {
		desc += " " + label
	}
	if offset > 0 {
		desc += " (resuming)"
		if total > 0 {
			total -= offset
		}
	}
	if total == 0 {
		return nil
	}
	pb := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc+":"),
		progressbar.OptionSetTheme(progressbar.Theme{
			Saucer: "=", SaucerHead: ">", SaucerPadding: " ", BarStart: "[", BarEnd: "]",
		}),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(100*time.Millisecond),
		// The library animates bars of unknown length from a goroutine
		// that outlives an aborted bar; redrawing on writes suffices.
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	return &bar{pb: pb, known: total > 0}
}

func (b *bar) add(n int) {
	if b != nil {
		_ = b.pb.Add(n)
	}
}

// finish draws the bar complete and ends its line.
func (b *bar) finish() {
	if b == nil {
		return
	}
	if b.known {
		_ = b.pb.Finish()
		return
	}
	_ = b.pb.Exit()
}

// abort ends the bar's line where it stands, so a retry starts a fresh one.
func (b *bar) abort() {
	if b != nil {
		_ = b.pb.Exit()
	}
}
