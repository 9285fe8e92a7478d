package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

var allocSink [][]byte

//go:noinline
func allocateForProfile() {
	for range 256 {
		allocSink = append(allocSink, make([]byte, 64<<10))
	}
}

// TANDEM_ALLOCPROFILE names the file that tells where the command
// allocated; without it nothing is written. The command's exit code passes
// through either way.
func TestAllocProfile(t *testing.T) {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	defer func() { allocSink = nil }()
	dir := t.TempDir()
	path := filepath.Join(dir, "alloc.prof")

	t.Setenv("TANDEM_ALLOCPROFILE", "")
	if code := withAllocProfile(func() int { allocateForProfile(); return 3 }); code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("without TANDEM_ALLOCPROFILE, files were written: %v", entries)
	}

	t.Setenv("TANDEM_ALLOCPROFILE", path)
	if code := withAllocProfile(func() int { allocateForProfile(); return 2 }); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f) // pprof's format: gzipped protocol buffers
	if err != nil {
		t.Fatalf("the profile is not pprof's format: %v", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"alloc_space", "inuse_space", "allocateForProfile"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("the profile does not name %q (%d bytes)", want, len(data))
		}
	}
}
