// Package vcardfields maps a vCard's properties to and from the flat native
// fields the sync engine works with, so that every connector storing vCards
// names and treats fields the same way.
//
// The card is a github.com/emersion/go-vcard Card used as a container whose
// field Values are RAW vCard text, still escaped as in the file (package
// vcardtext holds cards that way). This package undoes the escapes
// (\n \, \; \\) on read and does them on write. Never hand it a card from
// go-vcard's Decoder, which has already unescaped some of them (a value
// would be unescaped twice), nor write its result with go-vcard's Encoder
// (which would escape again).
//
// Field names:
//   - a property name, upper case: "EMAIL", "TEL", "FN", "UID", "BDAY",
//     "NOTE", "ORG", ... The value is the property's text, unescaped. For
//     a structured property named whole ("N", "ADR") it is the parts joined
//     by ";".
//     For a property with several values (two EMAILs), the field is the
//     preferred one (PREF=1 or TYPE=pref), else the first.
//   - a structured part: "N.family", "N.given", "N.middle", "N.prefix",
//     "N.suffix", "ADR.pobox", "ADR.extended", "ADR.street",
//     "ADR.locality", "ADR.region", "ADR.postal_code", "ADR.country"
//     (of the preferred ADR).
//
// Writing "" clears a field: a simple property's preferred value is removed
// (other values of the same property stay), a structured part is emptied
// (an ADR left with no part is removed). FN and N are never removed, only
// emptied, because vCard requires them. Apply never touches a property or
// part it is not given: parameters (TYPE, PREF), groups and every unmapped
// property are kept exactly as they were.
package vcardfields

import (
	"strings"

	"github.com/emersion/go-vcard"
)

// Parts of the structured properties, in vCard order.
var structured = map[string][]string{
	vcard.FieldName:    {"family", "given", "middle", "prefix", "suffix"},
	vcard.FieldAddress: {"pobox", "extended", "street", "locality", "region", "postal_code", "country"},
}

// required properties are emptied rather than removed.
var required = map[string]bool{vcard.FieldFormattedName: true, vcard.FieldName: true}

// split parses "PROP" or "PROP.part" into the property name and the index of
// the part (-1 for a whole property). ok is false for an unknown part.
func split(field string) (prop string, part int, ok bool) {
	prop, sub, hasPart := strings.Cut(field, ".")
	prop = strings.ToUpper(prop)
	if !hasPart {
		return prop, -1, prop != ""
	}
	for i, p := range structured[prop] {
		if p == strings.ToLower(sub) {
			return prop, i, true
		}
	}
	return prop, 0, false
}

// Known reports whether field is a name this package understands.
func Known(field string) bool {
	_, _, ok := split(field)
	return ok
}

// Read returns the values of fields in card. Fields that are not set (or
// unknown names) are left out of the map.
func Read(card vcard.Card, fields []string) map[string]string {
	out := make(map[string]string, len(fields))
	for _, name := range fields {
		if v := Value(card, name); v != "" {
			out[name] = v
		}
	}
	return out
}

// Value returns one field's value in card ("" when not set).
func Value(card vcard.Card, field string) string {
	prop, part, ok := split(field)
	if !ok {
		return ""
	}
	f := card.Preferred(prop)
	if f == nil {
		return ""
	}
	if part < 0 {
		return unescape(f.Value)
	}
	comps := splitComponents(f.Value)
	if part >= len(comps) {
		return ""
	}
	return unescape(comps[part])
}

// Apply sets the given fields in card; "" clears one. Unknown field names
// are ignored. Nothing else in the card changes.
func Apply(card vcard.Card, fields map[string]string) {
	for name, value := range fields {
		Set(card, name, value)
	}
}

// Set sets one field in card ("" clears it); an unknown name is ignored.
func Set(card vcard.Card, name, value string) {
	prop, part, ok := split(name)
	if !ok {
		return
	}
	if part < 0 {
		setSimple(card, prop, value)
	} else {
		setPart(card, prop, part, value)
	}
}

func setSimple(card vcard.Card, prop, value string) {
	f := card.Preferred(prop)
	if value == "" {
		if f == nil {
			return
		}
		if required[prop] {
			f.Value = ""
			return
		}
		remove(card, prop, f)
		return
	}
	var raw string
	switch {
	case structured[prop] == nil:
		raw = escape(value)
	case strings.ContainsAny(value, "\\\n\r,"):
		// the whole of N or ADR: ";" separates the parts, as on read
		parts := strings.Split(value, ";")
		for i, p := range parts {
			parts[i] = escape(p)
		}
		raw = strings.Join(parts, ";")
	default:
		raw = value // no part needs an escape: the parts joined are the value
	}
	if f == nil {
		// no parameters: a nil map (read only; nothing here adds any)
		card.Add(prop, &vcard.Field{Value: raw})
		return
	}
	f.Value = raw
}

func setPart(card vcard.Card, prop string, part int, value string) {
	n := len(structured[prop])
	f := card.Preferred(prop)
	if f == nil {
		if value == "" {
			return
		}
		f = &vcard.Field{}
		card.Add(prop, f)
	}
	comps := splitComponents(f.Value)
	for len(comps) < n {
		comps = append(comps, "")
	}
	comps[part] = escape(value)
	empty := true
	for _, c := range comps {
		if c != "" {
			empty = false
		}
	}
	if empty && !required[prop] {
		remove(card, prop, f)
		return
	}
	f.Value = strings.Join(comps, ";")
}

func remove(card vcard.Card, prop string, f *vcard.Field) {
	list := card[prop]
	out := list[:0]
	for _, g := range list {
		if g != f {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		delete(card, prop)
		return
	}
	card[prop] = out
}

// splitComponents splits a structured value on the semicolons that are not
// escaped, keeping each component's escapes.
func splitComponents(v string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			cur.WriteByte(c)
			cur.WriteByte(v[i+1])
			i++
			continue
		}
		if c == '\\' {
			// A dangling backslash ends the value: keep it as an escaped
			// backslash (it reads the same), or joining the components
			// again would escape the next separator.
			cur.WriteString(`\\`)
			continue
		}
		if c == ';' {
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	return append(out, cur.String())
}

// unescape turns vCard text escapes (\n \, \; \\) into plain text.
func unescape(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			switch v[i] {
			case 'n', 'N':
				b.WriteByte('\n')
			default:
				b.WriteByte(v[i])
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// textEscaper is built once: a Replacer is costly to build and safe to share.
var textEscaper = strings.NewReplacer(`\`, `\\`, "\r\n", `\n`, "\n", `\n`, ",", `\,`, ";", `\;`)

// escape turns plain text into a vCard text value.
func escape(v string) string {
	if !strings.ContainsAny(v, "\\\n\r,;") {
		return v
	}
	return textEscaper.Replace(v)
}
