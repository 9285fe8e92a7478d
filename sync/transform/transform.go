// Package transform converts one mapped field between a side's native text
// and the canonical value the sync engine compares and stores.
//
// Transforms (models.Field.Transform):
//
//	""       identity: the text is kept exactly, whitespace included.
//	"trim"   surrounding white space removed.
//	"email"  trimmed and lower-cased; must look like local@domain.
//	"phone"  canonical is E.164 ("+15551234567", ";ext=NN" appended when the
//	         number has an extension). Numbers without a leading + are read
//	         in the field's Region (ISO 3166 code, default "US").
//	         FromCanonical writes the E.164 text as is.
//	"date"   canonical is ISO "YYYY-MM-DD" (or "--MM-DD" for a date without a
//	         year). Native text follows the Go layout AFormat / BFormat of the
//	         side (default "2006-01-02"). With the default layout the vCard
//	         forms "YYYYMMDD", "--MMDD", "--MM-DD" and a date-time
//	         ("1985-04-12T00:00:00Z") are accepted too; a year-less date is
//	         written back as "--MMDD" (vCard 4). A layout without a year
//	         (e.g. "01/02") reads and writes year-less dates.
//	"lookup" Lookup maps an A value to a B value. The canonical value is the
//	         A value; side B converts through the inverted table. A value not
//	         in the table is an error.
//
// An empty value always converts to an empty value (a cleared field). A value
// that does not convert is an error naming the field and the shape of the
// value (long values are shortened in messages).
package transform

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"tandem/sync/transform/internal/phonenumbers"

	"tandem/models"
)

// Converter converts one field between one side's native text and the
// canonical value.
type Converter interface {
	ToCanonical(native string) (string, error)
	FromCanonical(canonical string) (string, error)
}

// Transform names.
const (
	Identity = ""
	Trim     = "trim"
	Email    = "email"
	Phone    = "phone"
	Date     = "date"
	Lookup   = "lookup"
)

// DefaultDateLayout is the native date layout when a side sets none.
const DefaultDateLayout = "2006-01-02"

// DefaultRegion is the phone region for numbers written without "+".
const DefaultRegion = "US"

// Names lists the known transform names, for forms.
func Names() []string {
	return []string{Identity, Trim, Email, Phone, Date, Lookup}
}

// For builds the converter for field f on side ("a" or "b").
func For(f models.Field, side string) (Converter, error) {
	if side != "a" && side != "b" {
		return nil, fmt.Errorf("field %q: unknown side %q (want \"a\" or \"b\")", f.Name, side)
	}
	switch f.Transform {
	case Identity:
		return identity{}, nil
	case Trim:
		return trim{}, nil
	case Email:
		return email{name: f.Name}, nil
	case Phone:
		region, err := phoneRegion(f)
		if err != nil {
			return nil, err
		}
		return phone{name: f.Name, region: region}, nil
	case Date:
		layout := dateLayout(f, side)
		if err := checkLayout(f.Name, layout); err != nil {
			return nil, err
		}
		return date{name: f.Name, layout: layout}, nil
	case Lookup:
		if len(f.Lookup) == 0 {
			return nil, fmt.Errorf("field %q: the lookup table is empty", f.Name)
		}
		return newLookup(f, side), nil
	}
	return nil, unknownTransform(f)
}

// Validate checks a field's transform settings with a readable reason.
func Validate(f models.Field) error {
	switch f.Transform {
	case Identity, Trim, Email:
		return nil
	case Phone:
		_, err := phoneRegion(f)
		return err
	case Date:
		if err := checkLayout(f.Name, dateLayout(f, "a")); err != nil {
			return fmt.Errorf("side A: %w", err)
		}
		if err := checkLayout(f.Name, dateLayout(f, "b")); err != nil {
			return fmt.Errorf("side B: %w", err)
		}
		return nil
	case Lookup:
		if len(f.Lookup) == 0 {
			return fmt.Errorf("field %q: the lookup table is empty", f.Name)
		}
		if f.Direction == models.DirAToB {
			return nil // B values are never read back: several A values may share one
		}
		seen := make(map[string]string, len(f.Lookup))
		for _, a := range sortedKeys(f.Lookup) {
			b := f.Lookup[a]
			if prev, ok := seen[b]; ok {
				return fmt.Errorf("field %q: lookup maps both %s and %s to %s, so a B value cannot be read back (make the field a-to-b or give each A value its own B value)",
					f.Name, shape(prev), shape(a), shape(b))
			}
			seen[b] = a
		}
		return nil
	}
	return unknownTransform(f)
}

