package engine

import (
	"errors"
	"fmt"
	"slices"
	"testing"

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
