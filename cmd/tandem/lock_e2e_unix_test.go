//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMappingsDeleteWaitsForSync: `mappings delete` while the pair's lock
// is held (a sync in another Tandem process, here this test) waits for it
// to be released instead of deleting beside the run, which would write the
// row back when it records its outcome.
func TestMappingsDeleteWaitsForSync(t *testing.T) {
	e := newEnv(t)
	put(t, e.a, "ada.vcf", card{UID: "a", FN: "Ada", Email: "ada@example.com"}, time.Hour)
	e.importPair(pairOpts{})
	e.sync(0)
	locks, _ := filepath.Glob(filepath.Join(e.data, "locks", "pair-*.lock"))
	if len(locks) != 1 {
		t.Fatalf("lock files: %v", locks)
	}
	f, err := os.OpenFile(locks[0], os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	const held = 700 * time.Millisecond
	go func() { time.Sleep(held); f.Close() }()
	start := time.Now()
	e.mustRun(0, "mappings", "delete", "ada.vcf")
	if waited := time.Since(start); waited < held-100*time.Millisecond {
		t.Fatalf("deleted after %v, while the lock was still held", waited)
	}
	e.mustRun(1, "mappings", "find", "ada.vcf")
}
