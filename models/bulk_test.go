package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"
)

// Rows written through the JSON batch read back exactly as rows written by
// gorm: strings with quotes, control characters and non-ASCII, times with
// their zone and nanoseconds, the base map.
func TestBulkRowsReadBackExactly(t *testing.T) {
	s, p := openTest(t)
	at := time.Date(2026, 11, 28, 7, 40, 1, 123456789, time.FixedZone("x", 5*3600+1800))
	odd := "quote \" backslash \\ tab \t nl \n nul-ish \x01 zoë ✓"
	ms := []*Mapping{
		{PairID: p.ID, AID: "a-" + odd, BID: "b-1", AVersion: "1", BVersion: "2", Key: odd,
			Base: map[string]string{"name": odd, "empty": ""}, State: StateConflict, LastError: odd, SyncedAt: at},
		{PairID: p.ID, BID: "b-only", PendingSide: SideA, State: StatePending},
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		t.Fatal(err)
	}
	if ms[0].ID == 0 || ms[1].ID == 0 || ms[0].ID == ms[1].ID {
		t.Fatalf("ids not set back: %d %d", ms[0].ID, ms[1].ID)
	}
	got, err := s.MappingByID(ms[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AID != ms[0].AID || got.Key != odd || got.LastError != odd || got.Base["name"] != odd ||
		got.State != StateConflict || !got.SyncedAt.Equal(at) || got.AVersion != "1" || got.BVersion != "2" {
		t.Fatalf("read back %+v", got)
	}
	// Update by id through the same path.
	ms[0].BID, ms[0].State, ms[0].SyncedAt = "b-2", StateOK, at.Add(time.Second)
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms[:1]) }); err != nil {
		t.Fatal(err)
	}
	got, _ = s.MappingByID(ms[0].ID)
	if got.BID != "b-2" || got.State != StateOK || !got.SyncedAt.Equal(at.Add(time.Second)) || got.Base["name"] != odd {
		t.Fatalf("after update %+v", got)
	}
}

// A record id that is not valid UTF-8 (a file name can be any bytes) cannot
// go through JSON unchanged: that batch takes the bound-parameter path and
// the bytes survive.
func TestBulkKeepsNonUTF8Bytes(t *testing.T) {
	s, p := openTest(t)
	bad := "caf\xe9-\xff.vcf"
	var ms []*Mapping
	for i := range 3 {
		ms = append(ms, &Mapping{PairID: p.ID, AID: fmt.Sprintf("%s-%d", bad, i), BID: fmt.Sprintf("b%d", i)})
	}
	if err := s.Write(func(tx *gorm.DB) error {
		if err := SaveMappings(tx, ms); err != nil {
			return err
		}
		return AddEvents(tx, []Event{{PairID: p.ID, AID: ms[0].AID, Action: "create"}, {PairID: p.ID, AID: "plain", Action: "create"}})
	}); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		got, err := s.MappingByID(m.ID)
		if err != nil || got.AID != m.AID {
			t.Fatalf("row %d: %q, %v (want %q)", m.ID, got.AID, err, m.AID)
		}
	}
	es, err := s.Events(p.ID, 0, 10)
	if err != nil || len(es) != 2 || es[1].AID != ms[0].AID || es[0].AID != "plain" {
		t.Fatalf("events %+v, %v", es, err)
	}
}

// More rows than one JSON batch: every row is written and gets its id.
func TestBulkSpansBatches(t *testing.T) {
	s, p := openTest(t)
	ms := make([]*Mapping, jsonBatch*2+7)
	for i := range ms {
		ms[i] = &Mapping{PairID: p.ID, AID: fmt.Sprintf("a%04d", i)}
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		t.Fatal(err)
	}
	checkIDs(t, s, ms)
	if n, _ := s.CountMappings(p.ID); n != len(ms) {
		t.Fatalf("%d rows stored, want %d", n, len(ms))
	}
}

// checkIDs fails unless every row's id is its own: the row stored under
// it holds the same record ids.
func checkIDs(t *testing.T, s *Store, ms []*Mapping) {
	t.Helper()
	seen := map[uint]bool{}
	for _, m := range ms {
		if m.ID == 0 || seen[m.ID] {
			t.Fatalf("row %q/%q has id %d", m.AID, m.BID, m.ID)
		}
		seen[m.ID] = true
		got, err := s.MappingByID(m.ID)
		if err != nil || got.AID != m.AID || got.BID != m.BID {
			t.Fatalf("id %d is the row of %q/%q, not of %q/%q (%v)", m.ID, got.AID, got.BID, m.AID, m.BID, err)
		}
	}
}

