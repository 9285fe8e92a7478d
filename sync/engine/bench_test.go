package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"gorm.io/gorm"

	"tandem/models"
	"tandem/sync/connector/memory"
)

// BenchmarkIncremental measures one run in which 100 records changed on an
// incremental side among n mapped records. The cost must follow the 100
// changes, not n: compare the 10000 and 100000 sub-benchmarks.
func BenchmarkIncremental(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			store, pair := benchStore(b)
			defer store.Close()
			a := memory.New(memory.Options{Name: "a", Incremental: true, Conditional: true})
			bb := memory.New(memory.Options{Name: "b", Incremental: true, Conditional: true})
			rows := make([]*models.Mapping, 0, n)
			for i := 0; i < n; i++ {
				email := fmt.Sprintf("person%d@example.com", i)
				aid, bid := "a-"+strconv.Itoa(i), "b-"+strconv.Itoa(i)
				a.Put(aid, map[string]string{"EMAIL": email, "FN": "Person " + strconv.Itoa(i), "BDAY": "1980-01-02"})
				bb.Put(bid, map[string]string{"email": email, "name": "Person " + strconv.Itoa(i), "bday": "01/02/1980"})
				ra, _ := a.Record(aid)
				rb, _ := bb.Record(bid)
				rows = append(rows, &models.Mapping{PairID: pair.ID, AID: aid, BID: bid, AVersion: ra.Version, BVersion: rb.Version,
					Key: email, State: models.StateOK,
					Base: map[string]string{"email": email, "name": "Person " + strconv.Itoa(i), "phone": "", "birthday": "1980-01-02"}})
			}
			if err := store.Write(func(tx *gorm.DB) error { return models.SaveMappings(tx, rows) }); err != nil {
				b.Fatal(err)
			}
			if err := store.SaveCursors(pair.ID, a.Cursor(), bb.Cursor()); err != nil {
				b.Fatal(err)
			}
			pair.CursorA, pair.CursorB = a.Cursor(), bb.Cursor()
			ctx := context.Background()
			b.ResetTimer()
			for iter := 0; iter < b.N; iter++ {
				b.StopTimer()
				for k := 0; k < 100; k++ {
					i := (iter*100 + k*97) % n
					a.Set("a-"+strconv.Itoa(i), map[string]string{"FN": fmt.Sprintf("Person %d v%d", i, iter)})
				}
				b.StartTimer()
				res, err := Run(ctx, store, pair, a, bb, Options{Trigger: "timer"})
				if err != nil {
					b.Fatal(err)
				}
				if res.Updated != 100 || res.Errors != 0 {
					b.Fatalf("iteration %d: %s", iter, res.Summary())
				}
			}
		})
	}
}

// BenchmarkFirstSync measures a first sync of 10,000 records into an empty
// side, through in-memory connectors: what is left is the engine's and the
// store's own cost (intent, rows, events), which on a first sync of vCard
// folders competes with the file writes for the CPU.
func BenchmarkFirstSync(b *testing.B) {
	const n = 10000
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		store, pair := benchStore(b)
		a := memory.New(memory.Options{Name: "a"})
		bb := memory.New(memory.Options{Name: "b"})
		for i := 0; i < n; i++ {
			a.Put("a-"+strconv.Itoa(i), map[string]string{"EMAIL": fmt.Sprintf("person%d@example.com", i), "FN": "Person " + strconv.Itoa(i), "BDAY": "1980-01-02"})
		}
		b.StartTimer()
		res, err := Run(context.Background(), store, pair, a, bb, Options{})
		b.StopTimer()
		if err != nil || res.Created != n || res.Errors != 0 {
			b.Fatalf("%s, %v", res.Summary(), err)
		}
		store.Close()
		b.StartTimer()
	}
}

// benchStore opens a store in a temporary folder with one pair of two
// in-memory connections.
func benchStore(b *testing.B) (*models.Store, *models.Pair) {
	store, err := models.Open(filepath.Join(b.TempDir(), "tandem.db"))
	if err != nil {
		b.Fatal(err)
	}
	pair := &models.Pair{Name: "bench", Key: "email", Fields: testFields(),
		A:        models.Connection{Name: "A", Kind: "memory"},
		B:        models.Connection{Name: "B", Kind: "memory"},
		Conflict: models.ConflictNewest, Deletes: models.DeletePropagate, Interval: "5m"}
	if err := store.SavePair(pair); err != nil {
		b.Fatal(err)
	}
	return store, pair
}
