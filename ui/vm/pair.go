package vm

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"tandem/models"
	"tandem/sync/engine"
	"tandem/sync/transform"
)

// Directions offered in the field editor, with their labels.
var Directions = []string{models.DirBoth, models.DirAToB, models.DirBToA}

// DirectionLabel is a readable direction.
func DirectionLabel(d string) string {
	switch d {
	case models.DirAToB:
		return "A → B only"
	case models.DirBToA:
		return "B → A only"
	default:
		return "Both ways"
	}
}

// DirectionFromLabel inverts DirectionLabel.
func DirectionFromLabel(l string) string {
	for _, d := range Directions {
		if DirectionLabel(d) == l {
			return d
		}
	}
	return models.DirBoth
}

// Transforms lists the transform names ("" = none).
func Transforms() []string { return transform.Names() }

// Fields edits a pair's field map.
type Fields struct {
	store *models.Store
	Rows  []models.Field
	Key   string
}

// NewFields returns the field editor state for p.
func NewFields(store *models.Store) *Fields { return &Fields{store: store} }

// Load copies p's field map into the editor.
func (f *Fields) Load(p *models.Pair) {
	f.Rows = append([]models.Field(nil), p.Fields...)
	for i := range f.Rows {
		if f.Rows[i].Lookup != nil {
			m := make(map[string]string, len(f.Rows[i].Lookup))
			for k, v := range f.Rows[i].Lookup {
				m[k] = v
			}
			f.Rows[i].Lookup = m
		}
	}
	f.Key = p.Key
}

// Add appends an empty field.
func (f *Fields) Add() { f.Rows = append(f.Rows, models.Field{Direction: models.DirBoth}) }

// Remove deletes field i.
func (f *Fields) Remove(i int) {
	if i >= 0 && i < len(f.Rows) {
		if f.Rows[i].Name == f.Key {
			f.Key = ""
		}
		f.Rows = append(f.Rows[:i], f.Rows[i+1:]...)
	}
}

// ParseLookup reads a lookup table typed one "A value = B value" a line.
func ParseLookup(s string) (map[string]string, error) {
	out := map[string]string{}
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		a, b, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("lookup line %d: write it as \"A value = B value\"", n+1)
		}
		out[strings.TrimSpace(a)] = strings.TrimSpace(b)
	}
	return out, nil
}

// FormatLookup writes a lookup table one "A = B" a line.
func FormatLookup(m map[string]string) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, k+" = "+v)
	}
	sortStrings(lines)
	return strings.Join(lines, "\n")
}

// Save validates the edited map (engine.ValidatePair) and stores it in p.
// An invalid map is refused with the reason and nothing is stored.
func (f *Fields) Save(p *models.Pair) error {
	np := *p
	np.Fields = make([]models.Field, len(f.Rows))
	for i, r := range f.Rows {
		r.Name = strings.TrimSpace(r.Name)
		r.A = strings.TrimSpace(r.A)
		r.B = strings.TrimSpace(r.B)
		if r.Direction == models.DirBoth {
			r.Direction = ""
		}
		if r.Transform != transform.Date {
			r.AFormat, r.BFormat = "", ""
		}
		if r.Transform != transform.Lookup {
			r.Lookup = nil
		}
		if r.Transform != transform.Phone {
			r.Region = ""
		}
		np.Fields[i] = r
	}
	np.Key = strings.TrimSpace(f.Key)
	if err := engine.ValidatePair(&np); err != nil {
		return fmt.Errorf("the field map was not saved: %w", err)
	}
	if err := f.store.SavePair(&np); err != nil {
		return err
	}
	*p = np
	return nil
}

// Policies, with labels for the settings form.
var (
	ConflictPolicies = []string{models.ConflictNewest, models.ConflictAWins, models.ConflictBWins, models.ConflictManual}
	DeletePolicies   = []string{models.DeletePropagate, models.DeleteIgnore, models.DeleteConfirm}
)

// PolicyLabel is a readable policy.
func PolicyLabel(p string) string {
	switch p {
	case models.ConflictNewest:
		return "Newest change wins"
	case models.ConflictAWins:
		return "Side A wins"
	case models.ConflictBWins:
		return "Side B wins"
	case models.ConflictManual:
		return "Ask me (mark as conflict)"
	case models.DeletePropagate:
		return "Delete on the other side too"
	case models.DeleteIgnore:
		return "Only unlink (keep the other record)"
	case models.DeleteConfirm:
		return "Ask me before deleting"
	}
	return p
}

// PolicyFromLabel inverts PolicyLabel within a list.
func PolicyFromLabel(list []string, label string) string {
	for _, p := range list {
		if PolicyLabel(p) == label {
			return p
		}
	}
	return ""
}

// Settings is the pair's schedule and policies as typed.
type Settings struct {
	Interval   string
	Conflict   string
	Deletes    string
	BrakeShare string // percent, e.g. "25"
}

// SettingsOf reads p's settings for the form.
func SettingsOf(p *models.Pair) Settings {
	share := p.BrakeShare
	if share == 0 {
		share = 0.25
	}
	return Settings{Interval: p.Interval, Conflict: orDefault(p.Conflict, models.ConflictNewest),
		Deletes: orDefault(p.Deletes, models.DeletePropagate), BrakeShare: strconv.FormatFloat(share*100, 'f', -1, 64)}
}

// MinInterval is the shortest sync interval allowed.
const MinInterval = 10 * time.Second

// SaveSettings validates s and stores it in p.
func SaveSettings(store *models.Store, p *models.Pair, s Settings) error {
	d, err := time.ParseDuration(strings.TrimSpace(s.Interval))
	if err != nil {
		return fmt.Errorf("interval %q is not a duration: write it like 30s, 5m or 1h", s.Interval)
	}
	if d < MinInterval {
		return fmt.Errorf("interval %s is too short: the shortest is %s", d, MinInterval)
	}
	pct, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s.BrakeShare), "%"), 64)
	if err != nil || math.IsNaN(pct) || pct <= 0 || pct > 100 {
		return errors.New("the brake threshold is a percentage above 0 and at most 100")
	}
	np := *p
	np.Interval = d.String()
	np.Conflict, np.Deletes, np.BrakeShare = s.Conflict, s.Deletes, pct/100
	if err := engine.ValidatePair(&np); err != nil {
		return fmt.Errorf("not saved: %w", err)
	}
	if err := store.SavePair(&np); err != nil {
		return err
	}
	*p = np
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
