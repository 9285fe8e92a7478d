package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/sync/connector/memory"
)

// advancing is a connector that can move its cursor past its own writes;
// it records the cursors it was asked about.
type advancing struct {
	*memory.Conn
	asked []string
}

func (c *advancing) AdvanceCursor(_ context.Context, cursor string) string {
	c.asked = append(c.asked, cursor)
	return cursor
}

// The engine asks an incremental side for a cursor past its own writes
// after a clean run, and not after a run with a record error (the failed
// record must be listed again to be retried).
func TestCursorAdvancedOnlyAfterACleanRun(t *testing.T) {
	e := newEnv(t, envOpt{b: memory.Options{Incremental: true}})
	b := &advancing{Conn: e.b}
	run := func() Result {
		t.Helper()
		res, err := Run(context.Background(), e.store, e.pair, e.a, b, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	aid := e.a.Add(map[string]string{"EMAIL": "ada@example.com", "FN": "Ada"})
	if res := run(); res.Created != 1 || res.Errors != 0 {
		t.Fatalf("%+v", res)
	}
	if len(b.asked) != 1 || b.asked[0] == "" {
		t.Fatalf("asked %q after a clean run", b.asked)
	}
	e.a.Set(aid, map[string]string{"FN": "Ada L."})
	e.b.FailRecord(e.rowFor("a", aid).BID, errors.New("server said no"))
	if res := run(); res.Errors != 1 {
		t.Fatalf("%+v", res)
	}
	if len(b.asked) != 1 {
		t.Fatalf("asked %q after a run with an error", b.asked)
	}
}

// finding counts key lookups.
type finding struct {
	*memory.Conn
	finds int
}

func (c *finding) FindByField(ctx context.Context, field, value string) ([]connector.Record, error) {
	c.finds++
	return c.Conn.FindByField(ctx, field, value)
}

// After a crash that left many pending creates, a side listed in full is
// not searched once per pending row (each search reads the whole side: a
// crashed first sync of a few thousand cards took minutes to resolve).
func TestPendingRowsOnAFullListingNeedNoLookups(t *testing.T) {
	e := newEnv(t, envOpt{})
	b := &finding{Conn: e.b}
	var pending []*models.Mapping
	for i := range 50 {
		email := fmt.Sprintf("p%02d@x.org", i)
		aid := e.a.Add(map[string]string{"EMAIL": email})
		pending = append(pending, &models.Mapping{PairID: e.pair.ID, AID: aid, Key: email, State: models.StatePending, PendingSide: "b"})
	}
	// Half of them were created on B before the crash.
	for i := range 25 {
		e.b.Add(map[string]string{"email": fmt.Sprintf("p%02d@x.org", i)})
	}
	if err := e.store.Write(func(tx *gorm.DB) error { return models.SaveMappings(tx, pending) }); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), e.store, e.pair, e.a, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 25 || e.b.Len() != 50 || len(e.rows()) != 50 || res.Errors != 0 {
		t.Fatalf("%+v: B holds %d, %d rows", res, e.b.Len(), len(e.rows()))
	}
	if b.finds != 0 {
		t.Fatalf("%d key lookups on a side listed in full", b.finds)
	}
}