// New rows get the ids after the largest one, in order, which insertMappings
// takes without asking SQLite for each (see idsFollow): one-sided rows of
// either side, and a table whose largest row was deleted. Where the rows
// are not in the expected order, idsFollow says so and matchIDs looks each
// id up by record id.
func TestInsertedIDs(t *testing.T) {
	s, p := openTest(t)
	save := func(ms []*Mapping) {
		t.Helper()
		if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
			t.Fatal(err)
		}
		checkIDs(t, s, ms)
	}
	batch := func(prefix string, n int) []*Mapping {
		ms := make([]*Mapping, n)
		for i := range ms {
			ms[i] = &Mapping{PairID: p.ID, AID: fmt.Sprintf("%s-a%d", prefix, i), BID: fmt.Sprintf("%s-b%d", prefix, i)}
			if i%3 == 1 {
				ms[i].AID = "" // a pending create on A
			}
			if i%3 == 2 {
				ms[i].BID = ""
			}
		}
		return ms
	}
	first := batch("first", 10)
	save(first)
	if first[9].ID != first[0].ID+9 {
		t.Fatalf("ids %d..%d, want consecutive", first[0].ID, first[9].ID)
	}
	if err := s.DeleteMapping(first[9].ID); err != nil {
		t.Fatal(err)
	}
	save(batch("gap", 5))
	// as if SQLite had inserted the batch in another order
	ms := batch("shuffled", 6)
	if err := s.Write(func(tx *gorm.DB) error {
		var before int64
		if err := tx.Raw("SELECT max(id) FROM mappings").Row().Scan(&before); err != nil {
			return err
		}
		rows := make([][]any, len(ms))
		for i, m := range ms {
			rows[len(ms)-1-i], _ = mappingValues(m, false)
		}
		if err := execRows(tx, rows, "INSERT OR ROLLBACK INTO mappings ("+mappingColumns+") ", ""); err != nil {
			return err
		}
		if ok, err := idsFollow(tx, ms, before); ok || err != nil {
			t.Errorf("idsFollow on rows in reverse: %v %v", ok, err)
		}
		return matchIDs(tx, ms)
	}); err != nil {
		t.Fatal(err)
	}
	checkIDs(t, s, ms)
}

// SideVersions returns every mapped id of a side with its version, whatever
// bytes the ids hold (colons and digits, which the packed form uses, and
// non-UTF-8), and leaves out the other side's one-sided rows.
func TestSideVersionsOddIDs(t *testing.T) {
	s, p := openTest(t)
	want := map[string]string{
		"12:34:":         "3:1",
		"caf\xe9.vcf":    "v\xff",
		"plain.vcf":      "",
		"ünï/çødé 1.vcf": "99-1700000000",
	}
	var ms []*Mapping
	i := 0
	for id, v := range want {
		ms = append(ms, &Mapping{PairID: p.ID, AID: id, AVersion: v, BID: fmt.Sprintf("b%d", i)})
		i++
	}
	ms = append(ms, &Mapping{PairID: p.ID, BID: "b-only", BVersion: "x"})
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.SideVersions(p.ID, SideA)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	b, err := s.SideVersions(p.ID, SideB)
	if err != nil || len(b) != len(want)+1 || b["b-only"] != "x" {
		t.Fatalf("side B: %q, %v", b, err)
	}
	// A NUL in an id or a version (the fast path splits on NUL) falls back
	// to the length-prefixed read.
	for id, v := range map[string]string{"nul\x00id.vcf": "1-2", "n.vcf": "ver\x00sion"} {
		want[id] = v
		ms = append(ms, &Mapping{PairID: p.ID, AID: id, AVersion: v})
		if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms[len(ms)-1:]) }); err != nil {
			t.Fatal(err)
		}
		if got, err := s.SideVersions(p.ID, SideA); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("with %q: got %q, %v\nwant %q", id, got, err, want)
		}
	}
	empty, err := s.SideVersions(p.ID+1, SideA)
	if err != nil || len(empty) != 0 {
		t.Fatalf("another pair: %q, %v", empty, err)
	}
}

