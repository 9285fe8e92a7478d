package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/sync/connector/memory"
)

func testFields() []models.Field {
	return []models.Field{
		{Name: "email", A: "EMAIL", B: "email", Transform: "email"},
		{Name: "name", A: "FN", B: "name"},
		{Name: "phone", A: "TEL", B: "phone"},
		{Name: "birthday", A: "BDAY", B: "bday", Transform: "date", AFormat: "2006-01-02", BFormat: "01/02/2006"},
	}
}

type env struct {
	t     *testing.T
	store *models.Store
	pair  *models.Pair
	a, b  *memory.Conn
}

type envOpt struct {
	a, b     memory.Options
	conflict string
	deletes  string
	fields   []models.Field
	share    float64
}

func newEnv(t *testing.T, o envOpt) *env {
	t.Helper()
	store, err := models.Open(filepath.Join(t.TempDir(), "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if o.fields == nil {
		o.fields = testFields()
	}
	if o.a.Name == "" {
		o.a.Name = "a"
	}
	if o.b.Name == "" {
		o.b.Name = "b"
	}
	p := &models.Pair{Name: "contacts", Key: "email", Fields: o.fields,
		A:        models.Connection{Name: "Folder A", Kind: "memory"},
		B:        models.Connection{Name: "Folder B", Kind: "memory"},
		Conflict: o.conflict, Deletes: o.deletes, Interval: "5m", BrakeShare: o.share}
	if p.Conflict == "" {
		p.Conflict = models.ConflictNewest
	}
	if p.Deletes == "" {
		p.Deletes = models.DeletePropagate
	}
	if err := store.SavePair(p); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: store, pair: p, a: memory.New(o.a), b: memory.New(o.b)}
}

func (e *env) sync(opt Options) Result {
	e.t.Helper()
	res, err := Run(context.Background(), e.store, e.pair, e.a, e.b, opt)
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return res
}

func (e *env) rows() []models.Mapping {
	e.t.Helper()
	ms, err := e.store.QueryMappings(models.MappingQuery{PairID: e.pair.ID}, 0, 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func (e *env) resetCounters() { e.a.ResetCounters(); e.b.ResetCounters() }

func (e *env) noWrites() {
	e.t.Helper()
	if n, m := e.a.TotalWrites(), e.b.TotalWrites(); n != 0 || m != 0 {
		e.t.Fatalf("writes: A %d, B %d; want none", n, m)
	}
}

func (e *env) rowFor(side, id string) models.Mapping {
	e.t.Helper()
	ms, err := e.store.FindMappings(e.pair.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range ms {
		if side == "a" && m.AID == id || side == "b" && m.BID == id {
			return m
		}
	}
	e.t.Fatalf("no row for %s id %s", side, id)
	return models.Mapping{}
}

// linked returns the B id mapped to A id.
func (e *env) linked(aid string) string {
	e.t.Helper()
	return e.rowFor("a", aid).BID
}

func wantField(t *testing.T, c *memory.Conn, id, field, want string) {
	t.Helper()
	f := c.Fields(id)
	if f == nil {
		t.Fatalf("record %s missing", id)
	}
	if f[field] != want {
		t.Fatalf("record %s field %s = %q, want %q (all: %v)", id, field, f[field], want, f)
	}
}

func (e *env) firstSync(aFields, bFields map[string]string) (aid, bid string) {
	e.t.Helper()
	aid = e.a.Add(aFields)
	e.sync(Options{})
	bid = e.linked(aid)
	if bid == "" {
		e.t.Fatal("not linked")
	}
	_ = bFields
	e.resetCounters()
	return aid, bid
}

func TestFirstSyncBothWaysThenEchoSuppression(t *testing.T) {
	for _, inc := range []bool{false, true} {
		t.Run(map[bool]string{false: "full", true: "incremental"}[inc], func(t *testing.T) {
			e := newEnv(t, envOpt{a: memory.Options{Incremental: inc}, b: memory.Options{Incremental: inc, IDsOnly: true}})
			alice := e.a.Add(map[string]string{"EMAIL": "alice@example.com", "FN": "Alice", "BDAY": "1985-04-12"})
			bob := e.b.Add(map[string]string{"email": "bob@example.com", "name": "Bob", "bday": "12/31/1990"})
			res := e.sync(Options{})
			if res.Created != 2 || res.Errors != 0 || res.Updated != 0 {
				t.Fatalf("result %+v", res)
			}
			if e.a.Len() != 2 || e.b.Len() != 2 {
				t.Fatalf("lens %d %d", e.a.Len(), e.b.Len())
			}
			bAlice := e.linked(alice)
			wantField(t, e.b, bAlice, "email", "alice@example.com")
			wantField(t, e.b, bAlice, "name", "Alice")
			wantField(t, e.b, bAlice, "bday", "04/12/1985") // date transform per side
			aBob := e.rowFor("b", bob).AID
			wantField(t, e.a, aBob, "BDAY", "1990-12-31")
			for _, m := range e.rows() {
				if m.State != models.StateOK || m.AID == "" || m.BID == "" || m.Base["email"] == "" {
					t.Fatalf("row %+v", m)
				}
			}
			// Echo suppression: the second (and third) run writes nothing.
			for i := 0; i < 2; i++ {
				e.resetCounters()
				res = e.sync(Options{})
				e.noWrites()
				if res.Created+res.Updated+res.Deleted+res.Errors != 0 {
					t.Fatalf("run %d: %+v", i+2, res)
				}
			}
			if len(e.rows()) != 2 {
				t.Fatalf("rows %d", len(e.rows()))
			}
		})
	}
}

func TestFirstSyncMatchesByNormalizedKey(t *testing.T) {
	e := newEnv(t, envOpt{})
	aid := e.a.Add(map[string]string{"EMAIL": " Alice@Example.COM ", "FN": "Alice"})
	bid := e.b.Add(map[string]string{"email": "alice@example.com", "phone": "+15551234567"})
	res := e.sync(Options{})
	if res.Created != 0 || e.a.Len() != 1 || e.b.Len() != 1 {
		t.Fatalf("duplicates: %+v, lens %d %d", res, e.a.Len(), e.b.Len())
	}
	if e.linked(aid) != bid {
		t.Fatal("not linked by key")
	}
	wantField(t, e.a, aid, "TEL", "+15551234567") // set on B only: taken
	wantField(t, e.b, bid, "name", "Alice")
	if f := e.b.Fields(bid); f["email"] != "alice@example.com" {
		t.Fatalf("B email rewritten: %v", f)
	}
	e.resetCounters()
	e.sync(Options{})
	e.noWrites()
}

func TestFieldMergeAndSameValue(t *testing.T) {
	e := newEnv(t, envOpt{conflict: models.ConflictManual})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "c@x.org", "FN": "Carl", "TEL": "+1"}, nil)
	e.a.Set(aid, map[string]string{"FN": "Carl Jr"})
	e.b.Set(bid, map[string]string{"phone": "+2"})
	res := e.sync(Options{})
	if res.Conflicts != 0 || res.Updated != 2 {
		t.Fatalf("merge: %+v", res)
	}
	wantField(t, e.a, aid, "TEL", "+2")
	wantField(t, e.b, bid, "name", "Carl Jr")
	// Same field, same value on both sides: no conflict, nothing written.
	e.a.Set(aid, map[string]string{"TEL": "+3"})
	e.b.Set(bid, map[string]string{"phone": "+3"})
	e.resetCounters()
	res = e.sync(Options{})
	if res.Conflicts != 0 {
		t.Fatalf("same value conflict: %+v", res)
	}
	e.noWrites()
	if m := e.rowFor("a", aid); m.Base["phone"] != "+3" || m.State != models.StateOK {
		t.Fatalf("base %+v", m)
	}
}

func TestConflictPolicies(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		policy       string
		aTime, bTime time.Time
		want         string
	}{
		{models.ConflictNewest, t0, t0.Add(time.Hour), "from-b"},
		{models.ConflictNewest, t0.Add(time.Hour), t0, "from-a"},
		{models.ConflictNewest, t0, t0, "from-a"},               // tie: A wins
		{models.ConflictNewest, time.Time{}, t0, "from-a"},      // unknown: A wins
		{models.ConflictAWins, t0, t0.Add(time.Hour), "from-a"}, // time ignored
		{models.ConflictBWins, t0.Add(time.Hour), t0, "from-b"},
	}
	for n, c := range cases {
		// Distinct names: a '#' (Go's suffix for repeated names) in the
		// temp dir would cut the store's file: DSN short.
		t.Run(fmt.Sprintf("%d-%s-%s", n, c.policy, c.want), func(t *testing.T) {
			e := newEnv(t, envOpt{conflict: c.policy})
			aid, bid := e.firstSync(map[string]string{"EMAIL": "d@x.org", "FN": "Dora"}, nil)
			e.a.Set(aid, map[string]string{"FN": "from-a", "TEL": "+1"})
			e.b.Set(bid, map[string]string{"name": "from-b"})
			e.a.SetModified(aid, c.aTime)
			e.b.SetModified(bid, c.bTime)
			res := e.sync(Options{})
			if res.Conflicts != 0 || res.Errors != 0 {
				t.Fatalf("%+v", res)
			}
			wantField(t, e.a, aid, "FN", c.want)
			wantField(t, e.b, bid, "name", c.want)
			wantField(t, e.b, bid, "phone", "+1") // the other field merges either way
			e.resetCounters()
			e.sync(Options{})
			e.noWrites()
		})
	}
}

