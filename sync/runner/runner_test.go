package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/sync/connector/memory"
	"tandem/sync/engine"
	"tandem/sync/secrets"
)

// Test kinds open memory connectors by the "id" setting and record what
// they were opened with.
var (
	mu      sync.Mutex
	conns   = map[string]*memory.Conn{}
	opened  = map[string]connector.Config{}
	testErr = map[string]error{}
)

type testConn struct {
	*memory.Conn
	id string
}

func (t testConn) Test(ctx context.Context) error {
	mu.Lock()
	defer mu.Unlock()
	return testErr[t.id]
}

func open(cfg connector.Config) (connector.Connector, error) {
	mu.Lock()
	defer mu.Unlock()
	id := cfg.Settings["id"]
	c, ok := conns[id]
	if !ok {
		c = memory.New(memory.Options{Name: id})
		conns[id] = c
	}
	opened[id] = cfg
	return testConn{c, id}, nil
}

func init() {
	connector.Register(connector.Kind{Name: "rt-plain", Settings: []connector.Setting{{Key: "id", Required: true}}, Open: open})
	connector.Register(connector.Kind{Name: "rt-secret", Settings: []connector.Setting{{Key: "id", Required: true}}, NeedsSecret: true, SecretLabel: "Password", Open: open})
}

func newPair(t *testing.T, store *models.Store, name, kindB string) (*models.Pair, *memory.Conn, *memory.Conn) {
	t.Helper()
	p := &models.Pair{
		Name: name,
		A:    models.Connection{Name: name + " A", Kind: "rt-plain", Settings: map[string]string{"id": name + "-a"}},
		B:    models.Connection{Name: name + " B", Kind: kindB, Settings: map[string]string{"id": name + "-b"}},
		Key:  "email",
		Fields: []models.Field{
			{Name: "email", A: "email", B: "EMAIL", Transform: "email"},
			{Name: "name", A: "name", B: "FN"},
		},
		Conflict: models.ConflictNewest, Deletes: models.DeletePropagate, Interval: "5m", BrakeShare: 0.25,
	}
	if err := store.SavePair(p); err != nil {
		t.Fatal(err)
	}
	a := memory.New(memory.Options{Name: name + "-a"})
	b := memory.New(memory.Options{Name: name + "-b"})
	mu.Lock()
	conns[name+"-a"], conns[name+"-b"] = a, b
	mu.Unlock()
	return p, a, b
}

