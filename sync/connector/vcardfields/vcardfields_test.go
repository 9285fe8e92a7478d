package vcardfields

import (
	"bytes"
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

func parse(t *testing.T, s string) vcard.Card {
	t.Helper()
	c, err := vcard.NewDecoder(strings.NewReader(s)).Decode()
	if err != nil {
		t.Fatal(err)
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
	var buf bytes.Buffer
	if err := vcard.NewEncoder(&buf).Encode(c); err != nil {
		t.Fatal(err)
	}
	c2 := parse(t, buf.String())
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
	if v := Value(c2, "ADR.street"); v != "1 New; Road" {
		t.Errorf("ADR.street = %q", v)
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