func TestManualConflictAndResolve(t *testing.T) {
	e := newEnv(t, envOpt{conflict: models.ConflictManual})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "e@x.org", "FN": "Eve", "TEL": "+1"}, nil)
	e.a.Set(aid, map[string]string{"FN": "Eve A", "BDAY": "2000-01-02"})
	e.b.Set(bid, map[string]string{"name": "Eve B", "phone": "+9"})
	res := e.sync(Options{})
	if res.Conflicts != 1 || res.Updated != 0 {
		t.Fatalf("%+v", res)
	}
	e.noWrites()
	m := e.rowFor("a", aid)
	if m.State != models.StateConflict {
		t.Fatalf("state %s", m.State)
	}
	evs, _ := e.store.Events(e.pair.ID, 0, 10)
	if evs[0].Action != "conflict" || evs[0].Fields != "name" {
		t.Fatalf("event %+v", evs[0])
	}
	// A later run does not overwrite the conflicting edits.
	e.sync(Options{})
	e.noWrites()
	wantField(t, e.a, aid, "FN", "Eve A")
	// Resolve needs a choice for every conflicting field.
	if err := Resolve(context.Background(), e.store, e.pair, e.a, e.b, m.ID, map[string]string{}); err == nil || !strings.Contains(err.Error(), "name") {
		t.Fatalf("resolve without choice: %v", err)
	}
	if err := Resolve(context.Background(), e.store, e.pair, e.a, e.b, m.ID, map[string]string{"name": "b"}); err != nil {
		t.Fatal(err)
	}
	wantField(t, e.a, aid, "FN", "Eve B")
	wantField(t, e.a, aid, "TEL", "+9")
	wantField(t, e.b, bid, "bday", "01/02/2000")
	if m := e.rowFor("a", aid); m.State != models.StateOK || m.Base["name"] != "Eve B" {
		t.Fatalf("after resolve %+v", m)
	}
	e.resetCounters()
	e.sync(Options{})
	e.noWrites()
}

func TestManualConflictOnFirstContact(t *testing.T) {
	e := newEnv(t, envOpt{conflict: models.ConflictManual})
	aid := e.a.Add(map[string]string{"EMAIL": "f@x.org", "FN": "Fay"})
	bid := e.b.Add(map[string]string{"email": "f@x.org", "name": "Faye", "phone": "+1"})
	res := e.sync(Options{})
	if res.Conflicts != 1 || res.Created != 0 {
		t.Fatalf("%+v", res)
	}
	e.noWrites()
	m := e.rowFor("a", aid)
	if m.BID != bid || m.State != models.StateConflict {
		t.Fatalf("%+v", m)
	}
	if err := Resolve(context.Background(), e.store, e.pair, e.a, e.b, m.ID, map[string]string{"name": "a"}); err != nil {
		t.Fatal(err)
	}
	wantField(t, e.b, bid, "name", "Fay")
	wantField(t, e.a, aid, "TEL", "+1")
}

