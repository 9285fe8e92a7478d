package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"tandem/models"
	"tandem/sync/transform"
)

// ValidatePair checks a pair's config and says what is wrong in plain words:
// the key names a mapped field, no canonical name or native field is used
// twice on a side, transforms and their settings are known, policies and
// directions are known, the interval parses and the brake share is in (0,1]
// (0 means the default 0.25).
func ValidatePair(p *models.Pair) error {
	if p == nil {
		return errors.New("no pair")
	}
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if len(p.Fields) == 0 {
		add("the field map is empty")
	}
	names := map[string]bool{}
	natA := map[string]string{}
	natB := map[string]string{}
	keyMapped := false
	for i, f := range p.Fields {
		if strings.TrimSpace(f.Name) == "" {
			add("field %d has no name", i+1)
			continue
		}
		if names[f.Name] {
			add("field %q is mapped twice", f.Name)
		}
		names[f.Name] = true
		if f.Name == p.Key {
			keyMapped = true
		}
		if f.A == "" {
			add("field %q has no native field on side A", f.Name)
		} else if other, dup := natA[f.A]; dup {
			add("native field %q of side A is used by both %q and %q", f.A, other, f.Name)
		} else {
			natA[f.A] = f.Name
		}
		if f.B == "" {
			add("field %q has no native field on side B", f.Name)
		} else if other, dup := natB[f.B]; dup {
			add("native field %q of side B is used by both %q and %q", f.B, other, f.Name)
		} else {
			natB[f.B] = f.Name
		}
		if err := transform.Validate(f); err != nil {
			add("%v", err)
		}
		switch f.Direction {
		case "", models.DirBoth, models.DirAToB, models.DirBToA:
		default:
			add("field %q: unknown direction %q (want both, a-to-b or b-to-a)", f.Name, f.Direction)
		}
	}
	if p.Key == "" {
		add("no key field: name the canonical field used to match records (e.g. email)")
	} else if !keyMapped {
		add("the key %q is not a mapped field", p.Key)
	}
	switch p.Conflict {
	case "", models.ConflictNewest, models.ConflictAWins, models.ConflictBWins, models.ConflictManual:
	default:
		add("unknown conflict policy %q (want newest, a-wins, b-wins or manual)", p.Conflict)
	}
	switch p.Deletes {
	case "", models.DeletePropagate, models.DeleteIgnore, models.DeleteConfirm:
	default:
		add("unknown delete policy %q (want propagate, ignore or confirm)", p.Deletes)
	}
	if p.Interval != "" {
		d, err := time.ParseDuration(p.Interval)
		if err != nil || d <= 0 {
			add("interval %q is not a positive duration (e.g. 5m, 1h)", p.Interval)
		}
	}
	if p.BrakeShare < 0 || p.BrakeShare > 1 {
		add("brake share %v must be above 0 and at most 1", p.BrakeShare)
	}
	if len(errs) > 0 {
		return fmt.Errorf("pair %q: %s", p.Name, strings.Join(errs, "; "))
	}
	return nil
}

// NativeFields lists the native field names side ("a" or "b") maps, in
// field-map order, for connector.Config.Fields.
func NativeFields(p *models.Pair, side string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range p.Fields {
		n := f.A
		if side == models.SideB {
			n = f.B
		}
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
