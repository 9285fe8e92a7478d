package models

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"
)

func openTest(t testing.TB) (*Store, *Pair) {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "tandem.db"))
}

// openAt opens the store at path with one pair.
func openAt(t testing.TB, path string) (*Store, *Pair) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p := &Pair{Name: "p", Key: "email",
		A:      Connection{Name: "A", Kind: "vcarddir", Settings: map[string]string{"path": "/a"}},
		B:      Connection{Name: "B", Kind: "vcarddir", Settings: map[string]string{"path": "/b"}},
		Fields: []Field{{Name: "email", A: "EMAIL", B: "EMAIL", Transform: "email"}}}
	if err := s.SavePair(p); err != nil {
		t.Fatal(err)
	}
	return s, p
}

func TestPairRoundTripKeepsCursors(t *testing.T) {
	s, p := openTest(t)
	if err := s.SaveCursors(p.ID, "ca", "cb"); err != nil {
		t.Fatal(err)
	}
	again := &Pair{Name: "p", Key: "email", A: p.A, B: p.B, Fields: p.Fields, Conflict: ConflictManual}
	if err := s.SavePair(again); err != nil {
		t.Fatal(err)
	}
	got, err := s.PairByName("p")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != p.ID || got.CursorA != "ca" || got.CursorB != "cb" || got.Conflict != ConflictManual {
		t.Fatalf("pair after re-save: %+v", got)
	}
	if got.A.Settings["path"] != "/a" || got.Fields[0].Transform != "email" {
		t.Fatalf("pair lost its settings or fields: %+v", got)
	}
	if _, err := s.PairByName("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing pair: %v", err)
	}
}

func TestMappingsUniquePerSideButManyPending(t *testing.T) {
	s, p := openTest(t)
	err := s.Write(func(tx *gorm.DB) error {
		return SaveMappings(tx, []*Mapping{
			{PairID: p.ID, AID: "a1", State: StatePending, Key: "x@y"},
			{PairID: p.ID, AID: "a2", State: StatePending, Key: "z@y"},
			{PairID: p.ID, AID: "a3", BID: "b3", State: StateOK},
		})
	})
	if err != nil {
		t.Fatalf("two pending rows with empty b_id must be allowed: %v", err)
	}
	err = s.Write(func(tx *gorm.DB) error {
		return SaveMappings(tx, []*Mapping{{PairID: p.ID, AID: "a9", BID: "b3"}})
	})
	if err == nil {
		t.Fatal("a second row with b_id b3 was accepted")
	}
	m, err := s.SideMappings(p.ID, SideA, []string{"a1", "a3", "zz"})
	if err != nil || len(m) != 2 || m["a3"].BID != "b3" {
		t.Fatalf("SideMappings = %v, %v", m, err)
	}
	// Editing a row onto an id already used is refused.
	row := m["a1"]
	row.BID = "b3"
	if err := s.UpdateMapping(row); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("UpdateMapping duplicate: %v", err)
	}
}