func unknownTransform(f models.Field) error {
	return fmt.Errorf("field %q: unknown transform %s (known: trim, email, phone, date, lookup, or none)", f.Name, shape(f.Transform))
}

// shape quotes a value for an error message, shortened to about 40 characters.
func shape(v string) string {
	const max = 40
	if utf8.RuneCountInString(v) <= max {
		return fmt.Sprintf("%q", v)
	}
	r := []rune(v)
	return fmt.Sprintf("%q… (%d characters)", string(r[:max]), len(r))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---- identity, trim ----

type identity struct{}

func (identity) ToCanonical(v string) (string, error)   { return v, nil }
func (identity) FromCanonical(v string) (string, error) { return v, nil }

type trim struct{}

func (trim) ToCanonical(v string) (string, error)   { return strings.TrimSpace(v), nil }
func (trim) FromCanonical(v string) (string, error) { return strings.TrimSpace(v), nil }

// ---- email ----

type email struct{ name string }

func (e email) ToCanonical(v string) (string, error) { return e.norm(v) }

func (e email) FromCanonical(v string) (string, error) { return e.norm(v) }

func (e email) norm(v string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	if s == "" {
		return "", nil
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexFunc(s, unicode.IsSpace) >= 0 || !utf8.ValidString(s) {
		return "", fmt.Errorf("field %q: %s is not an email address (want local@domain)", e.name, shape(v))
	}
	return s, nil
}

// ---- phone ----

type phone struct{ name, region string }

func phoneRegion(f models.Field) (string, error) {
	r := strings.ToUpper(strings.TrimSpace(f.Region))
	if r == "" {
		return DefaultRegion, nil
	}
	if !phonenumbers.GetSupportedRegions()[r] {
		return "", fmt.Errorf("field %q: unknown phone region %s (want a two-letter country code such as US, GB, DE)", f.Name, shape(f.Region))
	}
	return r, nil
}

func (p phone) ToCanonical(v string) (string, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return "", nil
	}
	num, err := phonenumbers.Parse(s, p.region)
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", fmt.Errorf("field %q: %s is not a phone number", p.name, shape(v))
	}
	out := formatE164(num)
	// Some impossible-in-practice inputs (e.g. "+310000000": a national
	// number of zeros) lose a digit on every pass through the library; a
	// canonical value must read back as itself, or every run would see an edit.
	if again, err := phonenumbers.Parse(out, p.region); err != nil || formatE164(again) != out {
		return "", fmt.Errorf("field %q: %s is not a phone number", p.name, shape(v))
	}
	return out, nil
}

func formatE164(num *phonenumbers.PhoneNumber) string {
	out := phonenumbers.Format(num, phonenumbers.E164)
	if ext := num.GetExtension(); ext != "" {
		out += ";ext=" + ext
	}
	return out
}

func (p phone) FromCanonical(v string) (string, error) { return v, nil }

// ---- date ----

type date struct{ name, layout string }

func dateLayout(f models.Field, side string) string {
	l := f.AFormat
	if side == "b" {
		l = f.BFormat
	}
	if l == "" {
		return DefaultDateLayout
	}
	return l
}

// hasYear reports whether a Go layout has a year element.
func hasYear(layout string) bool { return strings.Contains(layout, "06") }

