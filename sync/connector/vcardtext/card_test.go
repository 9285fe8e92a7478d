package vcardtext

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"
)

const ada = "BEGIN:VCARD\r\n" +
	"VERSION:3.0\r\n" +
	"PRODID:-//Test//EN\r\n" +
	"UID:ada-1\r\n" +
	"FN:Ada Lovelace\r\n" +
	"N:Lovelace;Ada;King;Lady;\r\n" +
	"item1.EMAIL;type=INTERNET;TYPE=work:ada@work.example\r\n" +
	"EMAIL;TYPE=home,pref:ada@home.example\r\n" +
	"TEL;TYPE=CELL:+44 20 1234\r\n" +
	"ADR;TYPE=home:;;12 St James\\; Sq;London;;SW1;UK\r\n" +
	"NOTE:a long note that goes on and on so that the line has to be folded by \r\n" +
	" the writer, with a comma\\, too\r\n" +
	"X-ABLabel:custom\r\n" +
	"item1.X-ABLabel:_$!<Work>!$_\r\n" +
	"END:VCARD\r\n"

func decode(t *testing.T, data []byte) vcard.Card {
	t.Helper()
	c, err := vcard.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		t.Fatalf("go-vcard cannot read %q: %v", data, err)
	}
	return c
}

func mustParse(t *testing.T, s string) *Card {
	t.Helper()
	c, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, s)
	}
	return c
}

func TestMalformed(t *testing.T) {
	for name, s := range map[string]string{
		"empty":   "",
		"nobegin": "FN:x\r\nEND:VCARD\r\n",
		"noend":   "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:cut off\r\n",
		"ical":    "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
		"two":     ada + ada,
		"binary":  "BEGIN:VCARD\r\nFN:\xff\xfe\r\nEND:VCARD\r\n",
	} {
		if c, err := Parse([]byte(s)); err == nil || c != nil {
			t.Errorf("%s: Parse = %v, %v", name, c, err)
		}
	}
}