func newStore(t *testing.T) *models.Store {
	s, err := models.Open(filepath.Join(t.TempDir(), "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRunSyncsAndPassesSecretAndFields(t *testing.T) {
	store := newStore(t)
	sec := secrets.NewMemory()
	p, a, b := newPair(t, store, "run", "rt-secret")
	a.Add(map[string]string{"email": "Ada@Example.com", "name": "Ada"})
	r := New(store, sec)

	_, err := r.Run(context.Background(), "run", engine.Options{})
	if err == nil || !errors.Is(err, connector.ErrAuth) || !strings.Contains(err.Error(), `tandem secret set "run B"`) || !strings.Contains(err.Error(), "password") {
		t.Fatalf("missing secret: %v", err)
	}
	if b.Len() != 0 {
		t.Fatal("a run without its secret wrote")
	}

	sec.Set("run B", "s3cret")
	res, err := r.Run(context.Background(), "run", engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 1 || b.Len() != 1 {
		t.Fatalf("result %+v, B has %d", res, b.Len())
	}
	ids := b.IDs()
	if got := b.Fields(ids[0]); got["EMAIL"] != "ada@example.com" || got["FN"] != "Ada" {
		t.Fatalf("B record: %v", got)
	}
	mu.Lock()
	cfgA, cfgB := opened["run-a"], opened["run-b"]
	mu.Unlock()
	if cfgB.Secret != "s3cret" || cfgA.Secret != "" || cfgB.Name != "run B" {
		t.Fatalf("secrets passed: A %q B %q", cfgA.Secret, cfgB.Secret)
	}
	if strings.Join(cfgA.Fields, ",") != strings.Join(engine.NativeFields(p, "a"), ",") || len(cfgB.Fields) != 2 {
		t.Fatalf("fields: A %v B %v", cfgA.Fields, cfgB.Fields)
	}
	// A second run by id changes nothing.
	res, err = r.RunID(context.Background(), p.ID, engine.Options{})
	if err != nil || res.Created+res.Updated+res.Deleted != 0 {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if _, err := r.Run(context.Background(), "nope", engine.Options{}); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("unknown pair: %v", err)
	}
}

func TestSingleFlight(t *testing.T) {
	store := newStore(t)
	p, a, _ := newPair(t, store, "sf", "rt-plain")
	a.Add(map[string]string{"email": "x@example.com", "name": "X"})
	r := New(store, secrets.NewMemory())
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	mu.Lock()
	bconn := conns["sf-b"]
	mu.Unlock()
	bconn.BeforeApply(func([]connector.Write) {
		once.Do(func() { close(entered); <-release })
	})
	done := make(chan error, 1)
	go func() {
		_, err := r.RunPair(context.Background(), p, engine.Options{})
		done <- err
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("first run never reached Apply")
	}
	if !r.Running(p.ID) {
		t.Fatal("Running is false during a run")
	}
	if _, err := r.RunID(context.Background(), p.ID, engine.Options{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second run while the first is going: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.Running(p.ID) {
		t.Fatal("still running after the run")
	}
	if _, err := r.RunID(context.Background(), p.ID, engine.Options{}); err != nil {
		t.Fatalf("run after the first ended: %v", err)
	}
}

func TestTestConnection(t *testing.T) {
	store := newStore(t)
	sec := secrets.NewMemory()
	r := New(store, sec)
	c := models.Connection{Name: "T", Kind: "rt-secret", Settings: map[string]string{"id": "tc"}}
	t.Cleanup(func() { // the fake's errors are package state: -count=N repeats the test
		mu.Lock()
		delete(testErr, "tc")
		mu.Unlock()
	})
	if err := r.TestConnection(context.Background(), c, ""); err == nil || !strings.Contains(err.Error(), "tandem secret set") {
		t.Fatalf("no secret: %v", err)
	}
	if err := r.TestConnection(context.Background(), c, "typed"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := opened["tc"].Secret
	testErr["tc"] = errors.New("credentials refused")
	mu.Unlock()
	if got != "typed" {
		t.Fatalf("typed secret not used: %q", got)
	}
	sec.Set("T", "stored")
	if err := r.TestConnection(context.Background(), c, ""); err == nil || !strings.Contains(err.Error(), "credentials refused") {
		t.Fatalf("test error not returned: %v", err)
	}
	mu.Lock()
	got = opened["tc"].Secret
	mu.Unlock()
	if got != "stored" {
		t.Fatalf("stored secret not used: %q", got)
	}
	if err := r.TestConnection(context.Background(), models.Connection{Name: "Q", Kind: "nope"}, "x"); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

// TestLockFileAcrossProcesses holds the pair's lock file as another process
// would: the run is refused as busy, and runs again once it is released.
func TestLockFileAcrossProcesses(t *testing.T) {
	store := newStore(t)
	p, a, b := newPair(t, store, "lk", "rt-plain")
	a.Add(map[string]string{"email": "x@example.com", "name": "X"})
	r := New(store, secrets.NewMemory())
	dir := filepath.Join(filepath.Dir(store.Path), "locks")
	os.MkdirAll(dir, 0o700)
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("pair-%d.lock", p.ID)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := tryLock(f)
	if err != nil || !ok {
		t.Fatalf("take the lock: %v %v", ok, err)
	}
	_, err = r.RunPair(context.Background(), p, engine.Options{})
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "another Tandem process") {
		t.Fatalf("run while another process holds the lock: %v", err)
	}
	if b.Len() != 0 {
		t.Fatal("a refused run wrote")
	}
	f.Close()
	if _, err := r.RunPair(context.Background(), p, engine.Options{}); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if b.Len() != 1 {
		t.Fatalf("B has %d", b.Len())
	}
}

// TestHoldKeepsEditsAndRunsApart: a person's change to the mappings (Hold)
// waits for a running sync and is refused as busy when the sync outlasts
// the wait; while it holds, a run of the pair is refused; after release
// the pair syncs again. A row deleted under Hold stays deleted.
func TestHoldKeepsEditsAndRunsApart(t *testing.T) {
	store := newStore(t)
	p, a, b := newPair(t, store, "hd", "rt-plain")
	id := a.Add(map[string]string{"email": "x@example.com", "name": "X"})
	r := New(store, secrets.NewMemory())
	if _, err := r.RunPair(context.Background(), p, engine.Options{}); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	finish := make(chan struct{})
	var once sync.Once
	b.BeforeApply(func([]connector.Write) {
		once.Do(func() { close(entered); <-finish })
	})
	a.Set(id, map[string]string{"email": "x@example.com", "name": "Y"})
	done := make(chan error, 1)
	go func() {
		_, err := r.RunPair(context.Background(), p, engine.Options{})
		done <- err
	}()
	<-entered
	// the run outlasts a short wait: busy, with a message a person can act on
	start := time.Now()
	if _, err := r.Hold(p.ID, 150*time.Millisecond); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "try again") {
		t.Fatalf("hold during a run: %v", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("gave up after %v, before the wait", waited)
	}
	// a longer wait sees the run end and then holds
	go func() { time.Sleep(100 * time.Millisecond); close(finish) }()
	release, err := r.Hold(p.ID, 10*time.Second)
	if err != nil {
		t.Fatalf("hold after the run ended: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ms, err := store.FindMappings(p.ID, id)
	if err != nil || len(ms) != 1 {
		t.Fatalf("row of %s: %v %v", id, ms, err)
	}
	if err := store.DeleteMapping(ms[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RunPair(context.Background(), p, engine.Options{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("run while held: %v", err)
	}
	release()
	if left, _ := store.FindMappings(p.ID, id); len(left) != 0 {
		t.Fatalf("the deleted row came back: %v", left)
	}
	// released: the pair syncs again (and links the records anew by key)
	if _, err := r.RunPair(context.Background(), p, engine.Options{}); err != nil {
		t.Fatalf("run after release: %v", err)
	}
	if _, err := r.Hold(999, 0); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("unknown pair: %v", err)
	}
}
