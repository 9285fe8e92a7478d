package secrets

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

type hanging struct{ release chan struct{} }

func (h hanging) Get(s, u string) (string, error) { <-h.release; return "x", nil }
func (h hanging) Set(s, u, p string) error        { <-h.release; return nil }
func (h hanging) Delete(s, u string) error        { <-h.release; return nil }

func TestTimeoutNeverHangs(t *testing.T) {
	h := hanging{release: make(chan struct{})}
	defer close(h.release)
	k := &bounded{b: h, timeout: 50 * time.Millisecond}
	done := make(chan error, 3)
	go func() {
		_, err := k.Get("c")
		done <- err
		done <- k.Set("c", "topsecret")
		done <- k.Delete("c")
	}()
	for i := 0; i < 3; i++ {
		select {
		case err := <-done:
			if !errors.Is(err, ErrNoKeyring) {
				t.Fatalf("call %d: want ErrNoKeyring, got %v", i, err)
			}
			if !strings.Contains(err.Error(), "does not store secrets anywhere else") {
				t.Fatalf("message: %v", err)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Fatalf("secret leaked: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("keyring call hung")
		}
	}
}

type failing struct{ err error }

func (f failing) Get(s, u string) (string, error) { return "", f.err }
func (f failing) Set(s, u, p string) error        { return f.err }
func (f failing) Delete(s, u string) error        { return f.err }

func TestErrorMapping(t *testing.T) {
	k := &bounded{b: failing{keyring.ErrNotFound}, timeout: time.Second}
	if _, err := k.Get("Work"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "tandem secret set") {
		t.Fatalf("not found: %v", err)
	}
	k = &bounded{b: failing{fmt.Errorf("dbus: no such service")}, timeout: time.Second}
	if err := k.Set("Work", "s3cret"); !errors.Is(err, ErrNoKeyring) || errors.Is(err, ErrNotFound) {
		t.Fatalf("no keyring: %v", err)
	}
}

func TestMemory(t *testing.T) {
	m := NewMemory()
	if _, err := m.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("want not found, got %v", err)
	}
	if err := m.Set("a", "one"); err != nil {
		t.Fatal(err)
	}
	if err := m.Set("a", "two"); err != nil {
		t.Fatal(err)
	}
	if v, err := m.Get("a"); err != nil || v != "two" {
		t.Fatalf("got %q %v", v, err)
	}
	if err := m.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := m.Set("", "x"); err == nil {
		t.Fatal("empty connection name accepted")
	}
}

// TestRealKeyring talks to a real Secret Service (make test runs it under
// dbus-run-session with an unlocked gnome-keyring-daemon).
func TestRealKeyring(t *testing.T) {
	if os.Getenv("TANDEM_REAL_KEYRING") != "1" {
		t.Skip("set TANDEM_REAL_KEYRING=1 with an unlocked Secret Service to run")
	}
	k := Keyring()
	conn := fmt.Sprintf("tandem-test-%d", time.Now().UnixNano())
	defer k.Delete(conn)
	if _, err := k.Get(conn); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fresh connection: want ErrNotFound, got %v", err)
	}
	secret := "pa ss\tword-ü-" + conn
	if err := k.Set(conn, secret); err != nil {
		t.Fatal(err)
	}
	got, err := k.Get(conn)
	if err != nil || got != secret {
		t.Fatalf("round trip: %q %v", got, err)
	}
	// go-keyring's Get sees what another client stored under the same service.
	if raw, err := keyring.Get(Service, conn); err != nil || raw != secret {
		t.Fatalf("raw read: %q %v", raw, err)
	}
	if err := k.Set(conn, "second"); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.Get(conn); got != "second" {
		t.Fatalf("overwrite: %q", got)
	}
	if err := k.Delete(conn); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get(conn); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// TestNoKeyringRefuses runs without a session bus: the keyring must refuse
// quickly with ErrNoKeyring rather than hang or fall back.
func TestNoKeyringRefuses(t *testing.T) {
	if os.Getenv("TANDEM_REAL_KEYRING") == "1" {
		t.Skip("a real keyring is present")
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		t.Skip("a session bus is present")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/tandem-bus")
	err := Keyring().Set("tandem-test", "x")
	if !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("want ErrNoKeyring, got %v", err)
	}
}
