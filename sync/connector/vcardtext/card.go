// Package vcardtext reads and edits one vCard as text, keeping every byte it
// is not asked to change. It is what the connectors that store vCards
// (vcarddir, carddav) parse, read fields from, edit and write back with.
//
// A Card is the file as content lines. Fields (named as in package
// vcardfields: "EMAIL", "N.given", ...) are read from the raw, still escaped
// property values, so vCard escapes (\n \, \; \\) are undone exactly once on
// read and done exactly once on write. Apply rewrites only the lines of the
// properties whose value changes (folded at 75 octets, with the card's own
// line ending); every other line, including folding, parameter order and
// case, groups and lines that are not properties, stays as it was.
package vcardtext

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-vcard"

	"tandem/sync/connector/vcardfields"
)

// Card is one vCard held as its content lines.
//
// props holds the properties between BEGIN and END as go-vcard fields, in
// card order, for package vcardfields to read and edit. A field's Value is
// the raw (escaped) text of the card, never go-vcard-decoded text.
type Card struct {
	lines []line
	props vcard.Card
	end   int    // index of the END:VCARD line
	eol   string // line ending of the card ("\r\n" or "\n")
}

type line struct {
	raw    string       // physical text, folding and line ending included
	field  *vcard.Field // the property, nil for BEGIN/END and lines that are not properties
	key    string       // property name, upper case
	prefix string       // unfolded text up to and including the ':' before the value
	value  string       // the value as read
}

// Parse reads one vCard. The grammar follows github.com/emersion/go-vcard
// (its decoder: logical lines unfolded, a line that is not a property is
// skipped, BEGIN:VCARD ... END:VCARD required), with one difference: a bare
// vCard 2.1 parameter ("TEL;CELL:+1...") is read as TYPE=CELL instead of
// swallowing the value. Data holding more than one card is refused (a vdir
// file and a CardDAV resource hold one card each). The error says why, in
// words meant for a person.
func Parse(data []byte) (*Card, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("it is empty")
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("it is not UTF-8 text")
	}
	s := string(data)
	// Sized from the line count: a small card's lines, fields and
	// properties are then three allocations, not one each (a first sync
	// parses 10,000 cards; 4.5 KB and 35 allocations a card before).
	n := strings.Count(s, "\n") + 1
	c := &Card{lines: make([]line, 0, n), props: make(vcard.Card, n), end: -1, eol: "\r\n"}
	fields := make([]vcard.Field, n)
	slots := make([]*vcard.Field, n) // each property's first field, in a slice of its own capacity
	if i := strings.IndexByte(s, '\n'); i > 0 && s[i-1] != '\r' {
		c.eol = "\n"
	}
	begun := false
	for pos := 0; pos < len(s); {
		// One logical line: a physical line and the ones that continue it.
		start := pos
		next := nextLine(s, pos)
		unfolded := strings.TrimRight(s[pos:next], "\r\n")
		pos = next
		truncated := false
		if pos < len(s) && (s[pos] == ' ' || s[pos] == '\t') {
			// a folded line (a photo has thousands of continuations):
			// one builder, not a string grown per continuation (quadratic)
			var b strings.Builder
			b.WriteString(unfolded)
			for pos < len(s) && (s[pos] == ' ' || s[pos] == '\t') {
				next = nextLine(s, pos)
				if s[next-1] != '\n' {
					truncated = true // a continuation cut off at the end of the data
				}
				b.WriteString(strings.TrimRight(s[pos+1:next], "\r\n"))
				pos = next
			}
			unfolded = b.String()
		}
		ln := line{raw: s[start:pos]}
		if truncated {
			// go-vcard drops such a line; keep the bytes, treat as no property
			c.lines = append(c.lines, ln)
			continue
		}
		field := &fields[len(c.lines)]
		key, valueAt, err := parseLine(unfolded, field)
		switch {
		case err != nil:
			// not a property: kept as is, ignored
		case c.end >= 0:
			return nil, fmt.Errorf("there is content after END:VCARD (one card only)")
		case !begun:
			if key != "BEGIN" {
				return nil, fmt.Errorf("it does not start with BEGIN:VCARD (found %s)", short(key))
			}
			if !strings.EqualFold(field.Value, "VCARD") {
				return nil, fmt.Errorf("BEGIN:%s is not BEGIN:VCARD", short(field.Value))
			}
			begun = true
		case key == "END":
			if !strings.EqualFold(field.Value, "VCARD") {
				return nil, fmt.Errorf("END:%s is not END:VCARD", short(field.Value))
			}
			c.end = len(c.lines)
		default:
			ln.field, ln.key, ln.value = field, key, field.Value
			ln.prefix = unfolded[:valueAt]
			if fs := c.props[key]; fs != nil {
				c.props[key] = append(fs, field)
			} else {
				k := len(c.lines)
				slots[k] = field
				c.props[key] = slots[k : k+1 : k+1]
			}
		}
		c.lines = append(c.lines, ln)
	}
	if !begun {
		return nil, fmt.Errorf("there is no BEGIN:VCARD")
	}
	if c.end < 0 {
		return nil, fmt.Errorf("there is no END:VCARD (it may be cut off)")
	}
	return c, nil
}

