package vcardtext

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
)

// foldAt is the longest content line, in octets, before it is folded.
const foldAt = 75

// writeFolded writes one content line folded at foldAt octets (RFC 6350
// 3.2), never inside a UTF-8 sequence.
func writeFolded(b interface {
	WriteString(string) (int, error)
	WriteByte(byte) error
}, line, eol string) {
	limit := foldAt
	for len(line) > limit {
		cut := limit
		for cut > 1 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		b.WriteString(line[:cut])
		b.WriteString(eol)
		b.WriteByte(' ')
		line = line[cut:]
		limit = foldAt - 1
	}
	b.WriteString(line)
	b.WriteString(eol)
}

// ---- line grammar, after github.com/emersion/go-vcard decoder.go (MIT) ----

// parseLine parses an unfolded content line into field. valueAt is the
// offset of the value in l. Values are kept as raw text.
func parseLine(l string, field *vcard.Field) (key string, valueAt int, err error) {
	rest := l
	if i := strings.IndexAny(rest, ".;:"); i >= 0 && rest[i] == '.' {
		field.Group, rest = rest[:i], rest[i+1:]
	}
	i := strings.IndexAny(rest, ";:")
	if i < 0 {
		return "", 0, errors.New("no ':'")
	}
	key = strings.ToUpper(rest[:i])
	if key == "" {
		return "", 0, errors.New("empty name")
	}
	hasParams := rest[i] == ';'
	rest = rest[i+1:]
	if hasParams {
		field.Params, rest, err = parseParams(rest)
		if err != nil {
			return "", 0, err
		}
	}
	field.Value = rest
	return key, len(l) - len(rest), nil
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
		if old := params[k]; old != nil {
			params[k] = append(old, values...)
		} else {
			params[k] = values
		}
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
