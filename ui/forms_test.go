package ui

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"tandem/models"
	_ "tandem/sync/connector/all"
	"tandem/sync/secrets"
	"tandem/ui/vm"
)

func TestConnectionSecretGoesToKeyringNotDB(t *testing.T) {
	test.NewTempApp(t)
	st, p := seedStore(t, 3)
	mem := secrets.NewMemory()
	var tested models.Connection
	var testedSecret string
	tester := func(ctx context.Context, c models.Connection, secret string) error {
		tested, testedSecret = c, secret
		return errors.New("credentials refused (401)")
	}
	v := NewConnectionsView(vm.NewConnections(st, mem, tester), func() *models.Pair { return p }, nil)
	w := test.NewWindow(v.Content())
	w.Resize(fyne.NewSize(1000, 700))
	defer w.Close()
	v.Load()
	f := v.sides[1]
	f.wait()

	const secret = "pat-na1-S3CR3T-7f6e5d4c"
	f.kind.SetSelected("CardDAV address book")
	f.name.SetText("Work CardDAV")
	f.settings["url"].SetText("https://dav.example.com/")
	f.settings["username"].SetText("me")
	f.secret.SetText(secret)

	test.Tap(f.test)
	f.wait()
	if tested.Kind != "carddav" || testedSecret != secret {
		t.Fatalf("Test connection got kind %q, secret typed? %v", tested.Kind, testedSecret == secret)
	}
	if !strings.Contains(f.result.Text, "credentials refused") {
		t.Fatalf("test result shows %q", f.result.Text)
	}

	test.Tap(f.save)
	f.wait()
	if f.result.Text != "Saved." {
		t.Fatalf("save result: %q", f.result.Text)
	}
	if got, err := mem.Get("Work CardDAV"); err != nil || got != secret {
		t.Fatalf("keyring has %q, %v", got, err)
	}
	if f.secret.Text != "" {
		t.Fatal("the secret is still shown after saving")
	}
	saved, err := st.PairByName(p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if saved.B.Name != "Work CardDAV" || saved.B.Kind != "carddav" || saved.B.Settings["username"] != "me" {
		t.Fatalf("side B saved as %+v", saved.B)
	}
	// The secret is nowhere in the database files.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(st.Path + suffix)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("the secret is in %s", st.Path+suffix)
		}
	}
	if !strings.Contains(f.secState.Text, "stored in the OS keyring") {
		t.Fatalf("secret state says %q", f.secState.Text)
	}
}

// failingKeyring is a keyring that is locked or missing.
type failingKeyring struct{}

func (failingKeyring) Get(string) (string, error) { return "", secrets.ErrNoKeyring }
func (failingKeyring) Set(string, string) error   { return secrets.ErrNoKeyring }
func (failingKeyring) Delete(string) error        { return secrets.ErrNoKeyring }

func TestLockedKeyringIsAClearMessageAndNothingIsSaved(t *testing.T) {
	test.NewTempApp(t)
	st, p := seedStore(t, 1)
	v := NewConnectionsView(vm.NewConnections(st, failingKeyring{}, nil), func() *models.Pair { return p }, nil)
	w := test.NewWindow(v.Content())
	defer w.Close()
	v.Load()
	f := v.sides[0]
	f.wait()
	f.kind.SetSelected("HubSpot contacts")
	f.name.SetText("CRM")
	f.secret.SetText("token-123")
	test.Tap(f.save)
	f.wait()
	if !strings.Contains(f.result.Text, "no OS keyring answered") {
		t.Fatalf("result %q", f.result.Text)
	}
	saved, _ := st.PairByName(p.Name)
	if saved.A.Kind != "vcarddir" {
		t.Fatalf("side A was saved despite the keyring failure: %+v", saved.A)
	}
}

func TestInvalidFieldMapIsRefused(t *testing.T) {
	test.NewTempApp(t)
	st, p := seedStore(t, 1)
	w := test.NewWindow(nil)
	defer w.Close()
	v := NewFieldsView(vm.NewFields(st), func() *models.Pair { return p }, w, nil)
	w.SetContent(v.Content())
	v.Load()
	if len(v.model.Rows) != 2 || v.model.Key != "email" {
		t.Fatalf("loaded %d fields, key %q", len(v.model.Rows), v.model.Key)
	}
	cases := []struct {
		name   string
		edit   func()
		reason string
	}{
		{"no key", func() { v.model.Key = "" }, "no key field"},
		{"field used twice", func() { v.model.Rows[1].A = "EMAIL" }, `native field "EMAIL" of side A is used by both`},
		{"unknown transform", func() { v.model.Rows[1].Transform = "rot13" }, "rot13"},
	}
	for _, c := range cases {
		v.Load()
		c.edit()
		test.Tap(findButton(v.Content(), "Save field map"))
		if !strings.Contains(v.result.Text, c.reason) || !strings.Contains(v.result.Text, "not saved") {
			t.Errorf("%s: result %q does not give the reason %q", c.name, v.result.Text, c.reason)
		}
		saved, _ := st.PairByName(p.Name)
		if saved.Key != "email" || saved.Fields[1].A != "FN" || saved.Fields[1].Transform != "" {
			t.Errorf("%s: the invalid map was stored: key %q fields %+v", c.name, saved.Key, saved.Fields)
		}
	}
	// A valid change is stored.
	v.Load()
	v.model.Add()
	r := &v.model.Rows[2]
	r.Name, r.A, r.B, r.Transform, r.AFormat, r.BFormat = "birthday", "BDAY", "BDAY", "date", "2006-01-02", "01/02/2006"
	test.Tap(findButton(v.Content(), "Save field map"))
	saved, _ := st.PairByName(p.Name)
	if len(saved.Fields) != 3 || saved.Fields[2].BFormat != "01/02/2006" {
		t.Fatalf("valid map not stored: %q, %+v", v.result.Text, saved.Fields)
	}
}