// A save that rolls back must not count as written: saving the same row
// again afterwards still writes its changed indexed columns.
func TestRolledBackSaveIsWrittenAgain(t *testing.T) {
	s, p := openTest(t)
	m := &Mapping{PairID: p.ID, AID: "a1", BID: "b1"}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{m}) }); err != nil {
		t.Fatal(err)
	}
	m.BID, m.State = "b2", StateConflict
	failed := errors.New("later step failed")
	if err := s.Write(func(tx *gorm.DB) error {
		if err := SaveMappings(tx, []*Mapping{m}); err != nil {
			return err
		}
		return failed
	}); !errors.Is(err, failed) {
		t.Fatalf("write: %v", err)
	}
	if got, _ := s.MappingByID(m.ID); got.BID != "b1" {
		t.Fatalf("rollback kept %q", got.BID)
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{m}) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.MappingByID(m.ID); got.BID != "b2" || got.State != StateConflict {
		t.Fatalf("second save stored %q %q", got.BID, got.State)
	}
}

// One save moves b_id "b1" from one row to another: the releasing row comes
// first in the caller's order, whatever the row ids (found in review).
func TestSaveMovesUniqueIDInCallerOrder(t *testing.T) {
	for _, releaserFirstID := range []bool{true, false} {
		s, p := openTest(t)
		x := &Mapping{PairID: p.ID, AID: "ax", BID: "b1"}
		y := &Mapping{PairID: p.ID, AID: "ay", BID: "b9"}
		first := []*Mapping{x, y}
		if !releaserFirstID {
			first = []*Mapping{y, x}
		}
		if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, first) }); err != nil {
			t.Fatal(err)
		}
		x2, _ := s.MappingByID(x.ID)
		y2, _ := s.MappingByID(y.ID)
		x2.BID, y2.BID = "", "b1"
		if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{x2, y2}) }); err != nil {
			t.Errorf("releaser has the lower id %v: %v", releaserFirstID, err)
		}
	}
}

// A run holds a row it read; a person relinks that row in the grid; the run
// then stores its outcome. The person's edit wins, whole: the row never
// pairs the new B id with the old record's version.
func TestEditDuringRunWins(t *testing.T) {
	s, p := openTest(t)
	m := &Mapping{PairID: p.ID, AID: "a1", BID: "b-old", BVersion: "v-old", State: StateOK}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{m}) }); err != nil {
		t.Fatal(err)
	}
	run, _ := s.MappingByID(m.ID) // the engine's copy
	edit, _ := s.MappingByID(m.ID)
	edit.BID = "b-new"
	if err := s.UpdateMapping(edit); err != nil {
		t.Fatal(err)
	}
	run.BVersion = "v-old-2" // the run wrote b-old
	for range 2 {            // and a second save of the same row skips it again
		if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{run}) }); err != nil {
			t.Fatal(err)
		}
		got, _ := s.MappingByID(m.ID)
		if got.BID != "b-new" || got.BVersion != "v-old" {
			t.Fatalf("row after the run's save: b_id %q b_version %q", got.BID, got.BVersion)
		}
	}
	// A row the run changes in full again (a new read) is written.
	fresh, _ := s.MappingByID(m.ID)
	fresh.BVersion = "v-new"
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, []*Mapping{fresh}) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.MappingByID(m.ID); got.BVersion != "v-new" {
		t.Fatalf("b_version %q", got.BVersion)
	}
}

// baseJSON writes exactly what json.Marshal writes, on the fast path and
// off it (escapes, HTML characters, non-ASCII, invalid UTF-8, nil).
func TestBaseJSONMatchesMarshal(t *testing.T) {
	for _, base := range []map[string]string{
		nil,
		{},
		{"uid": "u-1", "name": "Person 1", "email": "p@example.com", "phone": "+15551234567"},
		{"note": `say "hi" \ bye`, "b": "", "a": "x"},
		{"note": "line\nbreak\ttab\x01"},
		{"name": "Zoë <zoe@example.com> & co"},
		{"bad": "\xff\xfe"},
		{"sep": "\u2028"},
	} {
		want, err := json.Marshal(base)
		if err != nil {
			t.Fatal(err)
		}
		got, err := baseJSON(base)
		if err != nil || got != string(want) {
			t.Errorf("baseJSON(%q) = %q, %v; json.Marshal gives %q", base, got, err, want)
		}
	}
}
