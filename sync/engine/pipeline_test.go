package engine

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"tandem/sync/connector"
	"tandem/sync/connector/memory"
)

// A unit that writes both sides: its A write fails per record, so B must
// not be written in the same run (the plan was abandoned).
func TestFailedFirstSideIsNotWrittenToSecond(t *testing.T) {
	e := newEnv(t, envOpt{})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "s@x.org", "FN": "Sam", "TEL": "+1"}, nil)
	e.a.Set(aid, map[string]string{"FN": "Samuel"}) // -> write B
	e.b.Set(bid, map[string]string{"phone": "+2"})  // -> write A
	e.a.FailRecord(aid, errors.New("server said no"))
	e.resetCounters()
	res := e.sync(Options{})
	if res.Errors != 1 {
		t.Fatalf("%+v", res)
	}
	if n := e.b.Writes(connector.OpUpdate); n != 0 {
		t.Fatalf("B written %d times after the unit failed on A", n)
	}
}

// 412 on A: the unit is retried after a re-read; B must not get the
// write planned from the stale read.
func TestRetryOnFirstSideWritesSecondOnce(t *testing.T) {
	e := newEnv(t, envOpt{a: memory.Options{Conditional: true}})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "s@x.org", "FN": "Sam", "TEL": "+1"}, nil)
	e.a.Set(aid, map[string]string{"FN": "Samuel"})
	e.b.Set(bid, map[string]string{"phone": "+2"})
	hits := 0
	e.a.BeforeApply(func(ws []connector.Write) {
		if hits == 0 {
			e.a.Set(aid, map[string]string{"FN": "Samantha"})
		}
		hits++
	})
	e.resetCounters()
	res := e.sync(Options{})
	if res.Errors != 0 {
		t.Fatalf("%+v", res)
	}
	wantField(t, e.b, bid, "name", "Samantha")
	if n := e.b.Writes(connector.OpUpdate); n != 1 {
		t.Fatalf("B written %d times, want 1", n)
	}
}

// A first sync of several batches: the last batch goes as three quarters
// and a quarter (its rows are stored with nothing left to overlap), and the
// version snapshots are built before the last two batches, whose rows the
// triggers log; the snapshot and the log give every record's version, and
// the next run writes nothing.
func TestLastBatchSplitAndSnapshotsBuiltAhead(t *testing.T) {
	e := newEnv(t, envOpt{b: memory.Options{MaxBatch: 300}})
	for i := range 1200 {
		e.a.Add(map[string]string{"email": fmt.Sprintf("p%d@example.com", i), "name": "P"})
	}
	var sizes []int
	e.b.BeforeApply(func(ws []connector.Write) { sizes = append(sizes, len(ws)) })
	if res := e.sync(Options{}); res.Created != 1200 {
		t.Fatalf("created %d, want 1200", res.Created)
	}
	if want := []int{300, 300, 300, 225, 75}; !slices.Equal(sizes, want) {
		t.Fatalf("B's Apply calls took %v, want %v", sizes, want)
	}
	var n, logged int
	if err := e.store.DB.Raw("SELECT n FROM version_snapshots WHERE pair_id = ? AND side = 'b'", e.pair.ID).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DB.Raw("SELECT count(*) FROM version_log WHERE pair_id = ? AND side = 'b'", e.pair.ID).Row().Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if n != 900 || logged != 300 {
		t.Errorf("side b's snapshot holds %d records and the log %d, want 900 and 300", n, logged)
	}
	got, err := e.store.SideVersions(e.pair.ID, "b")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1200 {
		t.Fatalf("%d stored versions of side b, want 1200", len(got))
	}
	for _, id := range e.b.IDs() {
		if rec, _ := e.b.Record(id); got[id] != rec.Version {
			t.Fatalf("stored version of %s is %q, the record's %q", id, got[id], rec.Version)
		}
	}
	e.resetCounters()
	if res := e.sync(Options{}); res.Created+res.Updated+res.Deleted != 0 {
		t.Fatalf("second run: %+v", res)
	}
	e.noWrites()
}

// A run with enough units is planned on several goroutines (planAll): a
// mix of edits on either side, edits of one field on both (settled by the
// newest), deletes and new records comes out as planned one by one would.
// Run with -race, this also checks that planning a unit touches only it.
func TestManyUnitsPlannedInParallel(t *testing.T) {
	e := newEnv(t, envOpt{})
	const n = 1600
	if n/parallelChunk < 2 {
		t.Fatalf("%d units plan on one goroutine", n)
	}
	aids := make([]string, n)
	for i := range aids {
		aids[i] = e.a.Add(map[string]string{"EMAIL": fmt.Sprintf("p%d@example.com", i), "FN": fmt.Sprintf("P %d", i)})
	}
	if res := e.sync(Options{}); res.Created != n || res.Errors != 0 {
		t.Fatalf("first sync %+v", res)
	}
	linked := map[string]string{}
	for _, m := range e.rows() {
		linked[m.AID] = m.BID
	}
	bids := make([]string, n)
	for i, a := range aids {
		if bids[i] = linked[a]; bids[i] == "" {
			t.Fatalf("%s not linked", a)
		}
	}
	later := time.Now().Add(time.Hour)
	for i := range n {
		switch i % 8 {
		case 0: // edited on A
			e.a.Set(aids[i], map[string]string{"FN": fmt.Sprintf("A %d", i)})
		case 1: // edited on B
			e.b.Set(bids[i], map[string]string{"name": fmt.Sprintf("B %d", i)})
		case 2: // the same field on both, B later: B wins (newest)
			e.a.Set(aids[i], map[string]string{"FN": fmt.Sprintf("A %d", i)})
			e.b.Set(bids[i], map[string]string{"name": fmt.Sprintf("B %d", i)})
			e.b.SetModified(bids[i], later)
		case 3: // deleted on A
			e.a.Remove(aids[i])
		}
	}
	for i := range 50 {
		e.b.Add(map[string]string{"email": fmt.Sprintf("new%d@example.com", i), "name": "New"})
	}
	e.resetCounters()
	res := e.sync(Options{})
	if res.Errors != 0 || res.Created != 50 || res.Deleted != n/8 || res.Updated != 3*n/8 || res.Conflicts != 0 {
		t.Fatalf("result %+v; want 50 created, %d deleted, %d updated", res, n/8, 3*n/8)
	}
	for i := range n {
		switch i % 8 {
		case 0:
			wantField(t, e.b, bids[i], "name", fmt.Sprintf("A %d", i))
		case 1:
			wantField(t, e.a, aids[i], "FN", fmt.Sprintf("B %d", i))
		case 2:
			wantField(t, e.a, aids[i], "FN", fmt.Sprintf("B %d", i))
		case 3:
			if e.b.Fields(bids[i]) != nil {
				t.Fatalf("B %s survived its A record's delete", bids[i])
			}
		default:
			wantField(t, e.b, bids[i], "name", fmt.Sprintf("P %d", i))
		}
	}
	if e.a.Len() != n-n/8+50 || e.b.Len() != e.a.Len() {
		t.Fatalf("A has %d, B %d", e.a.Len(), e.b.Len())
	}
	e.resetCounters()
	if res := e.sync(Options{}); res.Created+res.Updated+res.Deleted+res.Errors != 0 {
		t.Fatalf("third run %+v", res)
	}
}
