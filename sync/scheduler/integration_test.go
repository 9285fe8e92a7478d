package scheduler_test

import (
	"path/filepath"
	"testing"
	"time"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/sync/connector/memory"
	"tandem/sync/runner"
	"tandem/sync/scheduler"
	"tandem/sync/secrets"
)

var sides = map[string]*memory.Conn{
	"a": memory.New(memory.Options{Name: "a", Incremental: true}),
	"b": memory.New(memory.Options{Name: "b", Incremental: true}),
}

func init() {
	connector.Register(connector.Kind{Name: "sched-mem", Settings: []connector.Setting{{Key: "side", Required: true}},
		Open: func(cfg connector.Config) (connector.Connector, error) {
			return nopClose{sides[cfg.Settings["side"]]}, nil
		}})
}

type nopClose struct{ *memory.Conn }

func (nopClose) Close() error { return nil }

// TestSchedulerSyncsMemoryPair runs the real runner and engine on a short
// interval: a record added to A between runs reaches B with no SyncNow.
func TestSchedulerSyncsMemoryPair(t *testing.T) {
	// fresh sides: they are package state, and -count=N repeats the test
	sides["a"] = memory.New(memory.Options{Name: "a", Incremental: true})
	sides["b"] = memory.New(memory.Options{Name: "b", Incremental: true})
	store, err := models.Open(filepath.Join(t.TempDir(), "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p := &models.Pair{
		Name:     "mem",
		A:        models.Connection{Name: "A", Kind: "sched-mem", Settings: map[string]string{"side": "a"}},
		B:        models.Connection{Name: "B", Kind: "sched-mem", Settings: map[string]string{"side": "b"}},
		Key:      "email",
		Fields:   []models.Field{{Name: "email", A: "email", B: "email", Transform: "email"}, {Name: "name", A: "name", B: "name"}},
		Conflict: models.ConflictNewest, Deletes: models.DeletePropagate, Interval: "20ms", BrakeShare: 0.5,
	}
	if err := store.SavePair(p); err != nil {
		t.Fatal(err)
	}
	sides["a"].Add(map[string]string{"email": "one@example.com", "name": "One"})
	s := scheduler.New(store, runner.New(store, secrets.NewMemory()), scheduler.Options{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("first record synced", func() bool { return sides["b"].Len() == 1 })
	sides["b"].Add(map[string]string{"email": "two@example.com", "name": "Two"})
	wait("second record synced back", func() bool { return sides["a"].Len() == 2 })
	wait("a clean run", func() bool {
		st, _ := s.Status(p.ID)
		return st.Last != nil && st.LastErr == nil && st.Last.Created == 0 && st.Failures == 0
	})
	if len(sides["b"].FindAll("email", "two@example.com")) != 1 || len(sides["a"].FindAll("email", "one@example.com")) != 1 {
		t.Fatal("duplicates after several scheduled runs")
	}
}