// New makes a vCard 3.0 holding fields (unknown names are ignored), with
// CRLF line endings. Properties vCard requires are filled in when fields do
// not set them: UID gets uid, N is empty, and FN, when fields does not name
// it at all, is made from the name parts, else ORG, else EMAIL. An FN that
// fields names is written as given, even empty, so that reading the card
// back gives the values that were written.
func New(uid string, fields map[string]string) *Card {
	c := &Card{
		lines: []line{{raw: "BEGIN:VCARD\r\n"}, {raw: "END:VCARD\r\n"}},
		props: vcard.Card{vcard.FieldVersion: {{Value: "3.0"}}},
		end:   1,
		eol:   "\r\n",
	}
	// as Apply, one field at a time (no map of differences: a first sync
	// makes 10,000 cards)
	for k, v := range fields {
		if vcardfields.Known(k) && c.Value(k) != v {
			vcardfields.Set(c.props, k, v)
		}
	}
	if c.Value(vcard.FieldUID) == "" {
		vcardfields.Set(c.props, vcard.FieldUID, uid)
	}
	if c.props[vcard.FieldFormattedName] == nil {
		fn, mapped := fields[vcard.FieldFormattedName]
		if !mapped {
			fn = c.displayName()
		}
		c.props[vcard.FieldFormattedName] = []*vcard.Field{{}}
		vcardfields.Set(c.props, vcard.FieldFormattedName, fn)
	}
	if c.props[vcard.FieldName] == nil {
		c.props[vcard.FieldName] = []*vcard.Field{{Value: ";;;;"}}
	}
	return c
}

// displayName makes an FN from the name parts, else ORG, else EMAIL.
func (c *Card) displayName() string {
	var parts []string
	for _, f := range []string{"N.prefix", "N.given", "N.middle", "N.family", "N.suffix"} {
		if v := strings.TrimSpace(c.Value(f)); v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, " ")
	}
	if org := c.Value(vcard.FieldOrganization); org != "" {
		return strings.Join(strings.Fields(strings.ReplaceAll(org, ";", " ")), " ")
	}
	return c.Value(vcard.FieldEmail)
}

// Read returns the values of fields; fields that are not set (or unknown
// names) are left out of the map.
func (c *Card) Read(fields []string) map[string]string {
	return vcardfields.Read(c.props, fields)
}

// Value returns one field's value ("" when not set).
func (c *Card) Value(field string) string {
	return vcardfields.Value(c.props, field)
}

// Values returns the field's value in every instance of its property (all
// EMAILs, say, not only the preferred one), in card order.
func (c *Card) Values(field string) []string {
	prop, _, _ := strings.Cut(field, ".")
	var out []string
	for _, f := range c.props[strings.ToUpper(prop)] {
		out = append(out, vcardfields.Value(vcard.Card{strings.ToUpper(prop): {f}}, field))
	}
	return out
}

// Properties returns the names of the card's properties, sorted.
func (c *Card) Properties() []string {
	return sortedKeys(c.props)
}

// Revision returns the time in the card's REV property.
func (c *Card) Revision() (time.Time, error) {
	return c.props.Revision()
}

// Apply sets fields, "" clearing one (see package vcardfields), and reports
// whether the card changed. A field whose value is already the one given is
// left alone, byte for byte; unknown names are ignored.
func (c *Card) Apply(fields map[string]string) (changed bool) {
	diff := make(map[string]string, len(fields))
	for k, v := range fields {
		if vcardfields.Known(k) && c.Value(k) != v {
			diff[k] = v
		}
	}
	if len(diff) == 0 {
		return false
	}
	vcardfields.Apply(c.props, diff)
	return true
}