func checkLayout(field, layout string) error {
	ref := time.Date(1985, time.April, 12, 0, 0, 0, 0, time.UTC)
	p, err := time.Parse(layout, ref.Format(layout))
	if err != nil || p.Month() != ref.Month() || p.Day() != ref.Day() || (hasYear(layout) && p.Year() != ref.Year()) {
		return fmt.Errorf("field %q: date layout %s needs a month and a day written the Go way, e.g. 01/02/2006 for MM/DD/YYYY or 2006-01-02", field, shape(layout))
	}
	return nil
}

func (d date) ToCanonical(v string) (string, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return "", nil
	}
	if d.layout == DefaultDateLayout {
		if c, ok := vcardDate(s); ok {
			return c, nil
		}
	}
	t, err := time.Parse(d.layout, s)
	if err != nil {
		return "", fmt.Errorf("field %q: %s does not match date layout %s", d.name, shape(v), d.layout)
	}
	if !hasYear(d.layout) {
		return t.Format("--01-02"), nil
	}
	return t.Format("2006-01-02"), nil
}

// vcardDate reads the vCard date forms accepted with the default layout.
func vcardDate(s string) (string, bool) {
	try := func(layout, out string, in string) (string, bool) {
		t, err := time.Parse(layout, in)
		if err != nil {
			return "", false
		}
		return t.Format(out), true
	}
	switch {
	case len(s) == 10 && s[4] == '-':
		return try("2006-01-02", "2006-01-02", s)
	case len(s) == 8 && s[0] != '-':
		return try("20060102", "2006-01-02", s)
	case len(s) == 6 && strings.HasPrefix(s, "--"):
		return try("0102", "--01-02", s[2:])
	case len(s) == 7 && strings.HasPrefix(s, "--") && s[4] == '-':
		return try("01-02", "--01-02", s[2:])
	case len(s) > 10 && s[4] == '-' && s[10] == 'T':
		if _, err := time.Parse(time.RFC3339, s); err == nil {
			return try("2006-01-02", "2006-01-02", s[:10])
		}
	}
	return "", false
}

func (d date) FromCanonical(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	var t time.Time
	var err error
	yearless := strings.HasPrefix(v, "--")
	if yearless {
		t, err = time.Parse("--01-02", v)
	} else {
		t, err = time.Parse("2006-01-02", v)
	}
	if err != nil {
		return "", fmt.Errorf("field %q: %s is not a canonical date (want YYYY-MM-DD)", d.name, shape(v))
	}
	switch {
	case yearless && d.layout == DefaultDateLayout:
		return t.Format("--0102"), nil
	case yearless && hasYear(d.layout):
		return "", fmt.Errorf("field %q: %s has no year but date layout %s needs one", d.name, shape(v), d.layout)
	}
	return t.Format(d.layout), nil
}

// ---- lookup ----

type lookup struct {
	name  string
	side  string
	to    map[string]string // native -> canonical
	from  map[string]string // canonical -> native
	multi map[string]bool   // native B values several A values map to
}

func newLookup(f models.Field, side string) lookup {
	l := lookup{name: f.Name, side: side, to: map[string]string{}, from: map[string]string{}, multi: map[string]bool{}}
	for a, b := range f.Lookup {
		if side == "a" {
			l.to[a], l.from[a] = a, a
			continue
		}
		l.from[a] = b
		if _, dup := l.to[b]; dup {
			l.multi[b] = true
		}
		l.to[b] = a
	}
	return l
}

func (l lookup) ToCanonical(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	key := v
	c, ok := l.to[key]
	if !ok {
		key = strings.TrimSpace(v)
		c, ok = l.to[key]
	}
	if !ok {
		return "", fmt.Errorf("field %q: %s is not in the lookup table of side %s", l.name, shape(v), strings.ToUpper(l.side))
	}
	if l.multi[key] {
		return "", fmt.Errorf("field %q: %s is the lookup value of several A values, so it cannot be read back", l.name, shape(v))
	}
	return c, nil
}

func (l lookup) FromCanonical(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	n, ok := l.from[v]
	if !ok {
		return "", fmt.Errorf("field %q: %s is not in the lookup table", l.name, shape(v))
	}
	return n, nil
}
