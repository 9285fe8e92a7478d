package memory

import (
	"context"
	"errors"
	"testing"

	"tandem/sync/connector"
)

func TestIncrementalChangesAndDeletes(t *testing.T) {
	ctx := context.Background()
	c := New(Options{Incremental: true})
	x := c.Add(map[string]string{"EMAIL": "x@y.z"})
	y := c.Add(map[string]string{"EMAIL": "y@y.z"})
	full, err := c.Changes(ctx, "")
	if err != nil || !full.Full || len(full.Items) != 2 || full.Items[0].Record == nil {
		t.Fatalf("%+v %v", full, err)
	}
	c.Set(x, map[string]string{"FN": "X"})
	c.Remove(y)
	ch, _ := c.Changes(ctx, full.Cursor)
	if ch.Full || len(ch.Items) != 2 || ch.Items[0].ID != x || ch.Items[0].Record.Fields["FN"] != "X" || ch.Items[1].ID != y || !ch.Items[1].Deleted {
		t.Fatalf("%+v", ch)
	}
	if again, _ := c.Changes(ctx, ch.Cursor); len(again.Items) != 0 {
		t.Fatalf("%+v", again)
	}
	// Not incremental: always a full listing, deletions by absence.
	nc := New(Options{IDsOnly: true})
	nc.Add(map[string]string{"A": "1"})
	l, _ := nc.Changes(ctx, "5")
	if !l.Full || len(l.Items) != 1 || l.Items[0].Record != nil {
		t.Fatalf("%+v", l)
	}
}

func TestApplyConditionalUniqueAndFaults(t *testing.T) {
	ctx := context.Background()
	c := New(Options{Conditional: true, UniqueField: "EMAIL"})
	id := c.Add(map[string]string{"EMAIL": "a@b.c", "NOTE": "keep"})
	r, _ := c.Record(id)
	res, err := c.Apply(ctx, []connector.Write{
		{Op: connector.OpUpdate, ID: id, Version: r.Version, Fields: map[string]string{"FN": "A"}},
		{Op: connector.OpUpdate, ID: id, Version: r.Version, Fields: map[string]string{"FN": "B"}},
		{Op: connector.OpCreate, Fields: map[string]string{"EMAIL": " A@B.C "}},
		{Op: connector.OpDelete, ID: "nope"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !errors.Is(res[1].Err, connector.ErrVersionMismatch) || !errors.Is(res[3].Err, connector.ErrNotFound) {
		t.Fatalf("%+v", res)
	}
	var ae *connector.AlreadyExistsError
	if !errors.As(res[2].Err, &ae) || ae.ExistingID != id {
		t.Fatalf("%+v", res[2])
	}
	if f := c.Fields(id); f["FN"] != "A" || f["NOTE"] != "keep" {
		t.Fatalf("%v", f)
	}
	if c.Writes(connector.OpUpdate) != 1 || c.TotalWrites() != 1 {
		t.Fatal("counters")
	}
	found, _ := c.FindByField(ctx, "EMAIL", "A@B.C")
	if len(found) != 1 || found[0].ID != id {
		t.Fatalf("%+v", found)
	}
	c.FailRecord(id, errors.New("boom"))
	res, _ = c.Apply(ctx, []connector.Write{{Op: connector.OpUpdate, ID: id, Fields: map[string]string{"FN": "C"}}})
	if res[0].Err == nil {
		t.Fatal("fault not injected")
	}
	c.FailCalls(connector.ErrAuth)
	if _, err := c.Changes(ctx, ""); !errors.Is(err, connector.ErrAuth) {
		t.Fatal(err)
	}
	c.FailCalls(nil)
	c.SetMalformed(id, true)
	got, _ := c.Get(ctx, []string{id, "missing"})
	if len(got) != 1 || !errors.Is(got[0].Err, connector.ErrInvalidRecord) || got[0].Fields != nil {
		t.Fatalf("%+v", got)
	}
	c.SetMalformed(id, false)
	called := false
	c.BeforeApply(func([]connector.Write) { called = true; c.Set(id, map[string]string{"FN": "behind"}) })
	c.Apply(ctx, nil)
	if !called || c.Fields(id)["FN"] != "behind" {
		t.Fatal("hook")
	}
}
