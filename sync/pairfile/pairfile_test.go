package pairfile

import (
	"reflect"
	"strings"
	"testing"

	"tandem/sync/connector"
	_ "tandem/sync/connector/vcarddir"
)

func init() {
	connector.Register(connector.Kind{
		Name:        "pftest-secret",
		Label:       "test kind with a secret",
		Settings:    []connector.Setting{{Key: "url", Label: "URL", Required: true}, {Key: "username", Label: "User"}},
		NeedsSecret: true,
		SecretLabel: "Password",
		Open:        func(connector.Config) (connector.Connector, error) { return nil, nil },
	})
}

const design = `{
  "name": "contacts",
  "a": {"name": "Folder A", "kind": "vcarddir", "settings": {"path": "/home/me/contacts"}},
  "b": {"name": "Folder B", "kind": "vcarddir", "settings": {"path": "/home/me/other"}},
  "key": "email",
  "fields": [
    {"name": "uid",      "a": "UID",   "b": "UID"},
    {"name": "email",    "a": "EMAIL", "b": "EMAIL", "transform": "email"},
    {"name": "name",     "a": "FN",    "b": "FN"},
    {"name": "phone",    "a": "TEL",   "b": "TEL",   "transform": "phone"},
    {"name": "birthday", "a": "BDAY",  "b": "BDAY",  "transform": "date",
     "a_format": "2006-01-02", "b_format": "01/02/2006"}
  ],
  "conflict": "newest",
  "deletes": "propagate",
  "interval": "5m"
}`

func TestParseDesignExample(t *testing.T) {
	p, err := Parse([]byte(design))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "contacts" || p.A.Name != "Folder A" || p.B.Kind != "vcarddir" || p.B.Settings["path"] != "/home/me/other" {
		t.Fatalf("connections: %+v", p)
	}
	if p.Key != "email" || len(p.Fields) != 5 || p.Fields[4].BFormat != "01/02/2006" || p.Fields[1].Transform != "email" {
		t.Fatalf("fields: %+v", p.Fields)
	}
	if p.Conflict != "newest" || p.Deletes != "propagate" || p.Interval != "5m" || p.BrakeShare != 0.25 || p.Paused {
		t.Fatalf("policies: %+v", p)
	}
}

func TestDefaultsAndOptionals(t *testing.T) {
	src := `{"name":"x","a":{"name":"A","kind":"vcarddir","settings":{"path":"/a"}},
	"b":{"name":"B","kind":"vcarddir","settings":{"path":"/b"}},"key":"email",
	"fields":[{"name":"email","a":"EMAIL","b":"EMAIL","transform":"email"}]}`
	p, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if p.Conflict != DefaultConflict || p.Deletes != DefaultDeletes || p.Interval != DefaultInterval || p.BrakeShare != DefaultBrakeShare {
		t.Fatalf("defaults: %+v", p)
	}
	src2 := strings.Replace(src, `"key":"email"`, `"key":"email","brake_share":0.5,"paused":true,"interval":"90s","conflict":"a-wins","deletes":"ignore"`, 1)
	p, err = Parse([]byte(src2))
	if err != nil {
		t.Fatal(err)
	}
	if p.BrakeShare != 0.5 || !p.Paused || p.Interval != "90s" || p.Conflict != "a-wins" || p.Deletes != "ignore" {
		t.Fatalf("optionals: %+v", p)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown top key", strings.Replace(design, `"key": "email",`, `"key": "email", "colour": "red",`, 1), []string{`unknown key "colour"`, "line 5"}},
		{"unknown field key", strings.Replace(design, `"transform": "phone"`, `"transform": "phone", "fmt": "x"`, 1), []string{`unknown key "fmt"`, "line 10"}},
		{"syntax", strings.Replace(design, `"name": "contacts",`, `"name": "contacts"`, 1), []string{"line 3", "not valid JSON"}},
		{"truncated", design[:200], []string{"ends too early"}},
		{"empty", "", []string{"empty"}},
		{"type", strings.Replace(design, `"interval": "5m"`, `"interval": 5`, 1), []string{"interval", "a string", "line 16"}},
		{"trailing", design + "\n{}", []string{"after the pair", "line 18"}},
		{"bad interval", strings.Replace(design, `"5m"`, `"5 minutes"`, 1), []string{"interval", "5 minutes"}},
		{"unknown kind", strings.Replace(design, `"kind": "vcarddir", "settings": {"path": "/home/me/other"}`, `"kind": "outlook"`, 1), []string{`unknown kind "outlook"`, "vcarddir"}},
		{"missing setting", strings.Replace(design, `"settings": {"path": "/home/me/other"}`, `"settings": {}`, 1), []string{`Folder B`, `"path"`, "required"}},
		{"secret in file", strings.Replace(design, `"kind": "vcarddir", "settings": {"path": "/home/me/other"}`, `"kind": "pftest-secret", "settings": {"url": "http://x", "password": "hunter2"}`, 1), []string{`unknown setting "password"`, "tandem secret set \"Folder B\""}},
		{"same connection", strings.Replace(design, `"Folder B"`, `"Folder A"`, 1), []string{"both named"}},
		{"no name", strings.Replace(design, `"name": "contacts",`, ``, 1), []string{`"name"`}},
		{"brake", strings.Replace(design, `"interval": "5m"`, `"interval": "5m", "brake_share": 1.5`, 1), []string{"brake_share"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.src))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("secret echoed: %v", err)
			}
		})
	}
}

func TestExportRoundTrip(t *testing.T) {
	p, err := Parse([]byte(strings.Replace(design, `"interval": "5m"`, `"interval": "1h", "brake_share": 0.4, "paused": true`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	p.ID, p.AID, p.BID, p.CursorA = 7, 3, 4, "cursor-must-not-leak"
	out, err := Export(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "cursor-must-not-leak") || strings.Contains(string(out), `"ID"`) {
		t.Fatalf("export leaks internals:\n%s", out)
	}
	q, err := Parse(out)
	if err != nil {
		t.Fatalf("export does not parse back: %v\n%s", err, out)
	}
	p.ID, p.AID, p.BID, p.CursorA = 0, 0, 0, ""
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip differs:\n%+v\n%+v", p, q)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(design))
	f.Add([]byte(`{"name":"x","a":{"name":"A","kind":"vcarddir","settings":{"path":"/a"}},"b":{"name":"B","kind":"vcarddir","settings":{"path":"/b"}},"key":"email","fields":[{"name":"email","a":"EMAIL","b":"EMAIL"}]}`))
	f.Add([]byte(`{"name":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if p != nil {
				t.Fatal("pair returned with an error")
			}
			return
		}
		out, err := Export(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse(out)
		if err != nil {
			t.Fatalf("export of an accepted pair does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip differs:\n%+v\n%+v", p, q)
		}
	})
}
