package demo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/sync/pairfile"
	"tandem/sync/transform"
)

func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	store, err := models.Open(filepath.Join(dir, "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	created, err := Ensure(store, dir)
	if err != nil || !created {
		t.Fatalf("first Ensure: %v %v", created, err)
	}
	p, err := store.PairByName(PairName)
	if err != nil {
		t.Fatal(err)
	}
	if p.A.Name != ConnA || p.B.Name != ConnB || p.A.Kind != "vcarddir" || p.Key != "email" || p.Conflict != "newest" || p.Deletes != "propagate" || p.Interval != "5m" {
		t.Fatalf("pair: %+v", p)
	}
	for _, f := range p.Fields {
		if f.A == "UID" || f.B == "UID" {
			t.Fatal("UID must not be mapped across (the demo cards have different UIDs)")
		}
	}
	if err := pairfile.Validate(p); err != nil {
		t.Fatalf("demo pair does not validate: %v", err)
	}

	// Every card reads through the vcarddir connector and every mapped
	// field converts to canonical on its side.
	emails := map[string][]string{}
	for _, side := range []struct {
		name string
		c    models.Connection
	}{{"a", p.A}, {"b", p.B}} {
		conn, err := connector.Open(side.c.Kind, connector.Config{Name: side.c.Name, Settings: side.c.Settings})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := conn.Changes(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, it := range ch.Items {
			ids = append(ids, it.ID)
		}
		recs, err := conn.Get(context.Background(), ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 10 {
			t.Fatalf("side %s: %d cards, want 10", side.name, len(recs))
		}
		for _, r := range recs {
			if r.Err != nil {
				t.Fatalf("side %s: %s: %v", side.name, r.ID, r.Err)
			}
			for _, f := range p.Fields {
				native := f.A
				if side.name == "b" {
					native = f.B
				}
				cv, err := transform.For(f, side.name)
				if err != nil {
					t.Fatal(err)
				}
				v, err := cv.ToCanonical(r.Fields[native])
				if err != nil {
					t.Fatalf("side %s card %s field %s: %v", side.name, r.ID, f.Name, err)
				}
				if f.Name == "email" {
					emails[side.name] = append(emails[side.name], v)
				}
			}
		}
		conn.Close()
	}
	shared := 0
	inA := map[string]bool{}
	for _, e := range emails["a"] {
		inA[e] = true
	}
	for _, e := range emails["b"] {
		if inA[e] {
			shared++
		}
	}
	if shared != 8 {
		t.Fatalf("%d people on both sides, want 8", shared)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "demo", "b", "ada.vcf"))
	if err != nil || !strings.Contains(string(raw), "BDAY:12/10/1815") {
		t.Fatalf("B's birthday format: %s %v", raw, err)
	}
	rawA, _ := os.ReadFile(filepath.Join(dir, "demo", "a", "ada.vcf"))
	if !strings.Contains(string(rawA), "BDAY:1815-12-10") {
		t.Fatalf("A's birthday format: %s", rawA)
	}

	// Idempotent: a second call creates nothing and leaves edits alone.
	os.WriteFile(filepath.Join(dir, "demo", "a", "ada.vcf"), []byte("edited"), 0o600)
	created, err = Ensure(store, dir)
	if err != nil || created {
		t.Fatalf("second Ensure: %v %v", created, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "demo", "a", "ada.vcf")); string(b) != "edited" {
		t.Fatal("second Ensure rewrote a card")
	}
	ps, _ := store.Pairs()
	if len(ps) != 1 {
		t.Fatalf("%d pairs after two Ensure calls", len(ps))
	}
}

func TestEnsureKeepsExistingPairs(t *testing.T) {
	dir := t.TempDir()
	store, err := models.Open(filepath.Join(dir, "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	other := Pair(t.TempDir())
	other.Name, other.A.Name, other.B.Name = "mine", "x", "y"
	if err := store.SavePair(other); err != nil {
		t.Fatal(err)
	}
	created, err := Ensure(store, dir)
	if err != nil || created {
		t.Fatalf("Ensure with a pair present: %v %v", created, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "demo")); !os.IsNotExist(err) {
		t.Fatal("demo folders created although a pair exists")
	}
}