func TestDeletePolicies(t *testing.T) {
	t.Run("propagate", func(t *testing.T) {
		e := newEnv(t, envOpt{deletes: models.DeletePropagate, b: memory.Options{Conditional: true}})
		aid, bid := e.firstSync(map[string]string{"EMAIL": "g@x.org"}, nil)
		keep := e.a.Add(map[string]string{"EMAIL": "h@x.org"})
		e.a.Add(map[string]string{"EMAIL": "i@x.org"})
		e.a.Add(map[string]string{"EMAIL": "j@x.org"})
		e.sync(Options{})
		e.a.Remove(aid)
		res := e.sync(Options{})
		if res.Deleted != 1 || e.b.Fields(bid) != nil {
			t.Fatalf("%+v", res)
		}
		if ms, _ := e.store.FindMappings(e.pair.ID, aid); len(ms) != 0 {
			t.Fatal("row kept")
		}
		if e.linked(keep) == "" {
			t.Fatal("other row lost")
		}
	})
	t.Run("ignore", func(t *testing.T) {
		e := newEnv(t, envOpt{deletes: models.DeleteIgnore, share: 1})
		e.a.Add(map[string]string{"EMAIL": "stay@x.org"}) // a side listed empty would trip the brake
		aid, bid := e.firstSync(map[string]string{"EMAIL": "g@x.org"}, nil)
		e.a.Remove(aid)
		res := e.sync(Options{})
		if res.Deleted != 0 || e.b.Fields(bid) == nil {
			t.Fatalf("%+v", res)
		}
		if ms, _ := e.store.FindMappings(e.pair.ID, aid); len(ms) != 0 {
			t.Fatal("still linked to the deleted record")
		}
		evs, _ := e.store.Events(e.pair.ID, 0, 1)
		if evs[0].Action != "unlink" {
			t.Fatalf("event %+v", evs[0])
		}
		// The survivor is not re-created on A by later runs.
		e.sync(Options{})
		e.sync(Options{})
		if e.a.Len() != 1 {
			t.Fatal("unlinked record was re-created")
		}
	})
	t.Run("confirm+allow", func(t *testing.T) {
		e := newEnv(t, envOpt{deletes: models.DeleteConfirm, share: 1})
		e.a.Add(map[string]string{"EMAIL": "stay@x.org"}) // a side listed empty would trip the brake
		aid, bid := e.firstSync(map[string]string{"EMAIL": "g@x.org"}, nil)
		e.a.Remove(aid)
		res := e.sync(Options{})
		if res.Deleted != 0 || e.b.Fields(bid) == nil {
			t.Fatalf("%+v", res)
		}
		m := e.rowFor("b", bid)
		if m.State != models.StateDeletePending || m.PendingSide != "a" {
			t.Fatalf("%+v", m)
		}
		e.sync(Options{}) // still waiting, still nothing deleted
		e.noWrites()
		if err := AllowDelete(context.Background(), e.store, e.pair, e.a, e.b, m.ID); err != nil {
			t.Fatal(err)
		}
		if e.b.Fields(bid) != nil || e.b.Len() != 1 || len(e.rows()) != 1 {
			t.Fatal("not deleted")
		}
	})
	t.Run("confirm+keep", func(t *testing.T) {
		e := newEnv(t, envOpt{deletes: models.DeleteConfirm, share: 1})
		e.a.Add(map[string]string{"EMAIL": "stay@x.org"}) // a side listed empty would trip the brake
		aid, bid := e.firstSync(map[string]string{"EMAIL": "g@x.org"}, nil)
		e.a.Remove(aid)
		e.sync(Options{})
		m := e.rowFor("b", bid)
		if err := KeepRecord(context.Background(), e.store, e.pair, m.ID); err != nil {
			t.Fatal(err)
		}
		e.sync(Options{})
		if e.b.Fields(bid) == nil || e.a.Len() != 1 {
			t.Fatal("keep: record lost or re-created")
		}
		if got := e.rowFor("b", bid); got.AID != "" || got.State != models.StateOK {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("edit beats delete", func(t *testing.T) {
		e := newEnv(t, envOpt{deletes: models.DeletePropagate, share: 1})
		e.a.Add(map[string]string{"EMAIL": "stay@x.org"}) // a side listed empty would trip the brake
		aid, bid := e.firstSync(map[string]string{"EMAIL": "g@x.org", "FN": "Gus"}, nil)
		e.a.Remove(aid)
		e.b.Set(bid, map[string]string{"name": "Gus edited"})
		res := e.sync(Options{})
		if res.Deleted != 0 || res.Created != 1 {
			t.Fatalf("%+v", res)
		}
		naid := e.rowFor("b", bid).AID
		if naid == "" || naid == aid {
			t.Fatal("not re-created")
		}
		wantField(t, e.a, naid, "FN", "Gus edited")
		e.resetCounters()
		e.sync(Options{})
		e.noWrites()
	})
	t.Run("gone from both", func(t *testing.T) {
		e := newEnv(t, envOpt{})
		aid, bid := e.firstSync(map[string]string{"EMAIL": "g@x.org"}, nil)
		e.a.Remove(aid)
		e.b.Remove(bid)
		res := e.sync(Options{ForceDelete: true})
		if res.Deleted != 0 || len(e.rows()) != 0 {
			t.Fatalf("%+v rows %d", res, len(e.rows()))
		}
		e.noWrites()
	})
	t.Run("incremental delete", func(t *testing.T) {
		e := newEnv(t, envOpt{a: memory.Options{Incremental: true}, b: memory.Options{Incremental: true}, share: 1})
		aid, bid := e.firstSync(map[string]string{"EMAIL": "g@x.org"}, nil)
		e.b.Remove(bid)
		res := e.sync(Options{})
		if res.Deleted != 1 || e.a.Fields(aid) != nil {
			t.Fatalf("%+v", res)
		}
	})
}

func TestBrakes(t *testing.T) {
	t.Run("empty side", func(t *testing.T) {
		e := newEnv(t, envOpt{})
		for _, m := range []string{"k@x.org", "l@x.org"} {
			e.a.Add(map[string]string{"EMAIL": m})
		}
		e.sync(Options{})
		before := [2]string{e.pair.CursorA, e.pair.CursorB}
		e.b.Clear()
		e.resetCounters()
		_, err := Run(context.Background(), e.store, e.pair, e.a, e.b, Options{})
		var be *BrakeError
		if !errors.As(err, &be) || !strings.Contains(be.Reason, "Folder B came back empty while 2 records are mapped") {
			t.Fatalf("err %v", err)
		}
		e.noWrites()
		if e.a.Len() != 2 || len(e.rows()) != 2 {
			t.Fatal("something was deleted")
		}
		p, _ := e.store.PairByID(e.pair.ID)
		if p.CursorA != before[0] || p.CursorB != before[1] {
			t.Fatal("cursor advanced on refusal")
		}
		runs, _ := e.store.Runs(e.pair.ID, 1)
		if runs[0].Error == "" {
			t.Fatal("refused run not recorded")
		}
		res := e.sync(Options{ForceDelete: true})
		if res.Deleted != 2 || e.a.Len() != 0 {
			t.Fatalf("force: %+v", res)
		}
	})
	for _, inc := range []bool{false, true} {
		t.Run(fmt.Sprintf("share-incremental-%v", inc), func(t *testing.T) {
			e := newEnv(t, envOpt{share: 0.25, a: memory.Options{Incremental: inc}, b: memory.Options{Incremental: inc}})
			var ids []string
			for _, m := range []string{"1@x.org", "2@x.org", "3@x.org", "4@x.org", "5@x.org", "6@x.org", "7@x.org", "8@x.org"} {
				ids = append(ids, e.a.Add(map[string]string{"EMAIL": m}))
			}
			e.sync(Options{})
			e.resetCounters()
			for _, id := range ids[:3] { // 3 of 8 > 25%
				e.a.Remove(id)
			}
			_, err := Run(context.Background(), e.store, e.pair, e.a, e.b, Options{})
			var be *BrakeError
			if !errors.As(err, &be) || be.Side != "b" || len(be.WouldDelete) != 3 {
				t.Fatalf("err %v %+v", err, be)
			}
			e.noWrites()
			if e.b.Len() != 8 {
				t.Fatal("deleted despite brake")
			}
			res := e.sync(Options{ForceDelete: true})
			if res.Deleted != 3 || e.b.Len() != 5 {
				t.Fatalf("%+v", res)
			}
			// Two of the remaining five (40%) is refused; one (20%) goes through.
			e.a.Remove(ids[3])
			if res := e.sync(Options{}); res.Deleted != 1 {
				t.Fatalf("%+v", res)
			}
		})
	}
}

func TestOnlyMappedFieldsWritten(t *testing.T) {
	e := newEnv(t, envOpt{})
	aid := e.a.Add(map[string]string{"EMAIL": "m@x.org", "FN": "Max", "NOTE": "secret A note"})
	bid := e.b.Add(map[string]string{"email": "m@x.org", "notes": "B notes", "name": "Max"})
	e.sync(Options{})
	if _, ok := e.b.Fields(bid)["NOTE"]; ok {
		t.Fatal("unmapped field copied")
	}
	e.a.Set(aid, map[string]string{"FN": "Maxine", "NOTE": "changed"})
	e.sync(Options{})
	f := e.b.Fields(bid)
	if f["notes"] != "B notes" || f["name"] != "Maxine" || f["NOTE"] != "" {
		t.Fatalf("%v", f)
	}
}

func TestDirections(t *testing.T) {
	fs := testFields()
	fs[1].Direction = models.DirAToB // name: A is the source
	fs[2].Direction = models.DirBToA // phone: B is the source
	e := newEnv(t, envOpt{fields: fs})
	aid := e.a.Add(map[string]string{"EMAIL": "n@x.org", "FN": "Nan", "TEL": "+1"})
	e.sync(Options{})
	bid := e.linked(aid)
	wantField(t, e.b, bid, "name", "Nan")
	wantField(t, e.b, bid, "phone", "") // b-to-a: never written to B
	e.b.Set(bid, map[string]string{"name": "B edit", "phone": "+2"})
	e.sync(Options{})
	wantField(t, e.a, aid, "FN", "Nan") // a-to-b: never written to A
	wantField(t, e.a, aid, "TEL", "+2")
	e.a.Set(aid, map[string]string{"FN": "Nan 2", "TEL": "+3"})
	e.sync(Options{})
	wantField(t, e.b, bid, "name", "Nan 2")
	wantField(t, e.b, bid, "phone", "+2")
	e.resetCounters()
	e.sync(Options{})
	e.noWrites()
}

// A survivor's local value of a one-way field it does not own is not an
// edit that should undo the other side's delete.
func TestDeleteNotUndoneByOneWayFieldEdit(t *testing.T) {
	fs := testFields()
	fs[1].Direction = models.DirAToB // name: A is the source
	e := newEnv(t, envOpt{fields: fs, deletes: models.DeletePropagate, share: 1})
	e.a.Add(map[string]string{"EMAIL": "stay@x.org"})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "k@x.org", "FN": "Kay"}, nil)
	e.b.Set(bid, map[string]string{"name": "Kay (B's own)"})
	e.a.Remove(aid)
	res := e.sync(Options{})
	if res.Deleted != 1 || res.Created != 0 || e.b.Fields(bid) != nil || e.a.Len() != 1 {
		t.Fatalf("B's copy of an a-to-b field revived the record: %+v, A has %d", res, e.a.Len())
	}
	// An edit of a field B owns still wins over the delete.
	aid2, bid2 := e.firstSync(map[string]string{"EMAIL": "m@x.org", "FN": "Em"}, nil)
	e.b.Set(bid2, map[string]string{"email": "m2@x.org"})
	e.a.Remove(aid2)
	res = e.sync(Options{})
	if res.Deleted != 0 || res.Created != 1 || e.b.Fields(bid2) == nil {
		t.Fatalf("edit toward A did not beat the delete: %+v", res)
	}
}

func TestConversionErrorIsPerRecord(t *testing.T) {
	e := newEnv(t, envOpt{a: memory.Options{Incremental: true}})
	bad := e.a.Add(map[string]string{"EMAIL": "o@x.org", "BDAY": "12th of never"})
	good := e.a.Add(map[string]string{"EMAIL": "p@x.org", "BDAY": "2001-02-03"})
	res := e.sync(Options{})
	if res.Errors != 1 || res.Created != 1 {
		t.Fatalf("%+v", res)
	}
	wantField(t, e.b, e.linked(good), "bday", "02/03/2001")
	m := e.rowFor("a", bad)
	if m.State != models.StateError || !strings.Contains(m.LastError, "birthday") || m.BID != "" {
		t.Fatalf("%+v", m)
	}
	if e.pair.CursorA != "" {
		t.Fatal("incremental cursor advanced past a failed record")
	}
	evs, _ := e.store.Events(e.pair.ID, 0, 10)
	found := false
	for _, ev := range evs {
		found = found || ev.Action == "error" && ev.AID == bad && strings.Contains(ev.Error, "birthday")
	}
	if !found {
		t.Fatalf("no error event: %+v", evs)
	}
	// Fixed: the next run creates it and the row is ok again.
	e.a.Set(bad, map[string]string{"BDAY": "1999-09-09"})
	res = e.sync(Options{})
	if res.Errors != 0 || res.Created != 1 {
		t.Fatalf("%+v", res)
	}
	m = e.rowFor("a", bad)
	if m.State != models.StateOK || m.BID == "" || e.b.Len() != 2 {
		t.Fatalf("%+v", m)
	}
	wantField(t, e.b, m.BID, "bday", "09/09/1999")
	if e.pair.CursorA == "" {
		t.Fatal("cursor not advanced after recovery")
	}
}

func TestMalformedNeverWrittenOrDeleted(t *testing.T) {
	e := newEnv(t, envOpt{})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "q@x.org", "FN": "Quin"}, nil)
	other := e.a.Add(map[string]string{"EMAIL": "r@x.org"})
	e.a.SetMalformed(aid, true)
	e.b.Set(bid, map[string]string{"name": "Quinn"})
	res := e.sync(Options{})
	if res.Errors != 1 || res.Created != 1 || res.Deleted != 0 {
		t.Fatalf("%+v", res)
	}
	if e.b.Fields(bid) == nil || e.linked(other) == "" {
		t.Fatal("B record deleted or the rest not synced")
	}
	if n := e.a.Writes(connector.OpUpdate) + e.a.Writes(connector.OpDelete); n != 0 {
		t.Fatalf("malformed record written: %d", n)
	}
	if m := e.rowFor("a", aid); m.State != models.StateError {
		t.Fatalf("%+v", m)
	}
	// Readable again: B's edit arrives, row ok.
	e.a.SetMalformed(aid, false)
	res = e.sync(Options{})
	wantField(t, e.a, aid, "FN", "Quinn")
	if m := e.rowFor("a", aid); m.State != models.StateOK || res.Errors != 0 {
		t.Fatalf("%+v %+v", m, res)
	}
}

