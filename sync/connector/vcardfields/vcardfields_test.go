package vcardfields

import (
	"strings"
	"testing"

	"github.com/emersion/go-vcard"
)

const sample = "BEGIN:VCARD\r\n" +
	"VERSION:3.0\r\n" +
	"UID:abc-1\r\n" +
	"FN:Ada Lovelace\r\n" +
	"N:Lovelace;Ada;King;Lady;\r\n" +
	"EMAIL;TYPE=work:ada@work.example\r\n" +
	"EMAIL;TYPE=home,pref:ada@home.example\r\n" +
	"TEL:+44 20 1234\r\n" +
	"ADR;TYPE=home:;;12 St James\\; Sq;London;;SW1;UK\r\n" +
	"NOTE:line one\\nline two\\, with comma\r\n" +
	"X-CUSTOM;X-P=1:keep me\r\n" +
	"END:VCARD\r\n"

// parse builds a card holding raw (escaped) values, as package vcardtext
// does, from simple unfolded lines "NAME;K=v1,v2:value".
func parse(t *testing.T, s string) vcard.Card {
	t.Helper()
	c := vcard.Card{}
	for _, l := range strings.Split(strings.TrimSpace(s), "\r\n") {
		head, value, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("bad line %q", l)
		}
		name, params, _ := strings.Cut(head, ";")
		if name == "BEGIN" || name == "END" {
			continue
		}
		f := &vcard.Field{Value: value, Params: vcard.Params{}}
		if params != "" {
			k, v, _ := strings.Cut(params, "=")
			f.Params[strings.ToUpper(k)] = strings.Split(v, ",")
		}
		c.Add(name, f)
	}
	return c
}