// Bytes writes the card: unchanged lines byte for byte, changed properties
// rewritten with their original group, name and parameters, removed
// properties left out, new properties just before END:VCARD.
func (c *Card) Bytes() []byte {
	if c.end == 1 && len(c.lines) == 2 {
		return c.newBytes()
	}
	return c.editedBytes()
}

// editedBytes is Bytes for a card read from text (or any card).
func (c *Card) editedBytes() []byte {
	live := make(map[*vcard.Field]bool)
	for _, fs := range c.props {
		for _, f := range fs {
			live[f] = true
		}
	}
	var b strings.Builder
	for i, ln := range c.lines {
		if i == c.end {
			c.writeNew(&b)
		}
		switch {
		case ln.field == nil:
			b.WriteString(ln.raw)
		case !live[ln.field]:
			// removed
		case ln.field.Value == ln.value:
			b.WriteString(ln.raw)
		default:
			writeFolded(&b, ln.prefix+ln.field.Value, c.eol)
		}
	}
	return []byte(b.String())
}

// newBytes writes a card that has no property lines yet (one New made):
// BEGIN, its properties as writeNew orders them, END. The general path's
// maps of live and old fields are not needed; a first sync writes 10,000
// such cards.
func (c *Card) newBytes() []byte {
	n := len(c.lines[0].raw) + len(c.lines[1].raw)
	for key, fs := range c.props {
		for _, f := range fs {
			n += len(key) + len(f.Value) + 16
		}
	}
	b := bytes.NewBuffer(make([]byte, 0, n+n/64))
	b.WriteString(c.lines[0].raw)
	write := func(key string) {
		for _, f := range c.props[key] {
			if f.Group == "" && len(f.Params) == 0 && len(key)+1+len(f.Value) <= foldAt {
				// a short plain line, as formatProp and writeFolded would
				// write it, without building it first
				b.WriteString(key)
				b.WriteByte(':')
				b.WriteString(f.Value)
				b.WriteString(c.eol)
				continue
			}
			writeFolded(b, formatProp(key, f), c.eol)
		}
	}
	first := []string{vcard.FieldVersion, vcard.FieldUID, vcard.FieldFormattedName, vcard.FieldName}
	for _, key := range first {
		write(key)
	}
	for _, key := range sortedKeys(c.props) {
		if !slices.Contains(first, key) {
			write(key)
		}
	}
	b.WriteString(c.lines[1].raw)
	return b.Bytes()
}

// writeNew writes the properties that have no line yet (added by an edit):
// VERSION, UID, FN and N first, then the rest by name.
func (c *Card) writeNew(b *strings.Builder) {
	old := make(map[*vcard.Field]bool, len(c.lines))
	for _, ln := range c.lines {
		if ln.field != nil {
			old[ln.field] = true
		}
	}
	first := []string{vcard.FieldVersion, vcard.FieldUID, vcard.FieldFormattedName, vcard.FieldName}
	done := map[string]bool{}
	for _, key := range append(first, sortedKeys(c.props)...) {
		if done[key] {
			continue
		}
		done[key] = true
		for _, f := range c.props[key] {
			if !old[f] {
				writeFolded(b, formatProp(key, f), c.eol)
			}
		}
	}
}

func nextLine(s string, pos int) int {
	if i := strings.IndexByte(s[pos:], '\n'); i >= 0 {
		return pos + i + 1
	}
	return len(s)
}

func short(s string) string {
	if len(s) > 30 {
		s = s[:30] + "…"
	}
	return strconv.Quote(s)
}

func sortedKeys(c vcard.Card) []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// formatProp formats a property whose Value is already vCard text.
func formatProp(key string, f *vcard.Field) string {
	var s strings.Builder
	if f.Group != "" {
		s.WriteString(f.Group + ".")
	}
	s.WriteString(key)
	pk := make([]string, 0, len(f.Params))
	for k := range f.Params {
		pk = append(pk, k)
	}
	sort.Strings(pk)
	for _, k := range pk {
		if len(f.Params[k]) == 0 {
			continue
		}
		s.WriteString(";" + k + "=")
		for i, v := range f.Params[k] {
			if i > 0 {
				s.WriteByte(',')
			}
			if strings.ContainsAny(v, ",;:") {
				v = `"` + strings.ReplaceAll(v, `"`, "'") + `"`
			}
			s.WriteString(v)
		}
	}
	s.WriteByte(':')
	s.WriteString(f.Value)
	return s.String()
}
