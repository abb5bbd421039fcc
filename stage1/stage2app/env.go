package stage2app

import (
	"bytes"
	"strings"
)

// FormatEnvFile renders the env file (reference PODF-18, APPX-04): one
// NAME=VALUE line per variable, in order, values unquoted. A variable
// whose name or value holds a newline or NUL cannot be written in this
// format: it is left out of the file (the app still gets it) and named in
// skipped.
func FormatEnvFile(env []string) (data []byte, skipped []string) {
	var b bytes.Buffer
	for _, kv := range env {
		if strings.ContainsAny(kv, "\n\x00") {
			name, _, _ := strings.Cut(kv, "=")
			skipped = append(skipped, name)
			continue
		}
		b.WriteString(kv)
		b.WriteByte('\n')
	}
	return b.Bytes(), skipped
}

// ParseEnvFile reads an env file back into a NAME=VALUE list. Lines
// without "=" and empty lines are ignored.
func ParseEnvFile(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && k != "" {
			out = append(out, line)
		}
	}
	return out
}

// LookupEnv returns the value of name in a NAME=VALUE list.
func LookupEnv(env []string, name string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