func TestRead(t *testing.T) {
	c := parse(t, sample)
	got := Read(c, []string{"UID", "FN", "N.family", "N.given", "N.middle", "N.prefix", "N.suffix",
		"EMAIL", "TEL", "ADR.street", "ADR.locality", "ADR.postal_code", "ADR.country", "ADR.region", "NOTE", "BDAY", "N.bogus"})
	want := map[string]string{
		"UID": "abc-1", "FN": "Ada Lovelace", "N.family": "Lovelace", "N.given": "Ada", "N.middle": "King",
		"N.prefix": "Lady", "EMAIL": "ada@home.example", "TEL": "+44 20 1234",
		"ADR.street": "12 St James; Sq", "ADR.locality": "London", "ADR.postal_code": "SW1", "ADR.country": "UK",
		"NOTE": "line one\nline two, with comma",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d fields %v, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestApplyKeepsTheRest(t *testing.T) {
	c := parse(t, sample)
	Apply(c, map[string]string{
		"EMAIL":      "new@home.example",
		"N.given":    "Augusta",
		"ADR.street": "1 New; Road",
		"NOTE":       "",
		"BDAY":       "1815-12-10",
		"TEL":        "",
	})
	c2 := c
	if v := Value(c2, "EMAIL"); v != "new@home.example" {
		t.Errorf("EMAIL = %q", v)
	}
	// The non-preferred email and the TYPE params are untouched.
	emails := c2[vcard.FieldEmail]
	if len(emails) != 2 || emails[0].Value != "ada@work.example" || !emails[1].Params.HasType("pref") {
		t.Errorf("emails changed: %+v", emails)
	}
	if v := Value(c2, "N.given"); v != "Augusta" {
		t.Errorf("N.given = %q", v)
	}
	if v := Value(c2, "N.family"); v != "Lovelace" {
		t.Errorf("N.family = %q", v)
	}
	if v := Value(c2, "ADR.street"); v != "1 New; Road" || c2.Value("ADR") != `;;1 New\; Road;London;;SW1;UK` {
		t.Errorf("ADR.street = %q, ADR %q", v, c2.Value("ADR"))
	}
	if v := Value(c2, "ADR.locality"); v != "London" {
		t.Errorf("ADR.locality = %q", v)
	}
	if _, ok := c2[vcard.FieldNote]; ok {
		t.Errorf("NOTE not cleared")
	}
	if _, ok := c2[vcard.FieldTelephone]; ok {
		t.Errorf("TEL not cleared")
	}
	if v := c2.Value("BDAY"); v != "1815-12-10" {
		t.Errorf("BDAY = %q", v)
	}
	if f := c2.Get("X-CUSTOM"); f == nil || f.Value != "keep me" || f.Params.Get("X-P") != "1" {
		t.Errorf("unmapped property changed: %+v", f)
	}
	if v := c2.Value("UID"); v != "abc-1" {
		t.Errorf("UID = %q", v)
	}
}

func TestClearStructured(t *testing.T) {
	c := parse(t, sample)
	Apply(c, map[string]string{"ADR.street": "", "ADR.locality": "", "ADR.postal_code": "", "ADR.country": "",
		"N.family": "", "N.given": "", "N.middle": "", "N.prefix": "", "FN": ""})
	if _, ok := c[vcard.FieldAddress]; ok {
		t.Errorf("empty ADR kept: %v", c[vcard.FieldAddress][0].Value)
	}
	if f := c.Get(vcard.FieldName); f == nil || f.Value != ";;;;" {
		t.Errorf("N should stay, emptied: %+v", f)
	}
	if f := c.Get(vcard.FieldFormattedName); f == nil || f.Value != "" {
		t.Errorf("FN should stay, emptied: %+v", f)
	}
	if got := Read(c, []string{"FN", "N.family"}); len(got) != 0 {
		t.Errorf("cleared fields still read: %v", got)
	}
}

func TestApplyOnEmptyCard(t *testing.T) {
	c := vcard.Card{}
	Apply(c, map[string]string{"N.family": "Hopper", "ADR.country": "US", "EMAIL": "g@x.example"})
	if c.Value("N") != "Hopper;;;;" {
		t.Errorf("N = %q", c.Value("N"))
	}
	if c.Value("ADR") != ";;;;;;US" {
		t.Errorf("ADR = %q", c.Value("ADR"))
	}
	if Known("N.nope") || !Known("ADR.postal_code") || !Known("email") {
		t.Errorf("Known wrong")
	}
}

// Values are raw vCard text: escapes are undone once on read, done once on
// write, whatever the text holds.
func TestEscapesRoundTrip(t *testing.T) {
	for _, v := range []string{"a, b; c\nd", `back\slash \n not a newline`, `\`, "trailing\\", ";,;"} {
		c := parse(t, sample)
		Apply(c, map[string]string{"NOTE": v, "N.given": v})
		if got := Value(c, "NOTE"); got != v {
			t.Errorf("NOTE %q read back as %q (raw %q)", v, got, c.Value("NOTE"))
		}
		if got := Value(c, "N.given"); got != v {
			t.Errorf("N.given %q read back as %q (raw %q)", v, got, c.Value("N"))
		}
		if got := Value(c, "N.family"); got != "Lovelace" {
			t.Errorf("N.family = %q after writing N.given %q (raw %q)", got, v, c.Value("N"))
		}
	}
	c := parse(t, sample)
	if got := c.Value("NOTE"); got != `line one\nline two\, with comma` {
		t.Fatalf("raw NOTE %q", got)
	}
	Apply(c, map[string]string{"NOTE": "x,y;z\\"})
	if got := c.Value("NOTE"); got != `x\,y\;z\\` {
		t.Errorf("raw NOTE written as %q", got)
	}
}

// A structured property named whole reads as its parts joined by ";" and
// writes back the same way.
func TestWholeStructured(t *testing.T) {
	c := parse(t, sample)
	n := Value(c, "N")
	if n != "Lovelace;Ada;King;Lady;" {
		t.Fatalf("N = %q", n)
	}
	Apply(c, map[string]string{"N": "Byron;Ada, Countess;;;"})
	if c.Value("N") != `Byron;Ada\, Countess;;;` || Value(c, "N.given") != "Ada, Countess" || Value(c, "N") != "Byron;Ada, Countess;;;" {
		t.Errorf("N raw %q, given %q", c.Value("N"), Value(c, "N.given"))
	}
}

// A value ending in a lone backslash (malformed, but seen in the wild) must not
// swallow the separator when another component is set.
func TestDanglingBackslashKeepsComponents(t *testing.T) {
	card := vcard.Card{"N": {{Value: `Smith\`, Params: vcard.Params{}}}}
	Apply(card, map[string]string{"N.given": "a;b"})
	got := Read(card, []string{"N.family", "N.given"})
	if got["N.family"] != `Smith\` || got["N.given"] != "a;b" {
		t.Fatalf("got %q from %q", got, card["N"][0].Value)
	}
}
