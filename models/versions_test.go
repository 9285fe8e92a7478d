package models

import (
	"fmt"
	"maps"
	"math/rand"
	"path/filepath"
	"testing"

	"gorm.io/gorm"
)

// checkVersions fails unless SideVersions (snapshot plus log) says what the
// mappings themselves say, on both sides.
func checkVersions(t *testing.T, s *Store, pairID uint, step string) {
	t.Helper()
	for _, side := range []string{SideA, SideB} {
		got, err := s.SideVersions(pairID, side)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		want, err := readSideVersions(s.DB, pairID, side)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			for id, v := range want {
				if got[id] != v {
					t.Errorf("%s: side %s: %q is %q in the snapshot, %q in the mappings", step, side, id, got[id], v)
				}
			}
			for id := range got {
				if _, ok := want[id]; !ok {
					t.Errorf("%s: side %s: %q in the snapshot, not in the mappings", step, side, id)
				}
			}
			t.FailNow()
		}
	}
}

func refreshBoth(t *testing.T, s *Store, pairID uint, minLogged int) {
	t.Helper()
	for _, side := range []string{SideA, SideB} {
		if err := s.RefreshVersionSnapshot(pairID, side, minLogged); err != nil {
			t.Fatal(err)
		}
	}
}

// Every way the store changes mappings (a run's bulk save and update, a
// person's edit of the ids, a delete, a raw update, a pair's second set of
// rows) keeps snapshot plus log equal to the rows, with snapshots rebuilt
// now and then in between.
func TestVersionSnapshotFollowsEveryWriter(t *testing.T) {
	s, p := openTest(t)
	other := &Pair{Name: "other", Key: "email", AID: p.AID, BID: p.BID}
	if err := s.SavePair(other); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	var rows []*Mapping
	next := 0
	newRow := func(pairID uint) *Mapping {
		next++
		return &Mapping{PairID: pairID, AID: fmt.Sprintf("a%d.vcf", next), BID: fmt.Sprintf("b%d.vcf", next),
			AVersion: fmt.Sprintf("1-%d", next), BVersion: fmt.Sprintf("2-%d", next), State: StateOK}
	}
	save := func(ms ...*Mapping) {
		t.Helper()
		if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
			t.Fatal(err)
		}
	}
	for range 200 {
		rows = append(rows, newRow(p.ID))
	}
	save(rows...)
	save(newRow(other.ID))
	refreshBoth(t, s, p.ID, 0)
	refreshBoth(t, s, other.ID, 0)
	checkVersions(t, s, p.ID, "after the first snapshot")

	pick := func() *Mapping { return rows[rng.Intn(len(rows))] }
	ops := []struct {
		name string
		do   func()
	}{
		{"insert", func() {
			m := newRow(p.ID)
			rows = append(rows, m)
			save(m)
		}},
		{"a run updates versions", func() {
			a, b := pick(), pick()
			a.AVersion += "+"
			b.BVersion += "+"
			save(a, b)
		}},
		{"a pending row gets its id", func() {
			m := newRow(p.ID)
			id := m.BID
			m.BID, m.BVersion, m.State, m.PendingSide = "", "", StatePending, SideB
			save(m)
			m.BID, m.BVersion, m.State, m.PendingSide = id, "9-9", StateOK, ""
			save(m)
			rows = append(rows, m)
		}},
		{"a person edits the ids", func() {
			m := pick()
			m.AID = fmt.Sprintf("edited%d.vcf", rng.Int())
			if err := s.UpdateMapping(m); err != nil {
				t.Fatal(err)
			}
		}},
		{"a person clears one side", func() {
			m := pick()
			if m.AID != "" && m.BID != "" {
				m.BID = ""
				if err := s.UpdateMapping(m); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"a row is deleted", func() {
			i := rng.Intn(len(rows))
			if err := s.DeleteMapping(rows[i].ID); err != nil {
				t.Fatal(err)
			}
			rows = append(rows[:i], rows[i+1:]...)
		}},
		{"rows are deleted in bulk", func() {
			var ids []uint
			for range 3 {
				i := rng.Intn(len(rows))
				ids = append(ids, rows[i].ID)
				rows = append(rows[:i], rows[i+1:]...)
			}
			if err := s.Write(func(tx *gorm.DB) error { return DeleteMappings(tx, ids) }); err != nil {
				t.Fatal(err)
			}
		}},
		{"a raw update", func() {
			if err := s.DB.Exec("UPDATE mappings SET b_version = b_version || 'x' WHERE id = ?", pick().ID).Error; err != nil {
				t.Fatal(err)
			}
		}},
		{"the other pair changes", func() { save(newRow(other.ID)) }},
		{"a row moves to the other pair", func() {
			i := rng.Intn(len(rows))
			if err := s.DB.Exec("UPDATE mappings SET pair_id = ? WHERE id = ?", other.ID, rows[i].ID).Error; err != nil {
				t.Fatal(err)
			}
			rows = append(rows[:i], rows[i+1:]...)
		}},
		{"a snapshot is rebuilt", func() { refreshBoth(t, s, p.ID, 0) }},
		{"a refresh that finds too little logged", func() { refreshBoth(t, s, p.ID, 1000) }},
	}
	for i := range 400 {
		op := ops[rng.Intn(len(ops))]
		op.do()
		checkVersions(t, s, p.ID, fmt.Sprintf("step %d (%s)", i, op.name))
		checkVersions(t, s, other.ID, fmt.Sprintf("step %d (%s), other pair", i, op.name))
	}
}

// The snapshot is what is read (a value planted in it shows), and a
// refresh rebuilds it only once enough was logged.
func TestVersionSnapshotIsReadAndRebuiltWhenStale(t *testing.T) {
	s, p := openTest(t)
	var ms []*Mapping
	for i := range 100 {
		ms = append(ms, &Mapping{PairID: p.ID, AID: fmt.Sprintf("a%d", i), BID: fmt.Sprintf("b%d", i), AVersion: "1", BVersion: "1", State: StateOK})
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		t.Fatal(err)
	}
	logged := func() (n int) {
		t.Helper()
		if err := s.DB.Raw("SELECT count(*) FROM version_log WHERE pair_id = ?", p.ID).Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := logged(); n != 0 {
		t.Fatalf("%d changes logged before any snapshot (a first sync should log nothing)", n)
	}
	refreshBoth(t, s, p.ID, 10)
	if err := s.DB.Exec("UPDATE version_snapshots SET versions = replace(versions, '1', 'planted') WHERE side = 'a'").Error; err != nil {
		t.Fatal(err)
	}
	if v, _ := s.SideVersions(p.ID, SideA); v["a5"] != "planted" {
		t.Fatalf("SideVersions did not read the snapshot: a5 = %q", v["a5"])
	}
	if err := s.DB.Exec("UPDATE version_snapshots SET versions = replace(versions, 'planted', '1')").Error; err != nil {
		t.Fatal(err)
	}

	for i := range 14 { // more than the 10 asked for, more than 100/8
		ms[i].AVersion = "2"
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms[:6]) }); err != nil {
		t.Fatal(err)
	}
	refreshBoth(t, s, p.ID, 10)
	if n := logged(); n != 6 {
		t.Fatalf("%d changes logged after 6 updates and a refresh that should have kept them", n)
	}
	checkVersions(t, s, p.ID, "6 changes logged")
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms[6:14]) }); err != nil {
		t.Fatal(err)
	}
	refreshBoth(t, s, p.ID, 10)
	if n := logged(); n != 0 {
		t.Fatalf("%d changes still logged after the rebuild", n)
	}
	checkVersions(t, s, p.ID, "after the rebuild")

	if err := s.DeletePair(p.ID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := s.DB.Raw("SELECT (SELECT count(*) FROM version_snapshots) + (SELECT count(*) FROM version_log)").Row().Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d snapshot or log rows left after the pair went (%v)", left, err)
	}
}

