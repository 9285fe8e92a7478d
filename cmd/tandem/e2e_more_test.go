package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/sync/secrets"
)

func TestSecretSet(t *testing.T) {
	e := newEnv(t)
	const secret = "hunter2-not-in-any-file"
	conn := "e2e-" + filepath.Base(t.TempDir())
	c := e.cmd("secret", "set", conn)
	c.Stdin = strings.NewReader(secret + "\n")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if os.Getenv("TANDEM_REAL_KEYRING") == "1" {
		if err := c.Run(); err != nil {
			t.Fatalf("secret set: %v\n%s", err, errb.String())
		}
		defer secrets.Keyring().Delete(conn)
		got, err := secrets.Keyring().Get(conn)
		if err != nil || got != secret {
			t.Fatalf("keyring holds %q, %v", got, err)
		}
	}
	// With no keyring on the bus: a clear refusal and no plaintext anywhere.
	c = e.cmd("secret", "set", conn+"-nobus")
	c.Env = append(c.Env, "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/tandem-test-bus")
	c.Stdin = strings.NewReader(secret + "\n")
	errb.Reset()
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee interface{ ExitCode() int }
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(errb.String(), "no OS keyring answered") ||
		!strings.Contains(errb.String(), "does not store secrets anywhere else") {
		t.Fatalf("no keyring: %v\n%s", err, errb.String())
	}
	filepath.Walk(e.data, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
				t.Errorf("secret written to %s", p)
			}
		}
		return nil
	})
	if strings.Contains(errb.String()+out.String(), secret) {
		t.Fatal("secret echoed")
	}
}

func TestSyncForegroundUntilSignal(t *testing.T) {
	e := newEnv(t)
	put(t, e.a, "one.vcf", card{UID: "1", FN: "One", Email: "one@example.com"}, time.Hour)
	e.importPair(pairOpts{})
	// A short interval so the test sees a second timed run.
	out, _ := e.mustRun(0, "pair", "export", "contacts")
	p := filepath.Join(t.TempDir(), "fast.json")
	os.WriteFile(p, []byte(strings.Replace(out, `"interval": "5m"`, `"interval": "1s"`, 1)), 0o600)
	e.mustRun(0, "pair", "import", p)

	c := e.cmd("sync")
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				c.Process.Kill()
				t.Fatalf("timed out waiting for %s\nstdout %s\nstderr %s", what, stdout.String(), stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("the first card on B", func() bool { return countCards(t, e.b) == 1 })
	put(t, e.a, "two.vcf", card{UID: "2", FN: "Two", Email: "two@example.com"}, 0)
	wait("the second card on B (a timed run)", func() bool { return countCards(t, e.b) == 2 })
	c.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		c.Process.Kill()
		t.Fatal("sync did not stop on SIGTERM")
	}
	if !strings.Contains(stdout.String(), "pair contacts: created 1,") {
		t.Fatalf("run summaries missing:\n%s", stdout.String())
	}
	e.assertMirrored()
}
