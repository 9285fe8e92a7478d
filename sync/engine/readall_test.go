package engine

import (
	"context"
	"sync/atomic"
	"testing"

	"tandem/sync/connector"
	"tandem/sync/connector/memory"
)

// fullReader is a memory connector that can read all while it lists
// (connector.FullReader), counting how it was listed.
type fullReader struct {
	*memory.Conn
	readAlls, listings atomic.Int32
}

func (f *fullReader) ReadAll(ctx context.Context) (connector.Changes, error) {
	f.readAlls.Add(1)
	return f.Conn.Changes(ctx, "") // a full memory listing carries the records
}

func (f *fullReader) Changes(ctx context.Context, cursor string) (connector.Changes, error) {
	f.listings.Add(1)
	return f.Conn.Changes(ctx, cursor)
}

// A side that can read while it lists is read that way on the pair's first
// sync only (nothing stored: every record is read anyway), and is listed
// again once rows exist; the outcome is the same as through Changes.
func TestFirstSyncReadsAllWhileListing(t *testing.T) {
	e := newEnv(t, envOpt{b: memory.Options{IDsOnly: true}})
	a := &fullReader{Conn: e.a}
	b := &fullReader{Conn: e.b} // lists ids only: what ReadAll leaves unread is read with Get
	alice := e.a.Add(map[string]string{"EMAIL": "alice@example.com", "FN": "Alice"})
	bob := e.b.Add(map[string]string{"email": "bob@example.com", "name": "Bob"})
	run := func() Result {
		t.Helper()
		res, err := Run(context.Background(), e.store, e.pair, a, b, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := run(); res.Created != 2 || res.Errors != 0 {
		t.Fatalf("first sync %+v", res)
	}
	if a.readAlls.Load() != 1 || a.listings.Load() != 0 || b.readAlls.Load() != 1 || b.listings.Load() != 0 {
		t.Fatalf("first sync: A read all %d, listed %d; B read all %d, listed %d", a.readAlls.Load(), a.listings.Load(), b.readAlls.Load(), b.listings.Load())
	}
	if e.linked(alice) == "" || e.rowFor("b", bob).AID == "" {
		t.Fatal("not linked")
	}
	e.resetCounters()
	if res := run(); res.Created+res.Updated+res.Deleted+res.Errors != 0 {
		t.Fatalf("second run %+v", res)
	}
	e.noWrites()
	if a.readAlls.Load() != 1 || a.listings.Load() != 1 {
		t.Fatalf("second run: A read all %d times, listed %d", a.readAlls.Load(), a.listings.Load())
	}

	fresh, err := e.store.Fresh(e.pair.ID)
	if err != nil || fresh {
		t.Fatalf("Fresh with rows: %v %v", fresh, err)
	}
}
