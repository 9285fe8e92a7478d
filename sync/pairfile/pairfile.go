// Package pairfile reads and writes the pair file: the JSON description of
// a pair (two connections, a field map, policies) that `tandem pair import`
// takes and `tandem pair export` prints. Secrets never appear in it.
package pairfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/sync/engine"
)

// Defaults for the optional keys.
const (
	DefaultConflict   = models.ConflictNewest
	DefaultDeletes    = models.DeletePropagate
	DefaultInterval   = "5m"
	DefaultBrakeShare = 0.25
)

// File is the pair file's shape.
type File struct {
	Name       string         `json:"name"`
	A          Conn           `json:"a"`
	B          Conn           `json:"b"`
	Key        string         `json:"key"`
	Fields     []models.Field `json:"fields"`
	Conflict   string         `json:"conflict,omitempty"`
	Deletes    string         `json:"deletes,omitempty"`
	Interval   string         `json:"interval,omitempty"`
	BrakeShare *float64       `json:"brake_share,omitempty"`
	Paused     bool           `json:"paused,omitempty"`
}

// Conn is one side's connection in a pair file.
type Conn struct {
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`
	Settings map[string]string `json:"settings,omitempty"`
}

// ReadFile parses and validates the pair file at path.
func ReadFile(path string) (*models.Pair, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse decodes a pair file strictly (unknown keys are errors), fills the
// defaults and validates the result.
func Parse(data []byte) (*models.Pair, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, decodeError(data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		return nil, fmt.Errorf("%s: unexpected data after the pair's closing brace", position(data, off))
	}
	p, err := f.Pair()
	if err != nil {
		return nil, err
	}
	return p, nil
}

func decodeError(data []byte, dec *json.Decoder, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("the pair file is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: the pair file ends too early (a missing } or ]?)", position(data, int64(len(data))))
	case errors.As(err, &syn):
		return fmt.Errorf("%s: not valid JSON: %s", position(data, syn.Offset), strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = "the pair"
		}
		return fmt.Errorf("%s: %q should be %s, not a JSON %s", position(data, typ.Offset), where, kindOf(typ.Type.String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		off := dec.InputOffset()
		if loc := regexp.MustCompile(regexp.QuoteMeta(name) + `\s*:`).FindIndex(data); loc != nil {
			off = int64(loc[0])
		}
		return fmt.Errorf("%s: unknown key %s (known keys: name, a, b, key, fields, conflict, deletes, interval, brake_share, paused; a connection has name, kind, settings; a field has name, a, b, transform, a_format, b_format, lookup, region, direction)",
			position(data, off), name)
	}
	return fmt.Errorf("%s: %v", position(data, dec.InputOffset()), err)
}

func kindOf(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "an object"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "float"), strings.HasPrefix(goType, "*float"):
		return "a number"
	}
	return goType
}

// position renders a byte offset as "line L, column C (offset O)".
func position(data []byte, off int64) string {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("line %d, column %d (offset %d)", line, col, off)
}

// Pair turns a decoded file into a validated pair.
func (f File) Pair() (*models.Pair, error) {
	p := &models.Pair{
		Name:       strings.TrimSpace(f.Name),
		A:          models.Connection{Name: strings.TrimSpace(f.A.Name), Kind: f.A.Kind, Settings: f.A.Settings},
		B:          models.Connection{Name: strings.TrimSpace(f.B.Name), Kind: f.B.Kind, Settings: f.B.Settings},
		Key:        f.Key,
		Fields:     f.Fields,
		Conflict:   f.Conflict,
		Deletes:    f.Deletes,
		Interval:   f.Interval,
		BrakeShare: DefaultBrakeShare,
		Paused:     f.Paused,
	}
	if p.Conflict == "" {
		p.Conflict = DefaultConflict
	}
	if p.Deletes == "" {
		p.Deletes = DefaultDeletes
	}
	if p.Interval == "" {
		p.Interval = DefaultInterval
	}
	if f.BrakeShare != nil {
		p.BrakeShare = *f.BrakeShare
	}
	if p.A.Settings == nil {
		p.A.Settings = map[string]string{}
	}
	if p.B.Settings == nil {
		p.B.Settings = map[string]string{}
	}
	if err := Validate(p); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks what the file format adds to the engine's own checks:
// names, the interval, the brake share, registered kinds and their settings.
func Validate(p *models.Pair) error {
	if p.Name == "" {
		return errors.New(`the pair needs a "name"`)
	}
	d, err := time.ParseDuration(p.Interval)
	if err != nil || d <= 0 {
		return fmt.Errorf(`"interval" %q is not a duration such as "30s", "5m" or "1h"`, p.Interval)
	}
	if d < time.Second {
		return fmt.Errorf(`"interval" %q is shorter than one second`, p.Interval)
	}
	if p.BrakeShare <= 0 || p.BrakeShare > 1 {
		return fmt.Errorf(`"brake_share" %v must be above 0 and at most 1 (the largest share of a side one run may delete)`, p.BrakeShare)
	}
	for _, side := range []struct {
		label string
		c     models.Connection
	}{{"a", p.A}, {"b", p.B}} {
		if side.c.Name == "" {
			return fmt.Errorf(`connection %q needs a "name"`, side.label)
		}
		k, ok := connector.Lookup(side.c.Kind)
		if !ok {
			return fmt.Errorf(`connection %q: unknown kind %q (known: %s)`, side.c.Name, side.c.Kind, strings.Join(kindNames(), ", "))
		}
		known := map[string]bool{}
		for _, s := range k.Settings {
			known[s.Key] = true
		}
		var unknown []string
		for key := range side.c.Settings {
			if !known[key] {
				unknown = append(unknown, key)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			var keys []string
			for _, s := range k.Settings {
				keys = append(keys, s.Key)
			}
			msg := fmt.Sprintf("connection %q: unknown setting %q (kind %s takes: %s)", side.c.Name, unknown[0], k.Name, strings.Join(keys, ", "))
			if k.NeedsSecret {
				msg += fmt.Sprintf("; the %s goes in the OS keyring: tandem secret set %q", strings.ToLower(k.SecretLabel), side.c.Name)
			}
			return errors.New(msg)
		}
		for _, s := range k.Settings {
			if s.Required && side.c.Settings[s.Key] == "" && s.Default == "" {
				return fmt.Errorf("connection %q: setting %q (%s) is required", side.c.Name, s.Key, s.Label)
			}
		}
	}
	if p.A.Name == p.B.Name {
		return fmt.Errorf("connections a and b are both named %q; a pair joins two different connections", p.A.Name)
	}
	return engine.ValidatePair(p)
}

func kindNames() []string {
	var out []string
	for _, k := range connector.Kinds() {
		out = append(out, k.Name)
	}
	if len(out) == 0 {
		return []string{"none registered"}
	}
	return out
}

// FromPair is the file form of a pair (no ids, cursors or secrets).
func FromPair(p *models.Pair) File {
	share := p.BrakeShare
	f := File{
		Name:       p.Name,
		A:          Conn{Name: p.A.Name, Kind: p.A.Kind, Settings: p.A.Settings},
		B:          Conn{Name: p.B.Name, Kind: p.B.Kind, Settings: p.B.Settings},
		Key:        p.Key,
		Fields:     p.Fields,
		Conflict:   p.Conflict,
		Deletes:    p.Deletes,
		Interval:   p.Interval,
		BrakeShare: &share,
		Paused:     p.Paused,
	}
	if f.Fields == nil {
		f.Fields = []models.Field{}
	}
	return f
}

// Export renders a pair as an indented pair file that Parse reads back
// to the same pair.
func Export(p *models.Pair) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(FromPair(p)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
