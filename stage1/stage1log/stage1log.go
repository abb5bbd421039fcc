// Package stage1log is the logger of the stage1 entrypoints: messages go
// to stderr as `stage1: ...`, errors and warnings always, diagnostics
// only with --debug.
package stage1log

import (
	"fmt"
	"io"
	"os"
)

// ExitStage1Error is the exit status of every stage1-internal failure
// (reference S1-EXIT).
const ExitStage1Error = 254

// Logger writes a stage1's messages.
type Logger struct {
	// Out receives the messages (stderr by default).
	Out io.Writer
	// Debug enables Debugf.
	Debug bool
}

// New returns a logger writing to stderr.
func New(debug bool) *Logger { return &Logger{Out: os.Stderr, Debug: debug} }

// Errorf prints an error as `stage1: ...`.
func (l *Logger) Errorf(format string, args ...any) {
	fmt.Fprintf(l.Out, "stage1: "+format+"\n", args...)
}

// Warnf prints a warning as `stage1: warning: ...`.
func (l *Logger) Warnf(format string, args ...any) {
	fmt.Fprintf(l.Out, "stage1: warning: "+format+"\n", args...)
}

// Debugf prints a diagnostic when debugging.
func (l *Logger) Debugf(format string, args ...any) {
	if l.Debug {
		fmt.Fprintf(l.Out, "stage1: debug: "+format+"\n", args...)
	}
}

// Fail prints err and returns ExitStage1Error.
func (l *Logger) Fail(err error) int {
	l.Errorf("%v", err)
	return ExitStage1Error
}