func TestVersionMismatchRetry(t *testing.T) {
	e := newEnv(t, envOpt{b: memory.Options{Conditional: true}})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "s@x.org", "FN": "Sam"}, nil)
	e.a.Set(aid, map[string]string{"FN": "Samuel"})
	hits := 0
	e.b.BeforeApply(func(ws []connector.Write) {
		if hits == 0 {
			e.b.Set(bid, map[string]string{"phone": "+44"}) // edited behind our back
		}
		hits++
	})
	res := e.sync(Options{})
	if res.Errors != 0 {
		t.Fatalf("%+v", res)
	}
	wantField(t, e.b, bid, "name", "Samuel")
	wantField(t, e.b, bid, "phone", "+44")
	wantField(t, e.a, aid, "TEL", "+44")
	// Always changed behind our back: a per-record error, the run goes on.
	e.b.BeforeApply(func(ws []connector.Write) { e.b.Set(bid, map[string]string{"phone": time.Now().String()}) })
	e.a.Set(aid, map[string]string{"FN": "Sammy"})
	other := e.a.Add(map[string]string{"EMAIL": "t@x.org"})
	res = e.sync(Options{})
	if res.Errors != 1 || e.linked(other) == "" {
		t.Fatalf("%+v", res)
	}
}

// A 412 on B after A was already written: the retry must not take A's new
// values (which came from B) for A's own edits and undo B's newest change.
func TestVersionMismatchAfterOtherSideWritten(t *testing.T) {
	e := newEnv(t, envOpt{conflict: models.ConflictAWins, b: memory.Options{Conditional: true}})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "ann@x.org", "FN": "Ann", "TEL": "+1"}, nil)
	e.a.Set(aid, map[string]string{"TEL": "+2"})
	e.b.Set(bid, map[string]string{"name": "Anna"})
	hits := 0
	e.b.BeforeApply(func(ws []connector.Write) {
		if hits == 0 {
			e.b.Set(bid, map[string]string{"name": "Annabel"}) // the person edits again
		}
		hits++
	})
	res := e.sync(Options{})
	if res.Errors != 0 || res.Conflicts != 0 {
		t.Fatalf("%+v", res)
	}
	wantField(t, e.a, aid, "FN", "Annabel")
	wantField(t, e.b, bid, "name", "Annabel")
	wantField(t, e.a, aid, "TEL", "+2")
	wantField(t, e.b, bid, "phone", "+2")
	e.resetCounters()
	e.sync(Options{})
	e.noWrites()
}

