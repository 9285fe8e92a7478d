package engine

import (
	"context"
	"errors"
	"testing"

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