// Text that needs escaping survives a write and a read unchanged, and the
// written line is what other vCard readers understand.
func TestEscapedValuesRoundTrip(t *testing.T) {
	for _, v := range []string{"a, b; c\nd", `C:\Users\ada \n (not a newline)`, `ends with \`, "é, \"quoted\"; x"} {
		c := mustParse(t, ada)
		if !c.Apply(map[string]string{"NOTE": v, "ADR.street": v}) {
			t.Fatal("Apply reports no change")
		}
		out := c.Bytes()
		back := mustParse(t, string(out))
		if got := back.Value("NOTE"); got != v {
			t.Errorf("NOTE %q read back as %q\n%s", v, got, out)
		}
		if got := back.Read([]string{"ADR.street", "ADR.locality"}); got["ADR.street"] != v || got["ADR.locality"] != "London" {
			t.Errorf("ADR read back as %q\n%s", got, out)
		}
		// go-vcard agrees on the simple text property (it leaves \; escaped)
		if got := decode(t, out).Value("NOTE"); got != strings.ReplaceAll(v, ";", `\;`) {
			t.Errorf("go-vcard reads NOTE %q as %q", v, got)
		}
	}
}

// Only the changed property's line differs; all other bytes are kept.
func TestApplyRewritesOnlyChangedLines(t *testing.T) {
	c := mustParse(t, ada)
	if c.Apply(map[string]string{"EMAIL": "ada@home.example", "BDAY": "", "N.given": "Ada"}) {
		t.Fatal("Apply of the current values reports a change")
	}
	if got := string(c.Bytes()); got != ada {
		t.Fatalf("no-op Apply changed the bytes:\n%s", got)
	}
	if !c.Apply(map[string]string{"EMAIL": "augusta@home.example", "TEL": "", "BDAY": "1815-12-10"}) {
		t.Fatal("Apply reports no change")
	}
	want := strings.Replace(ada, "EMAIL;TYPE=home,pref:ada@home.example", "EMAIL;TYPE=home,pref:augusta@home.example", 1)
	want = strings.Replace(want, "TEL;TYPE=CELL:+44 20 1234\r\n", "", 1)
	want = strings.Replace(want, "END:VCARD", "BDAY:1815-12-10\r\nEND:VCARD", 1)
	if got := string(c.Bytes()); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestLongValueFoldedWithTheCardsLineEnding(t *testing.T) {
	lf := strings.ReplaceAll(ada, "\r\n", "\n")
	c := mustParse(t, lf)
	note := strings.Repeat("é long ünïcode text, ", 12) + "\nsecond line"
	c.Apply(map[string]string{"NOTE": note})
	out := string(c.Bytes())
	if strings.Contains(out, "\r") {
		t.Fatal("line endings changed from LF to CRLF")
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 75 {
			t.Fatalf("line of %d octets: %q", len(l), l)
		}
	}
	if got := mustParse(t, out).Value("NOTE"); got != note {
		t.Fatalf("NOTE read back as %q", got)
	}
}

func TestNew(t *testing.T) {
	c := New("u-1", map[string]string{"N.given": "Grace", "N.family": "Hopper", "NOTE": "a,b;c", "EMAIL": "g@example.com", "X-NOPE.part": "x"})
	want := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u-1\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n" +
		"EMAIL:g@example.com\r\nNOTE:a\\,b\\;c\r\nEND:VCARD\r\n"
	if got := string(c.Bytes()); got != want {
		t.Fatalf("got:\n%q\nwant:\n%q", got, want)
	}
	// UID given wins; FN from ORG, else EMAIL; N always present
	c = New("u-2", map[string]string{"UID": "mine", "ORG": "Acme;Sales"})
	if got := c.Read([]string{"UID", "FN", "N"}); got["UID"] != "mine" || got["FN"] != "Acme Sales" || c.props["N"] == nil {
		t.Fatalf("read %v\n%s", got, c.Bytes())
	}
	if got := New("u", map[string]string{"EMAIL": "e@x.example"}).Value("FN"); got != "e@x.example" {
		t.Fatalf("FN = %q", got)
	}
	// an FN that is mapped is written as given, even empty
	c = New("u-3", map[string]string{"FN": "", "N.given": "Grace"})
	if v, fs := c.Value("FN"), c.props["FN"]; v != "" || len(fs) != 1 {
		t.Fatalf("FN = %q, %d FN properties\n%s", v, len(fs), c.Bytes())
	}
	for _, fields := range []map[string]string{{"NOTE": "x"}, {"FN": "a\nb", "UID": "a;b,c\\"}} {
		data := New("u", fields).Bytes()
		back := mustParse(t, string(data))
		for k, v := range fields {
			if back.Value(k) != v {
				t.Errorf("%s = %q, want %q\n%s", k, back.Value(k), v, data)
			}
		}
		decode(t, data)
	}
}

func TestValuesPropertiesRevision(t *testing.T) {
	c := mustParse(t, strings.Replace(ada, "END:VCARD", "REV:20240102T030405Z\r\nEND:VCARD", 1))
	if got := c.Values("EMAIL"); len(got) != 2 || got[0] != "ada@work.example" || got[1] != "ada@home.example" {
		t.Fatalf("Values(EMAIL) = %q", got)
	}
	if got := c.Values("adr.street"); len(got) != 1 || got[0] != "12 St James; Sq" {
		t.Fatalf("Values(ADR.street) = %q", got)
	}
	if got := strings.Join(c.Properties(), ","); got != "ADR,EMAIL,FN,N,NOTE,PRODID,REV,TEL,UID,VERSION,X-ABLABEL" {
		t.Fatalf("Properties = %s", got)
	}
	if rev, err := c.Revision(); err != nil || rev.Year() != 2024 || rev.Second() != 5 {
		t.Fatalf("Revision = %v, %v", rev, err)
	}
}

func TestParseMatchesGoVcard(t *testing.T) {
	for _, s := range []string{ada, strings.ReplaceAll(ada, "\r\n", "\n"),
		"BEGIN:VCARD\nVERSION:4.0\nFN;LANGUAGE=\"en\":X\nEND:VCARD",
		"junk line\r\nBEGIN:vcard\r\nTEL;TYPE=\"cell,voice\":1\r\nEND:vcard\r\n\r\n"} {
		cf, err := Parse([]byte(s))
		if err != nil {
			t.Fatalf("parseCard: %v\n%s", err, s)
		}
		gc := decode(t, []byte(s))
		if len(cf.props) != len(gc) {
			t.Fatalf("keys %d vs go-vcard %d", len(cf.props), len(gc))
		}
		for k, fs := range gc {
			mine := cf.props[k]
			if len(mine) != len(fs) {
				t.Fatalf("%s: %d vs %d fields", k, len(mine), len(fs))
			}
			for i, f := range fs {
				if mine[i].Group != f.Group || fmt.Sprint(mine[i].Params) != fmt.Sprint(f.Params) ||
					strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\,`, ",").Replace(mine[i].Value) != f.Value {
					t.Fatalf("%s[%d]: %+v vs go-vcard %+v", k, i, mine[i], f)
				}
			}
		}
		if got := cf.Bytes(); string(got) != s {
			t.Fatalf("render without edits changed the bytes:\n%q\n%q", got, s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(ada))
	f.Add([]byte("BEGIN:VCARD\nTEL;CELL;HOME:1\nN:a\\;b;c\n x\nEND:VCARD"))
	f.Add([]byte("BEGIN:VCARD\r\nA;X=\"q:;\":v\r\n \r\nEND:VCARD\r\n \r\n"))
	f.Add([]byte(""))
	fields := []string{"FN", "EMAIL", "N.given", "ADR.street", "NOTE"}
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := Parse(data)
		if err != nil {
			return
		}
		// no edit: same bytes
		if got := cf.Bytes(); !bytes.Equal(got, data) {
			t.Fatalf("render changed the bytes:\n%q\n%q", got, data)
		}
		// an edit: reads back, and the card still parses
		cf2, _ := Parse(data)
		vals := map[string]string{"FN": "Zoë, the \"fuzzer\"", "EMAIL": "z@example.com", "N.given": "a;b", "NOTE": "", "ADR.street": "1 Main St\nFloor 2"}
		applyAndCheck(t, cf2, vals, fields)
	})
}

