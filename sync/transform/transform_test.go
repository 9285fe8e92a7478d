package transform

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"tandem/models"
)

type conv struct {
	native, canonical string
	wantErr           string // substring; "" = no error
}

func run(t *testing.T, f models.Field, side string, cases []conv) {
	t.Helper()
	c, err := For(f, side)
	if err != nil {
		t.Fatalf("For(%+v, %s): %v", f, side, err)
	}
	for _, tc := range cases {
		got, err := c.ToCanonical(tc.native)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s side %s ToCanonical(%q) = %q, %v; want error containing %q", f.Transform, side, tc.native, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.canonical {
			t.Errorf("%s side %s ToCanonical(%q) = %q, %v; want %q", f.Transform, side, tc.native, got, err, tc.canonical)
		}
	}
}

func TestNames(t *testing.T) {
	want := []string{"", "trim", "email", "phone", "date", "lookup"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	for _, n := range Names() {
		f := models.Field{Name: "x", Transform: n, Lookup: map[string]string{"a": "b"}}
		if err := Validate(f); err != nil {
			t.Errorf("Validate(%q) = %v", n, err)
		}
		for _, side := range []string{"a", "b"} {
			if _, err := For(f, side); err != nil {
				t.Errorf("For(%q, %s) = %v", n, side, err)
			}
		}
	}
}

func TestIdentityAndTrim(t *testing.T) {
	run(t, models.Field{Name: "n"}, "a", []conv{
		{"  Ada ", "  Ada ", ""}, {"", "", ""}, {"x\ny", "x\ny", ""},
	})
	run(t, models.Field{Name: "n", Transform: "trim"}, "b", []conv{
		{"  Ada \t", "Ada", ""}, {"", "", ""}, {"   ", "", ""}, {"a b", "a b", ""},
	})
}

func TestEmail(t *testing.T) {
	f := models.Field{Name: "email", Transform: "email"}
	run(t, f, "a", []conv{
		{" Ada@Example.COM ", "ada@example.com", ""},
		{"", "", ""},
		{"   ", "", ""},
		{"no-at-sign", "", `field "email": "no-at-sign" is not an email address`},
		{"@example.com", "", "not an email address"},
		{"ada@", "", "not an email address"},
		{"a da@example.com", "", "not an email address"},
	})
	c, _ := For(f, "b")
	if got, err := c.FromCanonical("ada@example.com"); err != nil || got != "ada@example.com" {
		t.Fatalf("FromCanonical = %q, %v", got, err)
	}
}

func TestPhone(t *testing.T) {
	f := models.Field{Name: "phone", Transform: "phone"}
	run(t, f, "a", []conv{
		{"+1 555 123 4567", "+15551234567", ""},
		{"(555) 123-4567", "+15551234567", ""},
		{"+44 20 7946 0958", "+442079460958", ""},
		{"+1 555 123 4567 ext. 89", "+15551234567;ext=89", ""},
		{"", "", ""},
		{"call me maybe", "", `field "phone": "call me maybe" is not a phone number`},
		{"12", "", "not a phone number"},
		// the library drops a zero on every pass: no stable canonical form
		{"+310000000", "", "not a phone number"},
	})
	run(t, models.Field{Name: "phone", Transform: "phone", Region: "gb"}, "b", []conv{
		{"020 7946 0958", "+442079460958", ""},
		{"+1 555 123 4567", "+15551234567", ""},
	})
	c, _ := For(f, "b")
	for _, v := range []string{"+15551234567", "+15551234567;ext=89"} {
		got, err := c.FromCanonical(v)
		if err != nil || got != v {
			t.Errorf("FromCanonical(%q) = %q, %v", v, got, err)
		}
		back, err := c.ToCanonical(got)
		if err != nil || back != v {
			t.Errorf("round trip %q -> %q -> %q, %v", v, got, back, err)
		}
	}
	if err := Validate(models.Field{Name: "phone", Transform: "phone", Region: "Narnia"}); err == nil || !strings.Contains(err.Error(), "unknown phone region") {
		t.Fatalf("Validate bad region = %v", err)
	}
}

func TestDate(t *testing.T) {
	f := models.Field{Name: "birthday", Transform: "date", BFormat: "01/02/2006"}
	run(t, f, "a", []conv{
		{"1985-04-12", "1985-04-12", ""},
		{" 1985-04-12 ", "1985-04-12", ""},
		{"19850412", "1985-04-12", ""},
		{"--0412", "--04-12", ""},
		{"--04-12", "--04-12", ""},
		{"1985-04-12T00:00:00Z", "1985-04-12", ""},
		{"", "", ""},
		{"1985-13-01", "", `"1985-13-01" does not match date layout 2006-01-02`},
		{"04/12/1985", "", "does not match date layout 2006-01-02"},
	})
	run(t, f, "b", []conv{
		{"04/12/1985", "1985-04-12", ""},
		{"12/31", "", `field "birthday": "12/31" does not match date layout 01/02/2006`},
		{"1985-04-12", "", "does not match date layout 01/02/2006"},
	})
	run(t, models.Field{Name: "bd", Transform: "date", AFormat: "02.01."}, "a", []conv{
		{"12.04.", "--04-12", ""},
	})

	type from struct{ side, canonical, native, wantErr string }
	for _, tc := range []from{
		{"a", "1985-04-12", "1985-04-12", ""},
		{"b", "1985-04-12", "04/12/1985", ""},
		{"a", "--04-12", "--0412", ""},
		{"b", "--04-12", "", "has no year but date layout 01/02/2006 needs one"},
		{"b", "", "", ""},
		{"a", "12/31/1985", "", "is not a canonical date"},
	} {
		c, err := For(f, tc.side)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.FromCanonical(tc.canonical)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("side %s FromCanonical(%q) = %q, %v; want error %q", tc.side, tc.canonical, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.native {
			t.Errorf("side %s FromCanonical(%q) = %q, %v; want %q", tc.side, tc.canonical, got, err, tc.native)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		f       models.Field
		wantErr string
	}{
		{models.Field{Name: "x", Transform: "Date"}, `unknown transform "Date"`},
		{models.Field{Name: "x", Transform: "uppercase"}, `field "x": unknown transform "uppercase"`},
		{models.Field{Name: "bd", Transform: "date", BFormat: "MM/DD/YYYY"}, `side B: field "bd": date layout "MM/DD/YYYY" needs a month and a day`},
		{models.Field{Name: "bd", Transform: "date", AFormat: "%Y-%m-%d"}, "side A:"},
		{models.Field{Name: "bd", Transform: "date", AFormat: "2006"}, "needs a month and a day"},
		{models.Field{Name: "s", Transform: "lookup"}, `field "s": the lookup table is empty`},
		{models.Field{Name: "s", Transform: "lookup", Lookup: map[string]string{"x": "1", "y": "1"}}, `lookup maps both "x" and "y" to "1"`},
		{models.Field{Name: "s", Transform: "lookup", Lookup: map[string]string{"x": "1", "y": "1"}, Direction: models.DirAToB}, ""},
		{models.Field{Name: "bd", Transform: "date", AFormat: "02.01.2006", BFormat: "Jan 2, 2006"}, ""},
	} {
		err := Validate(tc.f)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v", tc.f, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.f, err, tc.wantErr)
		}
	}
	if _, err := For(models.Field{Name: "x", Transform: "nope"}, "a"); err == nil {
		t.Error("For(unknown transform) gave no error")
	}
	if _, err := For(models.Field{Name: "x"}, "c"); err == nil {
		t.Error("For(side c) gave no error")
	}
}

func TestLookup(t *testing.T) {
	f := models.Field{Name: "status", Transform: "lookup", Lookup: map[string]string{"customer": "Kunde", "lead": "Interessent"}}
	run(t, f, "a", []conv{
		{"customer", "customer", ""}, {"", "", ""},
		{"Kunde", "", `field "status": "Kunde" is not in the lookup table of side A`},
	})
	run(t, f, "b", []conv{
		{"Kunde", "customer", ""}, {" Interessent ", "lead", ""}, {"", "", ""},
		{"customer", "", "is not in the lookup table of side B"},
	})
	a, _ := For(f, "a")
	b, _ := For(f, "b")
	if got, err := b.FromCanonical("lead"); err != nil || got != "Interessent" {
		t.Errorf("b.FromCanonical(lead) = %q, %v", got, err)
	}
	if got, err := a.FromCanonical("lead"); err != nil || got != "lead" {
		t.Errorf("a.FromCanonical(lead) = %q, %v", got, err)
	}
	if _, err := b.FromCanonical("Kunde"); err == nil {
		t.Error("b.FromCanonical of a B value gave no error")
	}
	many := models.Field{Name: "s", Transform: "lookup", Lookup: map[string]string{"x": "1", "y": "1", "z": "2"}, Direction: models.DirAToB}
	mb, _ := For(many, "b")
	if _, err := mb.ToCanonical("1"); err == nil || !strings.Contains(err.Error(), "several A values") {
		t.Errorf("ambiguous lookup read back = %v", err)
	}
	if got, err := mb.ToCanonical("2"); err != nil || got != "z" {
		t.Errorf("unambiguous = %q, %v", got, err)
	}
}

func TestErrorShapeIsShortened(t *testing.T) {
	long := strings.Repeat("x", 500)
	for _, f := range []models.Field{
		{Name: "p", Transform: "phone"}, {Name: "e", Transform: "email"}, {Name: "d", Transform: "date"},
		{Name: "l", Transform: "lookup", Lookup: map[string]string{"a": "b"}},
	} {
		c, _ := For(f, "a")
		_, err := c.ToCanonical(long)
		if err == nil {
			t.Fatalf("%s: no error for a long junk value", f.Transform)
		}
		if strings.Contains(err.Error(), strings.Repeat("x", 41)) || !strings.Contains(err.Error(), "500 characters") {
			t.Errorf("%s: error not shortened: %.120s", f.Transform, err)
		}
		if !strings.Contains(err.Error(), `"`+f.Name+`"`) {
			t.Errorf("%s: error does not name the field: %v", f.Transform, err)
		}
	}
}

// ---- fuzz targets: never panic, conversions are stable ----

func FuzzDate(f *testing.F) {
	for _, s := range []string{"1985-04-12", "04/12/1985", "--0412", "19850412", "2000-02-30", "", "1985-04-12T10:00:00+02:00"} {
		f.Add(s, "01/02/2006")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, native, layout string) {
		fld := models.Field{Name: "d", Transform: "date", AFormat: layout}
		if Validate(fld) != nil {
			return
		}
		c, err := For(fld, "a")
		if err != nil {
			t.Fatalf("Validate ok but For failed: %v", err)
		}
		canon, err := c.ToCanonical(native)
		if err != nil {
			return
		}
		// Canonical is YYYY-MM-DD or --MM-DD, and stable through a write and a read.
		if strings.TrimSpace(native) != "" && !isCanonicalDate(canon) {
			t.Fatalf("ToCanonical(%q) = %q: not canonical", native, canon)
		}
		back, err := c.FromCanonical(canon)
		if err != nil {
			return // e.g. a year beyond what the layout can write
		}
		again, err := c.ToCanonical(back)
		if err != nil || again != canon {
			t.Fatalf("round trip %q -> %q -> %q -> %q, %v", native, canon, back, again, err)
		}
	})
}

func isCanonicalDate(s string) bool {
	if strings.HasPrefix(s, "--") {
		return len(s) == 7 && s[4] == '-'
	}
	return len(s) == 10 && s[4] == '-' && s[7] == '-'
}

func FuzzPhone(f *testing.F) {
	for _, s := range []string{"+1 555 123 4567", "(555) 123-4567", "+44 20 7946 0958", "ext. 5", "+1555123456789012345", "tel:+1-555-123-4567;ext=3", ""} {
		f.Add(s, "")
		f.Add(s, "GB")
	}
	f.Fuzz(func(t *testing.T, native, region string) {
		fld := models.Field{Name: "p", Transform: "phone", Region: region}
		c, err := For(fld, "a")
		if err != nil {
			return
		}
		canon, err := c.ToCanonical(native)
		if err != nil {
			if strings.Contains(err.Error(), strings.Repeat("x", 41)) || !utf8.ValidString(err.Error()) && utf8.ValidString(native) {
				t.Fatalf("bad error text %q", err)
			}
			return
		}
		if native == "" || strings.TrimSpace(native) == "" {
			if canon != "" {
				t.Fatalf("blank %q -> %q", native, canon)
			}
			return
		}
		if !strings.HasPrefix(canon, "+") {
			t.Fatalf("ToCanonical(%q) = %q: not E.164", native, canon)
		}
		back, err := c.FromCanonical(canon)
		if err != nil || back != canon {
			t.Fatalf("FromCanonical(%q) = %q, %v", canon, back, err)
		}
		again, err := c.ToCanonical(back)
		if err != nil || again != canon {
			t.Fatalf("not stable: %q -> %q -> %q, %v", native, canon, again, err)
		}
	})
}

func FuzzEmail(f *testing.F) {
	for _, s := range []string{"Ada@Example.com", " a@b ", "@", "a@", "", "ÄDA@exämple.de", "a b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, native string) {
		c, _ := For(models.Field{Name: "e", Transform: "email"}, "b")
		canon, err := c.ToCanonical(native)
		if err != nil {
			return
		}
		if canon != strings.ToLower(canon) || canon != strings.TrimSpace(canon) {
			t.Fatalf("ToCanonical(%q) = %q: not lower-cased and trimmed", native, canon)
		}
		if canon != "" && !strings.Contains(canon, "@") {
			t.Fatalf("ToCanonical(%q) = %q: no @", native, canon)
		}
		back, err := c.FromCanonical(canon)
		if err != nil {
			t.Fatalf("FromCanonical(%q): %v", canon, err)
		}
		again, err := c.ToCanonical(back)
		if err != nil || again != canon {
			t.Fatalf("not stable: %q -> %q -> %q -> %q, %v", native, canon, back, again, err)
		}
	})
}

// The engine converts a big run's records on several goroutines: a
// converter is used concurrently, the phone one's lazily loaded metadata
// included (run with -race, this checks that they share nothing unguarded).
func TestConvertersConcurrently(t *testing.T) {
	fields := []models.Field{
		{Name: "phone", Transform: "phone"},
		{Name: "email", Transform: "email"},
		{Name: "bday", Transform: "date", AFormat: "01/02/2006"},
		{Name: "sub", Transform: "lookup", Lookup: map[string]string{"Y": "subscribed"}},
	}
	in := []string{"(555) 123-4567", " Ann@Example.COM ", "12/31/1990", "Y"}
	want := []string{"+15551234567", "ann@example.com", "1990-12-31", "Y"} // A's lookup values are the canonical ones
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, f := range fields {
				c, err := For(f, "a")
				if err != nil {
					t.Error(err)
					return
				}
				for range 50 {
					if got, err := c.ToCanonical(in[k]); got != want[k] || err != nil {
						t.Errorf("%s: %q, %v; want %q", f.Name, got, err, want[k])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
