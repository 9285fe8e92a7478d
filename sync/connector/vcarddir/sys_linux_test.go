//go:build linux

package vcarddir

import "testing"

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
