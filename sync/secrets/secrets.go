// Package secrets keeps connection secrets (passwords, tokens) in the OS
// keyring and nowhere else. Every keyring call is bounded by a timeout so a
// locked or missing keyring can never hang a window or a CLI run.
package secrets

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zalando/go-keyring"
)

// Service is the keyring service name Tandem stores its secrets under.
const Service = "Tandem"

// DefaultTimeout bounds each keyring call.
const DefaultTimeout = 5 * time.Second

// Store reads and writes one secret per connection name.
type Store interface {
	Get(conn string) (string, error)
	Set(conn, secret string) error
	Delete(conn string) error
}

var (
	// ErrNoKeyring means no OS keyring answered (none running, locked, or too slow).
	ErrNoKeyring = errors.New("no OS keyring answered")
	// ErrNotFound means the keyring has no secret for the connection.
	ErrNotFound = errors.New("no secret stored")
)

// backend is the raw keyring (replaced in tests).
type backend interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

type osKeyring struct{}

func (osKeyring) Get(s, u string) (string, error) { return keyring.Get(s, u) }
func (osKeyring) Set(s, u, p string) error        { return keyring.Set(s, u, p) }
func (osKeyring) Delete(s, u string) error        { return keyring.Delete(s, u) }

// Keyring returns the OS keyring (Secret Service, macOS Keychain, Windows
// Credential Manager), each call bounded by DefaultTimeout.
func Keyring() Store { return &bounded{b: osKeyring{}, timeout: DefaultTimeout} }

type bounded struct {
	b       backend
	timeout time.Duration
}

// call runs fn in a goroutine and gives up after the timeout. A call that
// gives up leaves the goroutine to finish on its own; it holds no lock.
func (k *bounded) call(conn, what string, fn func() (string, error)) (string, error) {
	type res struct {
		v   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		v, err := fn()
		ch <- res{v, err}
	}()
	t := time.NewTimer(k.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err == nil {
			return r.v, nil
		}
		if errors.Is(r.err, keyring.ErrNotFound) {
			return "", fmt.Errorf("connection %q: %w in the OS keyring (set it with: tandem secret set %q)", conn, ErrNotFound, conn)
		}
		// The backend's text can name the service but never the secret.
		return "", noKeyring(what, r.err.Error())
	case <-t.C:
		return "", noKeyring(what, fmt.Sprintf("no answer within %s (is the keyring locked?)", k.timeout))
	}
}

func noKeyring(what, why string) error {
	return fmt.Errorf("%w: %s: %s; Tandem does not store secrets anywhere else", ErrNoKeyring, what, why)
}

func (k *bounded) Get(conn string) (string, error) {
	return k.call(conn, "read", func() (string, error) { return k.b.Get(Service, conn) })
}

func (k *bounded) Set(conn, secret string) error {
	if conn == "" {
		return errors.New("a secret needs a connection name")
	}
	_, err := k.call(conn, "write", func() (string, error) { return "", k.b.Set(Service, conn, secret) })
	return err
}

func (k *bounded) Delete(conn string) error {
	_, err := k.call(conn, "delete", func() (string, error) { return "", k.b.Delete(Service, conn) })
	return err
}

// Memory is an in-process Store for tests.
type Memory struct {
	mu sync.Mutex
	m  map[string]string
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{m: map[string]string{}} }

func (m *Memory) Get(conn string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[conn]
	if !ok {
		return "", fmt.Errorf("connection %q: %w (set it with: tandem secret set %q)", conn, ErrNotFound, conn)
	}
	return v, nil
}

func (m *Memory) Set(conn, secret string) error {
	if conn == "" {
		return errors.New("a secret needs a connection name")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[conn] = secret
	return nil
}

func (m *Memory) Delete(conn string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[conn]; !ok {
		return fmt.Errorf("connection %q: %w", conn, ErrNotFound)
	}
	delete(m.m, conn)
	return nil
}