func TestAlreadyExistsLinks(t *testing.T) {
	e := newEnv(t, envOpt{b: memory.Options{UniqueField: "email"}})
	aid := e.a.Add(map[string]string{"EMAIL": "u@x.org", "FN": "Uma"})
	var sneaky string
	e.b.BeforeApply(func(ws []connector.Write) {
		if sneaky == "" {
			sneaky = e.b.Add(map[string]string{"email": "U@x.org", "phone": "+7"})
		}
	})
	res := e.sync(Options{})
	if res.Errors != 0 || e.b.Len() != 1 {
		t.Fatalf("%+v len %d", res, e.b.Len())
	}
	if e.linked(aid) != sneaky {
		t.Fatal("not linked to the existing record")
	}
	wantField(t, e.b, sneaky, "name", "Uma")
	wantField(t, e.a, aid, "TEL", "+7")
}

func TestAuthErrorStops(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.a.Add(map[string]string{"EMAIL": "v@x.org"})
	e.b.FailCalls(connector.ErrAuth)
	res, err := Run(context.Background(), e.store, e.pair, e.a, e.b, Options{})
	if !errors.Is(err, connector.ErrAuth) {
		t.Fatalf("err %v", err)
	}
	if res.Created != 0 || len(e.rows()) != 0 {
		t.Fatal("wrote despite auth error")
	}
	runs, _ := e.store.Runs(e.pair.ID, 1)
	if !strings.Contains(runs[0].Error, "credentials") {
		t.Fatalf("run %+v", runs[0])
	}
	// Unreachable during Apply stops the run too.
	e.b.FailCalls(nil)
	e.b.FailApply(connector.ErrUnreachable)
	if _, err := Run(context.Background(), e.store, e.pair, e.a, e.b, Options{}); !errors.Is(err, connector.ErrUnreachable) {
		t.Fatalf("err %v", err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.a.Add(map[string]string{"EMAIL": "w@x.org"})
	e.b.Add(map[string]string{"email": "x@x.org"})
	res := e.sync(Options{DryRun: true})
	if res.Created != 2 || len(res.Actions) != 2 || res.Actions[0].Kind != "create" {
		t.Fatalf("%+v", res)
	}
	e.noWrites()
	if len(e.rows()) != 0 || e.pair.CursorA != "" {
		t.Fatal("dry run changed the store")
	}
	if evs, _ := e.store.Events(e.pair.ID, 0, 10); len(evs) != 0 {
		t.Fatal("dry run wrote events")
	}
	runs, _ := e.store.Runs(e.pair.ID, 1)
	if !runs[0].DryRun || runs[0].Created != 2 {
		t.Fatalf("%+v", runs[0])
	}
}

// crashAfter wraps a connector whose Apply does the work and then "loses
// the connection", as if the process died before recording the outcome.
type crashAfter struct {
	*memory.Conn
	crash bool
}

func (c *crashAfter) Apply(ctx context.Context, ws []connector.Write) ([]connector.Result, error) {
	res, err := c.Conn.Apply(ctx, ws)
	if c.crash {
		return nil, connector.ErrUnreachable
	}
	return res, err
}

func TestPendingRowResolution(t *testing.T) {
	t.Run("crash after remote create", func(t *testing.T) {
		for _, inc := range []bool{false, true} {
			e := newEnv(t, envOpt{b: memory.Options{Incremental: inc}})
			aid := e.a.Add(map[string]string{"EMAIL": "y@x.org", "FN": "Yan"})
			cb := &crashAfter{Conn: e.b, crash: true}
			if _, err := Run(context.Background(), e.store, e.pair, e.a, cb, Options{}); err == nil {
				t.Fatal("no error")
			}
			// The batch's intent is all that records the create ...
			var intents []models.Intent
			if err := e.store.DB.Where("pair_id = ?", e.pair.ID).Find(&intents).Error; err != nil || len(intents) != 1 || intents[0].Side != "b" {
				t.Fatalf("intents %+v %v", intents, err)
			}
			if len(e.rows()) != 0 {
				t.Fatalf("rows %+v", e.rows())
			}
			// ... and becomes a pending row before the next run plans
			// (which does it itself when the test does not).
			if !inc {
				if n, err := e.store.MaterializeIntents(e.pair.ID); err != nil || n != 1 {
					t.Fatalf("materialized %d %v", n, err)
				}
				if m := e.rowFor("a", aid); m.State != models.StatePending || m.PendingSide != "b" || m.Key != "y@x.org" {
					t.Fatalf("%+v", m)
				}
			}
			cb.crash = false
			e.sync(Options{})
			if e.b.Len() != 1 {
				t.Fatalf("duplicate: %d", e.b.Len())
			}
			if m := e.rowFor("a", aid); m.State != models.StateOK || m.BID != e.b.IDs()[0] {
				t.Fatalf("%+v", m)
			}
			if err := e.store.DB.Where("pair_id = ?", e.pair.ID).Find(&intents).Error; err != nil || len(intents) != 0 {
				t.Fatalf("intents left %+v %v", intents, err)
			}
		}
	})
	t.Run("inserted pending row", func(t *testing.T) {
		e := newEnv(t, envOpt{})
		testInsertedPending(t, e)
	})
	t.Run("inserted pending row, found through KeyFinder", func(t *testing.T) {
		// B is incremental and its cursor is past the create, so only
		// FindByField can find the record.
		e := newEnv(t, envOpt{b: memory.Options{Incremental: true}})
		testInsertedPending(t, e)
	})
	t.Run("pending row, nothing created", func(t *testing.T) {
		e := newEnv(t, envOpt{})
		aid := e.a.Add(map[string]string{"EMAIL": "zz@x.org"})
		pending := &models.Mapping{PairID: e.pair.ID, AID: aid, Key: "zz@x.org", State: models.StatePending, PendingSide: "b"}
		if err := e.store.Write(func(tx *gorm.DB) error { return models.SaveMappings(tx, []*models.Mapping{pending}) }); err != nil {
			t.Fatal(err)
		}
		res := e.sync(Options{})
		if res.Created != 1 || e.b.Len() != 1 || len(e.rows()) != 1 {
			t.Fatalf("%+v rows %d", res, len(e.rows()))
		}
	})
}

func TestDuplicateKeysOnOneSide(t *testing.T) {
	e := newEnv(t, envOpt{})
	first := e.a.Add(map[string]string{"EMAIL": "dup@x.org", "FN": "One"})
	second := e.a.Add(map[string]string{"EMAIL": "DUP@x.org", "FN": "Two"})
	res := e.sync(Options{})
	if res.Created != 1 || res.Errors != 1 || e.b.Len() != 1 {
		t.Fatalf("%+v", res)
	}
	if e.linked(first) == "" {
		t.Fatal("first not synced")
	}
	if m := e.rowFor("a", second); m.State != models.StateError || !strings.Contains(m.LastError, "duplicate") || !strings.Contains(m.LastError, `key "dup@x.org"`) {
		t.Fatalf("%+v", m)
	}
	e.sync(Options{})
	if e.b.Len() != 1 {
		t.Fatal("duplicate created later")
	}
}

func TestEmptyKeyMatchesByContent(t *testing.T) {
	e := newEnv(t, envOpt{})
	aid := e.a.Add(map[string]string{"FN": "No Mail"})
	same := e.b.Add(map[string]string{"name": "No Mail"})
	other := e.a.Add(map[string]string{"FN": "Other", "TEL": "+5"})
	res := e.sync(Options{})
	if res.Created != 1 || e.linked(aid) != same || e.b.Len() != 2 {
		t.Fatalf("%+v, B has %d", res, e.b.Len())
	}
	wantField(t, e.b, e.linked(other), "name", "Other")
	if m := e.rowFor("a", aid); m.Key != "" || m.State != models.StateOK {
		t.Fatalf("a mapped keyless row keeps no key: %+v", m)
	}
	e.resetCounters()
	e.sync(Options{})
	e.noWrites()
}

func TestWriteErrorHoldsIncrementalCursor(t *testing.T) {
	e := newEnv(t, envOpt{a: memory.Options{Incremental: true}, b: memory.Options{Incremental: true}})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "ab@x.org"}, nil)
	cursorA := e.pair.CursorA
	e.b.FailRecord(bid, errors.New("server says no"))
	e.a.Set(aid, map[string]string{"FN": "Abe"})
	other := e.a.Add(map[string]string{"EMAIL": "cd@x.org"})
	res := e.sync(Options{})
	if res.Errors != 1 || e.linked(other) == "" {
		t.Fatalf("%+v", res)
	}
	if e.pair.CursorA != cursorA {
		t.Fatal("cursor A advanced past a failed record")
	}
	if m := e.rowFor("a", aid); m.State != models.StateError || !strings.Contains(m.LastError, "server says no") {
		t.Fatalf("%+v", m)
	}
	e.b.FailRecord(bid, nil)
	e.resetCounters()
	res = e.sync(Options{})
	wantField(t, e.b, bid, "name", "Abe")
	if res.Errors != 0 || e.b.TotalWrites() != 1 || e.rowFor("a", aid).State != models.StateOK {
		t.Fatalf("%+v writes %d", res, e.b.TotalWrites())
	}
}