// An id holding a NUL cannot be split out of a snapshot: the read falls
// back to the rows, and still says the truth.
func TestVersionSnapshotWithNULInAnID(t *testing.T) {
	s, p := openTest(t)
	ms := []*Mapping{
		{PairID: p.ID, AID: "odd\x00id", BID: "b1", AVersion: "1", BVersion: "1", State: StateOK},
		{PairID: p.ID, AID: "a2", BID: "b2", AVersion: "1", BVersion: "1", State: StateOK},
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		t.Fatal(err)
	}
	refreshBoth(t, s, p.ID, 0)
	checkVersions(t, s, p.ID, "NUL in an id")
	if v, _ := s.SideVersions(p.ID, SideA); len(v) != 2 || v["odd\x00id"] != "1" {
		t.Fatalf("%q", v)
	}
}

// A store made by schema 2 gets the snapshot tables and triggers on open.
func TestMigrateFromSchema2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	s, p := openAt(t, path)
	s = reopenAfter(t, s, path, []string{
		"DROP TRIGGER mappings_version_log_insert", "DROP TRIGGER mappings_version_log_delete",
		"DROP TRIGGER mappings_version_log_update", "DROP TABLE version_log", "DROP TABLE version_snapshots",
		"PRAGMA user_version = 2",
	})
	m := &Mapping{PairID: p.ID, AID: "a", BID: "b", AVersion: "1", BVersion: "1", State: StateOK}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{m}) }); err != nil {
		t.Fatal(err)
	}
	refreshBoth(t, s, p.ID, 0)
	m.AVersion = "2"
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{m}) }); err != nil {
		t.Fatal(err)
	}
	if v, err := s.SideVersions(p.ID, SideA); err != nil || v["a"] != "2" {
		t.Fatalf("after the upgrade a change is not seen through the snapshot: %q %v", v, err)
	}
}
