//go:build linux

package vcarddir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPendingWriteback(t *testing.T) {
	n, ok := pendingWriteback("MemTotal:  8000000 kB\nDirty:      1476 kB\nWriteback:   24 kB\nWritebackTmp: 9 kB\n")
	if !ok || n != 1500<<10 {
		t.Fatalf("= %d, %v", n, ok)
	}
	for _, bad := range []string{"Dirty: 1 kB\n", "Dirty: x kB\nWriteback: 0 kB\n", "Dirty: 1 MB\nWriteback: 0 kB\n"} {
		if _, ok := pendingWriteback(bad); ok {
			t.Fatalf("%q read as valid", bad)
		}
	}
	if !kernelAtLeast(2, 6) || kernelAtLeast(99, 0) {
		t.Fatal("kernelAtLeast misreads the running kernel")
	}
}

// listDir (getdents64 into one buffer) sees what os.ReadDir sees, names and
// types, over more entries than one call returns.
func TestListDirMatchesReadDir(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 120)
	for i := range 3000 { // ~150 bytes a record: more than one 256 KiB call
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%04d.vcf", long, i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.vcf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("elsewhere.vcf", filepath.Join(dir, "link.vcf")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo.vcf"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := listDir(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("listDir found %d entries, os.ReadDir %d", len(got), len(want))
	}
	slices.SortFunc(got, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
	for i, w := range want {
		kind := kindFile
		switch {
		case w.IsDir():
			kind = kindDir
		case w.Type()&fs.ModeSymlink != 0:
			kind = kindLink
		case !w.Type().IsRegular():
			kind = kindOther
		}
		if got[i].name != w.Name() || got[i].kind != kind {
			t.Fatalf("entry %d: listDir says %q (kind %d), os.ReadDir %q (kind %d)", i, got[i].name, got[i].kind, w.Name(), kind)
		}
	}
}