func applyAndCheck(t *testing.T, cf *Card, vals map[string]string, fields []string) {
	t.Helper()
	notes := len(cf.props["NOTE"])
	if cf.Value("NOTE") != "" {
		notes-- // clearing a NOTE removes the preferred one
	}
	cf.Apply(vals)
	out := cf.Bytes()
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("edited card does not parse: %v\n%q", err, out)
	}
	got := back.Read(fields)
	for _, k := range fields {
		if vals[k] != "" && got[k] != vals[k] {
			t.Fatalf("%s = %q, want %q\n%q", k, got[k], vals[k], out)
		}
	}
	if len(back.props["NOTE"]) != notes {
		t.Fatalf("NOTE count %d, want %d\n%q", len(back.props["NOTE"]), notes, out)
	}
	// applying the same values again changes nothing
	if back.Apply(vals) {
		t.Fatalf("second Apply of the same values reports a change\n%q", out)
	}
	if again := back.Bytes(); !bytes.Equal(again, out) {
		t.Fatalf("second Apply changed the bytes:\n%q\n%q", out, again)
	}
}

// A line folded thousands of times (a photo) unfolds to the whole value and
// the card is written back byte for byte.
func TestLongFoldedLine(t *testing.T) {
	data := photoCard()
	c, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var photo string
	for _, ln := range c.lines {
		if ln.key == "PHOTO" {
			photo = ln.value
		}
	}
	if want := strings.Repeat("QUJDRA", 200000/6); photo != want {
		t.Fatalf("PHOTO unfolds to %d bytes, want %d", len(photo), len(want))
	}
	if string(c.Bytes()) != string(data) {
		t.Fatal("the card is not written back as it was")
	}
}

// A new card is written by a shorter path (newBytes); it writes what the
// general one does, byte for byte.
func TestNewCardBytesAsTheGeneralWriter(t *testing.T) {
	for _, fields := range []map[string]string{
		{},
		{"FN": "Ada"},
		{"UID": "u1", "N.family": "Lovelace", "N.given": "Ada", "EMAIL": "ada@example.com", "TEL": "+441234", "BDAY": "1815-12-10"},
		{"ORG": "Analytical; Engines", "NOTE": strings.Repeat("long note, with commas; semicolons and ünïcödé ", 5), "ADR.locality": "London", "ADR.country": "UK"},
		{"FN": "", "EMAIL": "x@example.com", "URL": "https://example.com/a:b", "TITLE": "Countess"},
	} {
		c := New("0f8fad5b-d9cb-469f-a165-70867728950e", fields)
		if got, want := string(c.Bytes()), string(c.editedBytes()); got != want {
			t.Errorf("fields %v:\nnew path:\n%s\ngeneral path:\n%s", fields, got, want)
		}
		if _, err := Parse(c.Bytes()); err != nil {
			t.Errorf("fields %v: the new card does not parse: %v", fields, err)
		}
	}
}
