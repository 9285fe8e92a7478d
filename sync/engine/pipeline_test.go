package engine

import (
	"errors"
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
