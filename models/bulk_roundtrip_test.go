package models

import (
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"
)

// Values written by the JSON bulk path must read back as written, and with
// the same SQLite type as the gorm path would store.
func TestRoundTrip(t *testing.T) {
	s, p := openTest(t)
	odd := []string{"", "007", "1e5", "12", "-0", " 12", "0x10", "true", "null", "1.50", "9223372036854775808",
		"nul\x00byte", "\u2028", "'single'", "[1]", "{\"a\":1}", "\x7f", "🙂"}
	zones := []time.Time{{}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", -(3*3600+30*60)))}
	var ms []*Mapping
	for i, v := range odd {
		ms = append(ms, &Mapping{PairID: p.ID, AID: fmt.Sprintf("a%d", i), BID: "b" + v, AVersion: v, BVersion: v, Key: v, LastError: v, PendingSide: v,
			Base: map[string]string{v: v}, SyncedAt: zones[i%len(zones)]})
	}
	// Reference rows through gorm.
	var ref []*Mapping
	for i, v := range odd {
		ref = append(ref, &Mapping{PairID: p.ID, AID: fmt.Sprintf("r%d", i), BID: "r" + v, AVersion: v, BVersion: v, Key: v, LastError: v, PendingSide: v,
			Base: map[string]string{v: v}, State: StateOK, SyncedAt: zones[i%len(zones)]})
	}
	if err := s.Write(func(tx *gorm.DB) error {
		if err := SaveMappings(tx, ms); err != nil {
			return err
		}
		return tx.Create(ref).Error
	}); err != nil {
		t.Fatal(err)
	}
	// Update path (known rows: updateMappings), changing only plain columns.
	for _, m := range ms {
		got, _ := s.MappingByID(m.ID)
		got.AVersion = got.AVersion + ""
		*m = *got
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		t.Fatal(err)
	}
	for i, v := range odd {
		got, err := s.MappingByID(ms[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.AVersion != v || got.Key != v || got.LastError != v || got.PendingSide != v || got.BID != "b"+v || got.Base[v] != v || !got.SyncedAt.Equal(zones[i%len(zones)]) {
			t.Errorf("%q: read back %+v", v, got)
		}
		var types, rtypes string
		q := "SELECT typeof(a_version)||typeof(key)||typeof(last_error)||typeof(synced_at)||typeof(base)||typeof(b_id) FROM mappings WHERE id = ?"
		s.DB.Raw(q, ms[i].ID).Row().Scan(&types)
		s.DB.Raw(q, ref[i].ID).Row().Scan(&rtypes)
		if types != rtypes {
			t.Errorf("%q: types %s, gorm %s", v, types, rtypes)
		}
		var raw, rraw string
		q = "SELECT quote(synced_at)||quote(a_version)||quote(key) FROM mappings WHERE id = ?"
		s.DB.Raw(q, ms[i].ID).Row().Scan(&raw)
		s.DB.Raw(q, ref[i].ID).Row().Scan(&rraw)
		if raw != rraw {
			t.Errorf("%q: stored %s, gorm %s", v, raw, rraw)
		}
	}
	// SideVersions over the same rows.
	sv, err := s.SideVersions(p.ID, SideB)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range odd {
		if got, ok := sv["b"+v]; !ok || got != v {
			t.Errorf("SideVersions[%q] = %q, %v", "b"+v, got, ok)
		}
	}
}

// A column equal in every row of a batch is bound once instead of carried
// in the JSON: it must be stored as the same text and type either way (a
// time with nanoseconds and a zone, an id, a string).
func TestConstantColumnsStoredAsPerRow(t *testing.T) {
	s, p := openTest(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", -(3*3600+30*60)))
	var same, varied []*Mapping
	for i := range 3 {
		same = append(same, &Mapping{PairID: p.ID, AID: fmt.Sprintf("s%d", i), State: StateOK, LastError: "x", SyncedAt: at})
		varied = append(varied, &Mapping{PairID: p.ID, AID: fmt.Sprintf("v%d", i), State: StateOK, LastError: []string{"x", "y"}[i%2], SyncedAt: at.Add(time.Duration(i%2) * time.Second)})
	}
	for _, batch := range [][]*Mapping{same, varied} {
		if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, batch) }); err != nil {
			t.Fatal(err)
		}
	}
	type stored struct{ At, AtType, PairType, Err string }
	read := func(aID string) (r stored) {
		t.Helper()
		if err := s.DB.Raw("SELECT synced_at || '', typeof(synced_at), typeof(pair_id), last_error FROM mappings WHERE a_id = ?", aID).Row().Scan(&r.At, &r.AtType, &r.PairType, &r.Err); err != nil {
			t.Fatal(err)
		}
		return r
	}
	want := read("v0") // written through the JSON, time and error varying in the batch
	for _, id := range []string{"s0", "s1", "s2"} {
		if got := read(id); got != want {
			t.Errorf("%s, bound once: %+v; through the JSON: %+v", id, got, want)
		}
	}
}