func TestValidatePair(t *testing.T) {
	good := func() *models.Pair {
		return &models.Pair{Name: "p", Key: "email", Fields: testFields(), Conflict: "newest", Deletes: "propagate", Interval: "5m"}
	}
	if err := ValidatePair(good()); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(p *models.Pair){
		"not a mapped field": func(p *models.Pair) { p.Key = "nope" },
		"mapped twice":       func(p *models.Pair) { p.Fields = append(p.Fields, p.Fields[1]) },
		"used by both":       func(p *models.Pair) { p.Fields[2].B = "name" },
		"unknown transform":  func(p *models.Pair) { p.Fields[1].Transform = "rot13" },
		"conflict policy":    func(p *models.Pair) { p.Conflict = "coinflip" },
		"delete policy":      func(p *models.Pair) { p.Deletes = "shred" },
		"direction":          func(p *models.Pair) { p.Fields[1].Direction = "sideways" },
		"interval":           func(p *models.Pair) { p.Interval = "soon" },
		"brake share":        func(p *models.Pair) { p.BrakeShare = 1.5 },
	}
	for want, mut := range bad {
		p := good()
		mut(p)
		if err := ValidatePair(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	if got := NativeFields(good(), "b"); strings.Join(got, ",") != "email,name,phone,bday" {
		t.Fatal(got)
	}
}

func TestProgressAndEvents(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.a.Add(map[string]string{"EMAIL": "pe@x.org"})
	var phases []string
	res := e.sync(Options{Progress: func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	}})
	if strings.Join(phases, ",") != "fetch,plan,apply,done" {
		t.Fatal(phases)
	}
	evs, _ := e.store.Events(e.pair.ID, 0, 10)
	if len(evs) != 1 || evs[0].Action != "create" || evs[0].Side != "b" || evs[0].RunID != res.RunID || evs[0].Fields != "email" {
		t.Fatalf("%+v", evs)
	}
}

func TestConcurrentRunsOfOnePair(t *testing.T) {
	e := newEnv(t, envOpt{a: memory.Options{Incremental: true}, b: memory.Options{Incremental: true}})
	for i := 0; i < 30; i++ {
		e.a.Add(map[string]string{"EMAIL": fmt.Sprintf("c%d@x.org", i)})
		e.b.Add(map[string]string{"email": fmt.Sprintf("d%d@x.org", i)})
	}
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		p := *e.pair // each caller has its own copy of the pair
		go func() {
			_, err := Run(context.Background(), e.store, &p, e.a, e.b, Options{})
			errs <- err
		}()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if e.a.Len() != 60 || e.b.Len() != 60 || len(e.rows()) != 60 {
		t.Fatalf("duplicates: A %d, B %d, rows %d", e.a.Len(), e.b.Len(), len(e.rows()))
	}
}

func TestDeleteOfConflictedRecordKeepsTheEdit(t *testing.T) {
	e := newEnv(t, envOpt{conflict: models.ConflictManual, share: 1})
	e.a.Add(map[string]string{"EMAIL": "stay@x.org"})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "cf@x.org", "FN": "Cy"}, nil)
	e.a.Set(aid, map[string]string{"FN": "Cy A"})
	e.b.Set(bid, map[string]string{"name": "Cy B"})
	if res := e.sync(Options{}); res.Conflicts != 1 {
		t.Fatalf("%+v", res)
	}
	e.a.Remove(aid)
	res := e.sync(Options{})
	if res.Deleted != 0 || e.b.Fields(bid) == nil || res.Created != 1 {
		t.Fatalf("unsynced edit on B lost: %+v", res)
	}
	wantField(t, e.a, e.rowFor("b", bid).AID, "FN", "Cy B")
}

