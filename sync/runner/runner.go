// Package runner opens a pair's two connections (secrets from the keyring)
// and runs the engine on them, one run per pair at a time. The CLI, the
// window and the scheduler all sync through it.
package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/sync/engine"
	"tandem/sync/secrets"
	"tandem/sync/trace"
)

// ErrBusy is returned when the pair is already running in this process.
var ErrBusy = errors.New("a sync of this pair is already running")

// Runner runs pairs.
type Runner struct {
	store *models.Store
	sec   secrets.Store

	mu      sync.Mutex
	running map[uint]bool
}

// New returns a runner over store, reading secrets from sec.
func New(store *models.Store, sec secrets.Store) *Runner {
	return &Runner{store: store, sec: sec, running: map[uint]bool{}}
}

// Store is the runner's store.
func (r *Runner) Store() *models.Store { return r.store }

// Secrets is the runner's secret store.
func (r *Runner) Secrets() secrets.Store { return r.sec }

// secretFor reads a connection's secret when its kind needs one.
func (r *Runner) secretFor(c models.Connection) (string, error) {
	k, ok := connector.Lookup(c.Kind)
	if !ok {
		return "", fmt.Errorf("connection %q: unknown kind %q", c.Name, c.Kind)
	}
	if !k.NeedsSecret {
		return "", nil
	}
	if r.sec == nil {
		return "", fmt.Errorf("connection %q needs a %s and no keyring is available", c.Name, lower(k.SecretLabel))
	}
	s, err := r.sec.Get(c.Name)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		return "", fmt.Errorf("connection %q has no %s in the OS keyring; set it with: tandem secret set %q: %w",
			c.Name, lower(k.SecretLabel), c.Name, connector.ErrAuth)
	case err != nil:
		return "", fmt.Errorf("connection %q: %w", c.Name, err)
	case s == "":
		return "", fmt.Errorf("connection %q has an empty %s in the OS keyring; set it with: tandem secret set %q: %w",
			c.Name, lower(k.SecretLabel), c.Name, connector.ErrAuth)
	}
	return s, nil
}

func lower(s string) string {
	if s == "" {
		return "secret"
	}
	b := []byte(s)
	if b[0] >= 'A' && b[0] <= 'Z' {
		b[0] += 'a' - 'A'
	}
	return string(b)
}

// Open opens both connections of a pair. The caller closes them.
func (r *Runner) Open(p *models.Pair) (a, b connector.Connector, err error) {
	a, err = r.open(p, p.A, "a")
	if err != nil {
		return nil, nil, err
	}
	b, err = r.open(p, p.B, "b")
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

func (r *Runner) open(p *models.Pair, c models.Connection, side string) (connector.Connector, error) {
	secret, err := r.secretFor(c)
	if err != nil {
		return nil, err
	}
	conn, err := connector.Open(c.Kind, connector.Config{
		Name:     c.Name,
		Settings: c.Settings,
		Secret:   secret,
		Fields:   engine.NativeFields(p, side),
	})
	if err != nil {
		return nil, fmt.Errorf("open connection %q: %w", c.Name, err)
	}
	return conn, nil
}

// Run loads the pair by name and runs it.
func (r *Runner) Run(ctx context.Context, pairName string, opt engine.Options) (engine.Result, error) {
	p, err := r.store.PairByName(pairName)
	if err != nil {
		return engine.Result{}, err
	}
	return r.RunPair(ctx, p, opt)
}

// RunID loads the pair by id (fresh from the store: cursors move) and runs it.
func (r *Runner) RunID(ctx context.Context, pairID uint, opt engine.Options) (engine.Result, error) {
	p, err := r.store.PairByID(pairID)
	if err != nil {
		return engine.Result{}, err
	}
	return r.RunPair(ctx, p, opt)
}

// RunPair runs one pair as given. A second run of the same pair while one
// is going returns ErrBusy.
func (r *Runner) RunPair(ctx context.Context, p *models.Pair, opt engine.Options) (engine.Result, error) {
	if !r.acquire(p.ID) {
		return engine.Result{}, fmt.Errorf("pair %q: %w", p.Name, ErrBusy)
	}
	defer r.release(p.ID)
	unlock, err := r.lockFile(p)
	if err != nil {
		return engine.Result{}, err
	}
	defer unlock()
	if err := engine.ValidatePair(p); err != nil {
		return engine.Result{}, fmt.Errorf("pair %q: %w", p.Name, err)
	}
	trace.Mark("runner: pair locked")
	a, b, err := r.Open(p)
	if err != nil {
		return engine.Result{}, err
	}
	trace.Mark("runner: connections open")
	defer a.Close()
	defer b.Close()
	return engine.Run(ctx, r.store, p, a, b, opt)
}

// lockFile holds <data folder>/locks/pair-ID.lock for the run, so the
// window and a `tandem sync` in another process never run one pair at once.
func (r *Runner) lockFile(p *models.Pair) (func(), error) {
	if r.store == nil || r.store.Path == "" {
		return func() {}, nil
	}
	dir := filepath.Join(filepath.Dir(r.store.Path), "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pair %q: lock folder: %w", p.Name, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("pair-%d.lock", p.ID)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pair %q: lock file: %w", p.Name, err)
	}
	ok, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pair %q: lock file: %w", p.Name, err)
	}
	if !ok {
		f.Close()
		return nil, fmt.Errorf("pair %q is being synced by another Tandem process (the window or another tandem sync): %w", p.Name, ErrBusy)
	}
	return func() { f.Close() }, nil
}

// Hold keeps the pair from syncing while a person changes its mappings
// (the grid, the CLI): it takes the two locks a run takes, this process's
// slot and the lock file shared with other Tandem processes. A run
// rewrites the rows it read when it records its outcome, so a row deleted
// beside it came back, and an edit could be undone. A sync that is running
// is waited for up to wait; after that the error wraps ErrBusy. release
// lets the pair sync again.
func (r *Runner) Hold(pairID uint, wait time.Duration) (release func(), err error) {
	p, err := r.store.PairByID(pairID)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		if r.acquire(p.ID) {
			unlock, err := r.lockFile(p)
			if err == nil {
				return func() { unlock(); r.release(p.ID) }, nil
			}
			r.release(p.ID)
			if !errors.Is(err, ErrBusy) {
				return nil, err
			}
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("pair %q is being synced right now; nothing was changed: try again when the sync has ended: %w", p.Name, ErrBusy)
		}
		time.Sleep(holdPoll)
	}
}

// holdPoll: how often Hold looks again whether the run has ended.
const holdPoll = 50 * time.Millisecond

// Running reports whether the pair is running in this process.
func (r *Runner) Running(pairID uint) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[pairID]
}

func (r *Runner) acquire(id uint) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[id] {
		return false
	}
	r.running[id] = true
	return true
}

func (r *Runner) release(id uint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.running, id)
}

// TestConnection opens one connection and checks it (the window's "Test
// connection"). An empty secret is read from the keyring when the kind
// needs one.
func (r *Runner) TestConnection(ctx context.Context, c models.Connection, secret string) error {
	if secret == "" {
		var err error
		if secret, err = r.secretFor(c); err != nil {
			return err
		}
	}
	conn, err := connector.Open(c.Kind, connector.Config{Name: c.Name, Settings: c.Settings, Secret: secret})
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Test(ctx)
}
