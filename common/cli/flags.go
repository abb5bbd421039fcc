package cli

import (
	"strings"

	"github.com/spf13/pflag"
)

// StringArrayVar defines a repeatable string flag on fs, as pflag's
// StringArrayVar does (each use adds one value, commas and all, the
// first replacing the default), and returns it. pflag's own type
// writes its default through a CSV writer when the flag is defined: a
// 4 kB buffer, and a page fault, for each such flag at every start of
// rkt-prepare and rkt-run-prepared (nine of them, and five more for
// each app of the command line).
func StringArrayVar(fs *pflag.FlagSet, p *[]string, name, usage string) *pflag.Flag {
	return fs.VarPF(&stringArray{v: p}, name, "", usage)
}

// stringArray is the value of a StringArrayVar flag; it is a
// pflag.SliceValue, as pflag's is.
type stringArray struct {
	v       *[]string
	changed bool
}

func (s *stringArray) Set(v string) error {
	if !s.changed {
		*s.v, s.changed = nil, true
	}
	*s.v = append(*s.v, v)
	return nil
}

// String is "" when empty, which pflag's help shows as no default.
func (s *stringArray) String() string {
	if len(*s.v) == 0 {
		return ""
	}
	return "[" + strings.Join(*s.v, ",") + "]"
}

func (s *stringArray) Type() string { return "stringArray" }

func (s *stringArray) Append(v string) error {
	*s.v = append(*s.v, v)
	return nil
}

func (s *stringArray) Replace(vs []string) error {
	*s.v = append([]string(nil), vs...)
	return nil
}

func (s *stringArray) GetSlice() []string { return *s.v }