func testInsertedPending(t *testing.T, e *env) {
	aid := e.a.Add(map[string]string{"EMAIL": "Z@x.org", "FN": "Zed"})
	e.sync(Options{})
	// Forget the link, as if the crash happened between the create and
	// its bookkeeping; B has the record, the row is pending.
	m := e.rowFor("a", aid)
	bid := m.BID
	m.BID, m.BVersion, m.State, m.PendingSide, m.Base = "", "", models.StatePending, "b", nil
	if err := e.store.UpdateMapping(&m); err != nil {
		t.Fatal(err)
	}
	e.resetCounters()
	e.sync(Options{})
	if e.b.Len() != 1 || e.b.Writes(connector.OpCreate) != 0 {
		t.Fatal("duplicate created")
	}
	if got := e.rowFor("a", aid); got.BID != bid || got.State != models.StateOK {
		t.Fatalf("%+v", got)
	}
}

// flaky counts Apply calls across both sides and fails the n-th one, after
// (done=true) or before doing the work: a run killed at that moment.
type flaky struct {
	*memory.Conn
	calls *int
	n     int
	done  bool
}

func (f *flaky) Apply(ctx context.Context, ws []connector.Write) ([]connector.Result, error) {
	*f.calls++
	if *f.calls != f.n {
		return f.Conn.Apply(ctx, ws)
	}
	if f.done {
		f.Conn.Apply(ctx, ws)
	}
	return nil, connector.ErrUnreachable
}

func TestKilledAtAnyApplyConverges(t *testing.T) {
	for _, done := range []bool{false, true} {
		for n := 1; n <= 8; n++ {
			t.Run(fmt.Sprintf("call%d-done%v", n, done), func(t *testing.T) {
				e := newEnv(t, envOpt{a: memory.Options{MaxBatch: 3, Incremental: true}, b: memory.Options{MaxBatch: 3}, share: 1})
				for i := 0; i < 7; i++ {
					e.a.Add(map[string]string{"EMAIL": fmt.Sprintf("a%d@x.org", i), "FN": "A"})
					e.b.Add(map[string]string{"email": fmt.Sprintf("b%d@x.org", i), "name": "B"})
				}
				e.a.Add(map[string]string{"EMAIL": "both@x.org", "FN": "from A"})
				e.b.Add(map[string]string{"email": "both@x.org", "phone": "+1"})
				// No key value: matched and resolved by content.
				e.a.Add(map[string]string{"FN": "Keyless A1"})
				e.a.Add(map[string]string{"FN": "Keyless A2", "TEL": "+9"})
				e.b.Add(map[string]string{"name": "Keyless B"})
				calls := 0
				fa := &flaky{Conn: e.a, calls: &calls, n: n, done: done}
				fb := &flaky{Conn: e.b, calls: &calls, n: n, done: done}
				_, err := Run(context.Background(), e.store, e.pair, fa, fb, Options{})
				if calls >= n && !errors.Is(err, connector.ErrUnreachable) {
					t.Fatalf("calls %d, err %v", calls, err)
				}
				e.sync(Options{})
				if e.a.Len() != 18 || e.b.Len() != 18 {
					t.Fatalf("A %d, B %d records; want 18 each", e.a.Len(), e.b.Len())
				}
				for _, name := range []string{"Keyless A1", "Keyless A2", "Keyless B"} {
					if len(e.a.FindAll("FN", name)) != 1 || len(e.b.FindAll("name", name)) != 1 {
						t.Fatalf("%s: A %v, B %v", name, e.a.FindAll("FN", name), e.b.FindAll("name", name))
					}
				}
				for _, id := range e.a.IDs() {
					em := e.a.Fields(id)["EMAIL"]
					if em == "" {
						continue
					}
					if ids := e.b.FindAll("email", em); len(ids) != 1 || e.linked(id) != ids[0] {
						t.Fatalf("%s: B ids %v, linked %q", em, ids, e.linked(id))
					}
				}
				for _, m := range e.rows() {
					if m.State != models.StateOK {
						t.Fatalf("%+v", m)
					}
				}
				both := e.a.FindAll("EMAIL", "both@x.org")[0]
				wantField(t, e.a, both, "TEL", "+1")
				wantField(t, e.b, e.linked(both), "name", "from A")
				e.resetCounters()
				e.sync(Options{})
				e.noWrites()
			})
		}
	}
}

