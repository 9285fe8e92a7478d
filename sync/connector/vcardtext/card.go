package vcarddir

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
)

// cardFile is one .vcf file as content lines, so that an update rewrites
// only the lines of the properties it changes and keeps every other byte
// (folding, parameter order and case, groups, unknown lines) as it was.
//
// card holds the properties between BEGIN and END as go-vcard fields, in
// file order, so the shared vcardfields package reads and edits them. A
// field's Value is the raw (escaped) text of the file: vcardfields unescapes
// on read and escapes on write.
type cardFile struct {
	lines []cardLine
	card  vcard.Card
	end   int    // index of the END:VCARD line
	eol   string // line ending of the file ("\r\n" or "\n")
}

type cardLine struct {
	raw    string       // physical text, folding and line ending included
	field  *vcard.Field // the property, nil for BEGIN/END and lines that are not properties
	key    string       // property name, upper case
	prefix string       // unfolded text up to and including the ':' before the value
	value  string       // the value as read
}

// errMalformed describes why a file is not a usable vCard.
type errMalformed struct{ reason string }

func (e errMalformed) Error() string { return e.reason }

// parseCard reads one vCard. The grammar follows github.com/emersion/go-vcard
// (its decoder: logical lines unfolded, a line that is not a property is
// skipped, BEGIN:VCARD ... END:VCARD required), with one difference: a bare
// vCard 2.1 parameter ("TEL;CELL:+1...") is read as TYPE=CELL instead of
// swallowing the value. A file holding more than one card is malformed
// (vdir stores one card per file).
func parseCard(data []byte) (*cardFile, error) {
	if len(data) == 0 {
		return nil, errMalformed{"the file is empty"}
	}
	if !utf8.Valid(data) {
		return nil, errMalformed{"the file is not UTF-8 text"}
	}
	s := string(data)
	cf := &cardFile{card: make(vcard.Card), end: -1, eol: "\r\n"}
	if i := strings.IndexByte(s, '\n'); i > 0 && s[i-1] != '\r' {
		cf.eol = "\n"
	}
	begun := false
	for pos := 0; pos < len(s); {
		// One logical line: a physical line and the ones that continue it.
		start := pos
		next := nextLine(s, pos)
		unfolded := strings.TrimRight(s[pos:next], "\r\n")
		pos = next
		truncated := false
		for pos < len(s) && (s[pos] == ' ' || s[pos] == '\t') {
			next = nextLine(s, pos)
			if s[next-1] != '\n' {
				truncated = true // a continuation cut off at the end of the file
			}
			unfolded += strings.TrimRight(s[pos+1:next], "\r\n")
			pos = next
		}
		ln := cardLine{raw: s[start:pos]}
		if truncated {
			// go-vcard drops such a line; keep the bytes, treat as no property
			cf.lines = append(cf.lines, ln)
			continue
		}
		key, field, valueAt, err := parseLine(unfolded)
		switch {
		case err != nil:
			// not a property: kept as is, ignored
		case cf.end >= 0:
			return nil, errMalformed{"there is content after END:VCARD (one card per file)"}
		case !begun:
			if key != "BEGIN" {
				return nil, errMalformed{fmt.Sprintf("it does not start with BEGIN:VCARD (found %s)", short(key))}
			}
			if !strings.EqualFold(field.Value, "VCARD") {
				return nil, errMalformed{fmt.Sprintf("BEGIN:%s is not BEGIN:VCARD", short(field.Value))}
			}
			begun = true
		case key == "END":
			if !strings.EqualFold(field.Value, "VCARD") {
				return nil, errMalformed{fmt.Sprintf("END:%s is not END:VCARD", short(field.Value))}
			}
			cf.end = len(cf.lines)
		default:
			ln.field, ln.key, ln.value = field, key, field.Value
			ln.prefix = unfolded[:valueAt]
			cf.card[key] = append(cf.card[key], field)
		}
		cf.lines = append(cf.lines, ln)
	}
	if !begun {
		return nil, errMalformed{"there is no BEGIN:VCARD"}
	}
	if cf.end < 0 {
		return nil, errMalformed{"there is no END:VCARD (the file may be cut off)"}
	}
	return cf, nil
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

// render writes the card back: unchanged lines byte for byte, changed
// properties re-written with their original group, name and parameters,
// removed properties left out, new properties before END:VCARD.
func (cf *cardFile) render() []byte {
	live := make(map[*vcard.Field]bool)
	for _, fs := range cf.card {
		for _, f := range fs {
			live[f] = true
		}
	}
	var b strings.Builder
	for i, ln := range cf.lines {
		if i == cf.end {
			cf.renderNew(&b)
		}
		switch {
		case ln.field == nil:
			b.WriteString(ln.raw)
		case !live[ln.field]:
			// removed
		case ln.field.Value == ln.value:
			b.WriteString(ln.raw)
			delete(live, ln.field)
		default:
			writeFolded(&b, ln.prefix+ln.field.Value, cf.eol)
			delete(live, ln.field)
		}
	}
	return []byte(b.String())
}

// renderNew writes the properties that have no line yet (added by an edit).
func (cf *cardFile) renderNew(b *strings.Builder) {
	old := make(map[*vcard.Field]bool, len(cf.lines))
	for _, ln := range cf.lines {
		if ln.field != nil {
			old[ln.field] = true
		}
	}
	for _, key := range sortedKeys(cf.card) {
		for _, f := range cf.card[key] {
			if !old[f] {
				writeFolded(b, formatProp(key, f), cf.eol)
			}
		}
	}
}

// newCard renders a new vCard 3.0 from properties, in a stable order:
// VERSION, UID, FN, N, then the rest by name.
func newCard(card vcard.Card) []byte {
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\r\n")
	first := []string{vcard.FieldVersion, vcard.FieldUID, vcard.FieldFormattedName, vcard.FieldName}
	done := map[string]bool{}
	for _, key := range append(first, sortedKeys(card)...) {
		if done[key] {
			continue
		}
		done[key] = true
		for _, f := range card[key] {
			writeFolded(&b, formatProp(key, f), "\r\n")
		}
	}
	b.WriteString("END:VCARD\r\n")
	return []byte(b.String())
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

// writeFolded writes one content line folded at 75 octets (RFC 6350 3.2),
// never inside a UTF-8 sequence.
func writeFolded(b *strings.Builder, line, eol string) {
	const max = 75
	limit := max
	for len(line) > limit {
		cut := limit
		for cut > 1 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		b.WriteString(line[:cut])
		b.WriteString(eol)
		b.WriteByte(' ')
		line = line[cut:]
		limit = max - 1
	}
	b.WriteString(line)
	b.WriteString(eol)
}

// ---- line grammar, after github.com/emersion/go-vcard decoder.go (MIT) ----

// parseLine parses an unfolded content line. valueAt is the offset of the
// value in l. Values are kept as raw text.
func parseLine(l string) (key string, field *vcard.Field, valueAt int, err error) {
	field = new(vcard.Field)
	rest := l
	if i := strings.IndexAny(rest, ".;:"); i >= 0 && rest[i] == '.' {
		field.Group, rest = rest[:i], rest[i+1:]
	}
	i := strings.IndexAny(rest, ";:")
	if i < 0 {
		return "", nil, 0, errors.New("no ':'")
	}
	key = strings.ToUpper(rest[:i])
	if key == "" {
		return "", nil, 0, errors.New("empty name")
	}
	hasParams := rest[i] == ';'
	rest = rest[i+1:]
	if hasParams {
		field.Params, rest, err = parseParams(rest)
		if err != nil {
			return "", nil, 0, err
		}
	}
	field.Value = rest
	return key, field, len(l) - len(rest), nil
}

func parseParams(s string) (params vcard.Params, tail string, err error) {
	tail = s
	params = make(vcard.Params)
	for {
		i := strings.IndexAny(tail, "=;:")
		if i < 0 {
			return nil, "", errors.New("no ':' after the parameters")
		}
		if tail[i] != '=' {
			// a bare vCard 2.1 type ("TEL;CELL;VOICE:...")
			if name := tail[:i]; name != "" {
				params.Add(vcard.ParamType, name)
			}
			sep := tail[i]
			tail = tail[i+1:]
			if sep == ':' {
				return params, tail, nil
			}
			continue
		}
		k := strings.ToUpper(tail[:i])
		var values []string
		var more bool
		values, more, tail, err = parseParamValues(tail[i+1:])
		if err != nil {
			return nil, "", err
		}
		params[k] = append(params[k], values...)
		if !more {
			return params, tail, nil
		}
	}
}

func parseParamValues(s string) (values []string, more bool, tail string, err error) {
	var vs string
	if s != "" && s[0] == '"' {
		vs, tail, err = parseQuoted(s[1:], '"')
		if err != nil {
			return nil, false, "", err
		}
		if tail == "" || (tail[0] != ';' && tail[0] != ':') {
			return nil, false, "", errors.New("malformed quoted parameter value")
		}
		more = tail[0] != ':'
		tail = tail[1:]
	} else {
		i := strings.IndexAny(s, ";:")
		if i < 0 {
			return nil, false, "", errors.New("no ':' after the parameters")
		}
		vs, more, tail = s[:i], s[i] != ':', s[i+1:]
	}
	values = strings.Split(vs, ",")
	return values, more, tail, nil
}

func parseQuoted(s string, quote byte) (value, tail string, err error) {
	i := strings.IndexByte(s, quote)
	if i < 0 {
		return "", "", errors.New("unterminated quoted parameter value")
	}
	return s[:i], s[i+1:], nil
}