func TestSearchAndExport(t *testing.T) {
	s, p := openTest(t)
	var ms []*Mapping
	for i := 0; i < 250; i++ {
		ms = append(ms, &Mapping{PairID: p.ID, AID: fmt.Sprintf("a-%03d", i), BID: fmt.Sprintf("b-%03d", i), State: StateOK, Key: fmt.Sprintf("k%d", i)})
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		search string
		want   int
	}{{"", 250}, {"a-1", 100}, {"b-12", 10}, {"a-007", 1}, {"b-249", 1}, {"A-1", 0}, {"c", 0}} {
		n, err := s.CountQuery(MappingQuery{PairID: p.ID, Search: tc.search})
		if err != nil || n != tc.want {
			t.Errorf("count %q = %d, %v; want %d", tc.search, n, err, tc.want)
		}
	}
	rows, err := s.QueryMappings(MappingQuery{PairID: p.ID, Search: "b-12"}, 5, 3)
	if err != nil || len(rows) != 3 || rows[0].BID != "b-125" {
		t.Fatalf("page = %+v, %v", rows, err)
	}
	var buf bytes.Buffer
	var last [2]int
	n, err := s.ExportCSV(&buf, MappingQuery{PairID: p.ID, Search: "a-0"}, func(d, tot int) { last = [2]int{d, tot} })
	if err != nil || n != 100 || last != [2]int{100, 100} {
		t.Fatalf("export n=%d last=%v err=%v", n, last, err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\r\n"), "\r\n")
	if len(lines) != 101 || !strings.HasPrefix(lines[0], "a_id,b_id,state,synced_at") || !strings.HasPrefix(lines[1], "a-000,b-000,ok,") {
		t.Fatalf("csv: %q", lines[:2])
	}
	found, err := s.FindMappings(p.ID, "b-042")
	if err != nil || len(found) != 1 || found[0].AID != "a-042" {
		t.Fatalf("find = %+v %v", found, err)
	}
}

func TestConcurrentWritersNeverBusy(t *testing.T) {
	s, p := openTest(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				m := &Mapping{PairID: p.ID, AID: fmt.Sprintf("w%d-%d", w, i), BID: fmt.Sprintf("x%d-%d", w, i)}
				if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{m}) }); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _ := s.CountMappings(p.ID); n != 160 {
		t.Fatalf("rows = %d", n)
	}
}
func TestSaveMappingsMixesInsertsAndUpdates(t *testing.T) {
	s, p := openTest(t)
	a := &Mapping{PairID: p.ID, AID: "a1", BID: "b1", State: StateOK}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{a}) }); err != nil {
		t.Fatal(err)
	}
	a.BVersion = "v2"
	b := &Mapping{PairID: p.ID, AID: "a2", BID: "b2", State: StateOK}
	c := &Mapping{PairID: p.ID, AID: "a3", BID: "b3", State: StateOK}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{b, a, c}) }); err != nil {
		t.Fatal(err)
	}
	n, _ := s.CountMappings(p.ID)
	got, _ := s.MappingByID(a.ID)
	t.Logf("ids %d %d %d n=%d ver=%q", a.ID, b.ID, c.ID, n, got.BVersion)
	if n != 3 || got.BVersion != "v2" || b.ID == 0 || c.ID == 0 || b.ID == c.ID {
		t.Fatal("mixed upsert broken")
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a#b?c%d")
	s1, err := Open(filepath.Join(dir, "one.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	if err := s1.SaveConnection(&Connection{Name: "x", Kind: "vcarddir"}); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(filepath.Join(dir, "two.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if cs, _ := s2.Connections(); len(cs) != 0 {
		t.Fatalf("two databases in one folder share rows: %v", cs)
	}
	if _, err := os.Stat(filepath.Join(dir, "one.db")); err != nil {
		t.Fatalf("database not at its path: %v", err)
	}
}

func TestReopenSkipsMigrationButKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveConnection(&Connection{Name: "x", Kind: "vcarddir"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	s.DB.Raw("PRAGMA user_version").Scan(&v)
	if v != schemaVersion {
		t.Fatalf("user_version = %d", v)
	}
	if c, err := s.ConnectionByName("x"); err != nil || c.Kind != "vcarddir" {
		t.Fatalf("after reopen: %v %v", c, err)
	}
}

// A store made by schema 1 (a full state index, an index on events' run)
// upgrades on open: the rare-state index replaces the full one, the run
// index goes, the intents table comes, and the rows stay.
func TestMigrateFromSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	s, p := openAt(t, path)
	m := &Mapping{PairID: p.ID, AID: "a.vcf", BID: "b.vcf", State: StateConflict}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{m}) }); err != nil {
		t.Fatal(err)
	}
	s = reopenAfter(t, s, path, []string{
		"DROP INDEX idx_mappings_rare_state",
		"CREATE INDEX idx_mappings_state ON mappings(state)",
		"CREATE INDEX idx_events_run_id ON events(run_id)",
		"DROP TABLE intents",
		"PRAGMA user_version = 1",
	})
	var names []string
	if err := s.DB.Raw("SELECT name FROM sqlite_master WHERE type IN ('index', 'table') ORDER BY name").Scan(&names).Error; err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"idx_mappings_rare_state", "intents"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s after the upgrade: %s", want, got)
		}
	}
	for _, gone := range []string{"idx_mappings_state ", "idx_events_run_id"} {
		if strings.Contains(got+" ", gone) {
			t.Errorf("%s kept after the upgrade: %s", gone, got)
		}
	}
	q := MappingQuery{PairID: p.ID, State: StateConflict}
	if rows, err := s.QueryMappings(q, 0, 10); err != nil || len(rows) != 1 || rows[0].AID != "a.vcf" {
		t.Fatalf("%+v %v", rows, err)
	}
	if plan := queryPlan(t, s, "SELECT * FROM mappings WHERE pair_id = ? AND state = ? AND state <> 'ok'", p.ID, StateConflict); !strings.Contains(plan, "idx_mappings_rare_state") {
		t.Errorf("the grid's state filter does not use the state index: %s", plan)
	}
}

// reopenAfter runs stmts on s (making it an older store), closes it and
// opens path again (which migrates it).
func reopenAfter(t *testing.T, s *Store, path string, stmts []string) *Store {
	t.Helper()
	for _, q := range stmts {
		if err := s.DB.Exec(q).Error; err != nil {
			t.Fatal(q, err)
		}
	}
	s.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