// Edit beats delete: x is re-created on B, and B answers AlreadyExists (a
// record with the same unique field appeared meanwhile). The retry must
// link that record, not re-plan the create (B was still marked gone) and
// then record a create that was never written, as an ok row without B id.
func TestRecreateAlreadyExistsLinks(t *testing.T) {
	e := newEnv(t, envOpt{b: memory.Options{UniqueField: "name"}})
	aid, bid := e.firstSync(map[string]string{"EMAIL": "x@x.org", "FN": "Xavier"}, nil)
	e.firstSync(map[string]string{"EMAIL": "k@x.org", "FN": "Keep"}, nil) // so B is not listed empty
	e.b.Remove(bid)
	e.a.Set(aid, map[string]string{"FN": "Zed"})
	var other string
	e.b.BeforeApply(func(ws []connector.Write) {
		if other == "" && len(ws) > 0 && ws[0].Op == connector.OpCreate {
			other = e.b.Add(map[string]string{"email": "x@x.org", "name": "Zed"})
		}
	})
	res := e.sync(Options{})
	if m := e.rowFor("a", aid); res.Created != 0 || m.BID != other {
		t.Fatalf("%s: row %+v, want linked to %s", res.Summary(), m, other)
	}
}

// A dry run after a killed run writes nothing, not even the pending rows
// the killed run's intent stands for (the next real run makes them).
func TestDryRunAfterCrashWritesNothing(t *testing.T) {
	e := newEnv(t, envOpt{})
	aid := e.a.Add(map[string]string{"EMAIL": "y@x.org"})
	cb := &crashAfter{Conn: e.b, crash: true}
	if _, err := Run(context.Background(), e.store, e.pair, e.a, cb, Options{}); err == nil {
		t.Fatal("no error")
	}
	e.sync(Options{DryRun: true})
	if rows := e.rows(); len(rows) != 0 {
		t.Fatalf("dry run wrote rows: %+v", rows)
	}
	e.sync(Options{})
	if e.b.Len() != 1 {
		t.Fatalf("duplicate: %d records on B", e.b.Len())
	}
	if m := e.rowFor("a", aid); m.State != models.StateOK || m.BID != e.b.IDs()[0] {
		t.Fatalf("%+v", m)
	}
}

// slowListing is a connector whose listing takes a while and says when it
// is over.
type slowListing struct {
	*memory.Conn
	over atomic.Bool
}

func (c *slowListing) Changes(ctx context.Context, cursor string) (connector.Changes, error) {
	time.Sleep(50 * time.Millisecond)
	defer c.over.Store(true)
	return c.Conn.Changes(ctx, cursor)
}

// A full-listing side lists while the run is recorded; a run refused
// before its fetch (here a pair that does not validate) still returns
// only once that listing is over, so nothing is left reading the side.
func TestRunRefusedWaitsForItsEarlyListing(t *testing.T) {
	e := newEnv(t, envOpt{})
	a := &slowListing{Conn: e.a}
	e.pair.Conflict = "whoever-shouts-loudest"
	if _, err := Run(context.Background(), e.store, e.pair, a, e.b, Options{}); err == nil {
		t.Fatal("a pair with an unknown conflict policy ran")
	}
	if !a.over.Load() {
		t.Fatal("Run returned while its early listing was still running")
	}
	e.pair.Conflict = models.ConflictNewest
	e.a.Add(map[string]string{"email": "ada@example.com", "name": "Ada"})
	if res, err := Run(context.Background(), e.store, e.pair, a, e.b, Options{}); err != nil || res.Created != 1 {
		t.Fatalf("the early listing's record was not synced: %+v, %v", res, err)
	}
}

// A side that stops listing in full (its vCard folder replaced by an
// incremental system) loses its version snapshot, so nothing logs its
// changes for ever (found in review: the log grew by every change).
func TestSnapshotDroppedWhenSideBecomesIncremental(t *testing.T) {
	e := newEnv(t, envOpt{})
	for i := range 20 {
		e.a.Add(map[string]string{"email": fmt.Sprintf("p%d@example.com", i), "name": "P"})
	}
	e.sync(Options{})
	count := func(q string) (n int) {
		t.Helper()
		if err := e.store.DB.Raw(q).Row().Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("SELECT count(*) FROM version_snapshots WHERE side = 'b'"); n != 1 {
		t.Fatalf("%d snapshots of side b after a first sync, want 1", n)
	}
	inc := memory.New(memory.Options{Name: "b", Incremental: true})
	for _, id := range e.b.IDs() {
		inc.Put(id, e.b.Fields(id))
	}
	e.b = inc
	for round := range 3 {
		for _, id := range e.a.IDs() {
			f := e.a.Fields(id)
			f["name"] = fmt.Sprint("P", round)
			e.a.Set(id, f)
		}
		e.sync(Options{})
	}
	if n := count("SELECT count(*) FROM version_snapshots WHERE side = 'b'") + count("SELECT count(*) FROM version_log WHERE side = 'b'"); n != 0 {
		t.Fatalf("side b, incremental now, still has %d snapshot and log rows", n)
	}
	if n := count("SELECT count(*) FROM version_snapshots WHERE side = 'a'"); n != 1 {
		t.Fatalf("side a lost its snapshot")
	}
}
