package models

import (
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"
)

// BenchmarkSaveMappings10k inserts 10,000 new rows then updates them all,
// as a first sync does (intent, then completion).
func BenchmarkSaveMappings10k(b *testing.B) {
	{
		{
			for b.Loop() {
				b.StopTimer()
				s, p := openTest(b)
				ms := make([]*Mapping, 10000)
				for i := range ms {
					ms[i] = &Mapping{PairID: p.ID, AID: fmt.Sprintf("contact-%07d.vcf", i), State: StatePending, PendingSide: SideB, Key: fmt.Sprintf("contact-%07d", i)}
				}
				b.StartTimer()
				for start := 0; start < len(ms); start += 100 {
					batch := ms[start : start+100]
					if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, batch) }); err != nil {
						b.Fatal(err)
					}
					for i, m := range batch {
						m.BID = fmt.Sprintf("b-%d.vcf", start+i)
						m.State, m.PendingSide = StateOK, ""
						m.AVersion, m.BVersion = "310-1700000000000000000", "311-1700000000000000001"
						m.Base = map[string]string{"uid": m.Key, "name": "Person", "email": "person@example.com", "phone": "+15551234567", "note": "only in this book"}
						m.SyncedAt = time.Now()
					}
					if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, batch) }); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	}
}

// storeWith10k opens a store whose pair has 10,000 mapped records, as a
// vCard sync of 10,000 cards leaves it.
func storeWith10k(b *testing.B) (*Store, *Pair, []*Mapping) {
	s, p := openTest(b)
	ms := make([]*Mapping, 10000)
	for i := range ms {
		ms[i] = &Mapping{PairID: p.ID, AID: fmt.Sprintf("contact-%07d.vcf", i), BID: fmt.Sprintf("%08x-1c2d-4e5f-8a9b-0c1d2e3f4a5b.vcf", i*7919),
			AVersion: fmt.Sprintf("412-17000000%010d", i), BVersion: fmt.Sprintf("415-17000001%010d", i), State: StateOK,
			Base: map[string]string{"name": "Person", "email": "person@example.com"}}
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		b.Fatal(err)
	}
	return s, p, ms
}

// BenchmarkSideVersions10k reads the versions of one side of 10,000
// mappings, as every run of a pair with a fully listed side does: from the
// rows (no snapshot yet), and from a snapshot with 100 changes logged since.
func BenchmarkSideVersions10k(b *testing.B) {
	s, p, ms := storeWith10k(b)
	read := func(b *testing.B) {
		for b.Loop() {
			v, err := s.SideVersions(p.ID, SideB)
			if err != nil || len(v) != len(ms) {
				b.Fatalf("%d versions, %v", len(v), err)
			}
		}
	}
	b.Run("rows", read)
	if err := s.RefreshVersionSnapshot(p.ID, SideB, 0); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		ms[i*100].BVersion += "+"
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		b.Fatal(err)
	}
	b.Run("snapshot", read)
}

// BenchmarkUpdate100of10k stores a 1% sync's outcome: new versions and
// base for 100 of 10,000 mapped rows, without and with the sides' version
// snapshots (whose triggers then log each changed id).
func BenchmarkUpdate100of10k(b *testing.B) {
	for _, snap := range []bool{false, true} {
		b.Run(map[bool]string{false: "no snapshot", true: "snapshot"}[snap], func(b *testing.B) {
			s, p, ms := storeWith10k(b)
			if snap {
				for _, side := range []string{SideA, SideB} {
					if err := s.RefreshVersionSnapshot(p.ID, side, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			batch := make([]*Mapping, 100)
			round := 0
			for b.Loop() {
				round++
				for i := range batch {
					m := ms[i*100]
					m.AVersion, m.BVersion = fmt.Sprintf("412-%d", round), fmt.Sprintf("415-%d", round)
					m.Base = map[string]string{"name": fmt.Sprint("Changed ", round), "email": "person@example.com"}
					batch[i] = m
				}
				if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, batch) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFirstSyncCommits stores what a first sync of 10,000 cards
// commits: ten transactions of 1,000 complete new rows and their events.
func BenchmarkFirstSyncCommits(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		s, p := openTest(b)
		now := time.Now()
		ms := make([]*Mapping, 10000)
		es := make([]Event, len(ms))
		for i := range ms {
			ms[i] = &Mapping{PairID: p.ID, AID: fmt.Sprintf("contact-%07d.vcf", i), BID: fmt.Sprintf("%08x-1c2d-4e5f-8a9b-0c1d2e3f4a5b.vcf", i*7919),
				AVersion: fmt.Sprintf("412-17000000%010d", i), BVersion: fmt.Sprintf("415-17000001%010d", i), State: StateOK, Key: fmt.Sprintf("uid-%07d", i),
				Base: map[string]string{"uid": fmt.Sprintf("uid-%07d", i), "name": "Person", "email": "person@example.com", "phone": "+15551234567"}, SyncedAt: now}
			es[i] = Event{RunID: 1, PairID: p.ID, At: now, AID: ms[i].AID, BID: ms[i].BID, Side: SideB, Action: "create", Fields: "uid,name,email,phone"}
		}
		b.StartTimer()
		for start := 0; start < len(ms); start += 1000 {
			if err := s.Write(func(tx *gorm.DB) error {
				if err := SaveMappings(tx, ms[start:start+1000]); err != nil {
					return err
				}
				return AddEvents(tx, es[start:start+1000])
			}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		for _, m := range ms {
			if m.ID == 0 {
				b.Fatal("a row got no id")
			}
		}
		s.Close()
		b.StartTimer()
	}
}
