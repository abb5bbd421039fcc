// Package quantity parses the amounts of appc's resource isolators
// ("64M", "1.5Gi", "500m") exactly, to the values the appc schema
// gives them, without linking the schema.
package quantity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Quantity is an amount of a resource isolator ("64M", "1.5Gi",
// "500m"), written as appc (and Kubernetes, whose quantities appc
// copied) write them: a decimal number with an optional suffix, one of
// the decimal SI prefixes n u m k M G T P E, the binary ones Ki Mi Gi
// Ti Pi Ei, or an exponent (e3, E-2). Its value is kept exact.
type Quantity struct {
	s string
	v *big.Rat
}

// maxExponent bounds the exponent of a quantity.
const maxExponent = 1000

// ErrExponentRange is the error of an exponent beyond ±1000.
var ErrExponentRange = errors.New("exponent out of range")

// errQuantityFormat is the error of a string that is no quantity.
var errQuantityFormat = errors.New("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")

// decimalSuffixes and binarySuffixes are the prefixes' powers of 10
// and of 2.
var (
	decimalSuffixes = map[string]int{"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
	binarySuffixes  = map[string]int{"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
)

// Parse parses a quantity, accepting what appc's
// resource.ParseQuantity accepts.
func Parse(s string) (*Quantity, error) {
	num, suffix, err := splitQuantity(s)
	if err != nil {
		return nil, err
	}
	v, ok := new(big.Rat).SetString(num)
	if !ok {
		return nil, errQuantityFormat
	}
	var scale *big.Rat
	if e, ok := decimalSuffixes[suffix]; ok {
		scale = pow(10, e)
	} else if e, ok := binarySuffixes[suffix]; ok {
		// Without a digit ("Ki"), appc makes 0 of the binary prefixes up
		// to Ti and refuses Pi and Ei.
		if noDigit(s) && e > 40 {
			return nil, errors.New("unable to parse numeric part of quantity")
		}
		scale = pow(2, e)
	} else if len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E') {
		e, err := strconv.ParseInt(suffix[1:], 10, 64)
		if err != nil {
			return nil, errors.New("unable to parse quantity's suffix")
		}
		// Far beyond any resource: refused rather than computed (the
		// schema's parser computes 10^999999999 for 1e-999999999, for
		// minutes; see CheckIsolators).
		if e > maxExponent || e < -maxExponent {
			return nil, fmt.Errorf("quantity %s: %w", s, ErrExponentRange)
		}
		// Likewise, without a digit it takes no exponent below -9.
		if noDigit(s) && e < -9 {
			return nil, errors.New("unable to parse numeric part of quantity")
		}
		scale = pow(10, int(e))
	} else {
		return nil, errors.New("unable to parse quantity's suffix")
	}
	return &Quantity{s: s, v: v.Mul(v, scale)}, nil
}

// splitQuantity splits s into its number (sign, digits, an optional
// point and digits; "0" when it has no digit) and its suffix, as the
// scanner of appc's resource.ParseQuantity does.
func splitQuantity(s string) (num, suffix string, err error) {
	if s == "" {
		return "", "", errQuantityFormat
	}
	i := 0
	sign := ""
	if s[0] == '+' || s[0] == '-' {
		if s[0] == '-' {
			sign = "-"
		}
		i++
	}
	digits := func() string {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return s[j:i]
	}
	whole := digits()
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		frac = digits()
	}
	suffixStart := i
	for i < len(s) && strings.IndexByte("eEinumkKMGTP", s[i]) >= 0 {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits()
	if i != len(s) {
		return "", "", errQuantityFormat
	}
	if whole == "" {
		whole = "0"
	}
	num = sign + whole
	if frac != "" {
		num += "." + frac
	}
	return num, s[suffixStart:], nil
}

// noDigit reports whether the number of the quantity s has no digit.
func noDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			return false
		case c != '+' && c != '-' && c != '.':
			return true
		}
	}
	return true
}

// pow returns base**exp, exp possibly negative.
func pow(base int64, exp int) *big.Rat {
	e := exp
	if e < 0 {
		e = -e
	}
	p := new(big.Int).Exp(big.NewInt(base), big.NewInt(int64(e)), nil)
	if exp < 0 {
		return new(big.Rat).SetFrac(big.NewInt(1), p)
	}
	return new(big.Rat).SetInt(p)
}

// String returns the quantity as it was written.
func (q *Quantity) String() string { return q.s }

// Value returns the quantity rounded up (away from zero) to an integer,
// as appc's Quantity.Value does; a value beyond int64 is an error.
func (q *Quantity) Value() (int64, error) { return q.scaled(1) }

// MilliValue returns a thousand times the quantity, rounded up (away
// from zero), as appc's Quantity.MilliValue does; a value beyond int64
// is an error.
func (q *Quantity) MilliValue() (int64, error) { return q.scaled(1000) }

func (q *Quantity) scaled(factor int64) (int64, error) {
	v := new(big.Rat).Mul(q.v, big.NewRat(factor, 1))
	neg := v.Sign() < 0
	v.Abs(v)
	// The magnitude's ceiling: the quotient, plus one unless exact.
	c, m := new(big.Int).QuoRem(v.Num(), v.Denom(), new(big.Int))
	if m.Sign() != 0 {
		c.Add(c, big.NewInt(1))
	}
	if !c.IsInt64() {
		return 0, fmt.Errorf("quantity %s is too large", q.s)
	}
	if neg {
		return -c.Int64(), nil
	}
	return c.Int64(), nil
}

// UnmarshalJSON reads a quantity from a JSON string (or a bare number),
// as appc's does.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	p, err := Parse(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	*q = *p
	return nil
}

// CheckManifest is CheckIsolators on the isolators of an image manifest
// (its "app") or of a pod manifest (each of its "apps").
func CheckManifest(data []byte) error {
	if !bytes.Contains(data, []byte("resource/")) {
		return nil
	}
	type app struct {
		Isolators json.RawMessage `json:"isolators"`
	}
	var m struct {
		App  *app `json:"app"`
		Apps []struct {
			App *app `json:"app"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil // malformed: the schema says so
	}
	apps := []*app{m.App}
	for _, a := range m.Apps {
		apps = append(apps, a.App)
	}
	for _, a := range apps {
		if a == nil {
			continue
		}
		if err := CheckIsolators(a.Isolators); err != nil {
			return err
		}
	}
	return nil
}

// CheckIsolators refuses appc isolators (the JSON array of an app's
// "isolators") whose resource quantities ("request", "limit") have an
// exponent beyond ±1000, before the appc schema parses them: its parser
// computes the power of ten (1e-999999999 held a CPU for minutes), which
// an image's manifest must not be able to make rkt do. Everything else
// is left to the schema.
func CheckIsolators(isolators json.RawMessage) error {
	if !bytes.Contains(isolators, []byte("resource/")) {
		return nil
	}
	var isos []struct {
		Name  string          `json:"name"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(isolators, &isos); err != nil {
		return nil // malformed: the schema says so
	}
	for _, iso := range isos {
		if !strings.HasPrefix(iso.Name, "resource/") {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(iso.Value, &fields); err != nil {
			continue
		}
		for _, k := range []string{"request", "limit"} {
			raw, ok := fields[k]
			if !ok {
				continue
			}
			var q Quantity
			if err := q.UnmarshalJSON(raw); errors.Is(err, ErrExponentRange) {
				return fmt.Errorf("isolator %s: %s: %w", iso.Name, k, err)
			}
		}
	}
	return nil
}
