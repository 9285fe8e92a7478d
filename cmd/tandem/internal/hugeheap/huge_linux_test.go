//go:build linux

package hugeheap

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

var sink [][]byte

// After reserve, the region and the heap's first chunk are marked for huge
// pages (VmFlags "hg" in /proc/self/smaps), and the small objects
// allocated next land in the region. In a child process: the heap must be
// as fresh as a command's.
func TestReserveMarksARegionTheHeapReuses(t *testing.T) {
	if mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(mode), "[never]") {
		t.Skip("transparent huge pages are off on this system")
	}
	if os.Getenv("HUGEHEAP_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReserveMarksARegionTheHeapReuses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "HUGEHEAP_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	const size = 32 << 20
	early := new([64]byte) // in the heap's first chunk, mapped before reserve
	start := reserve(size)
	if !hugeFlag(t, start) {
		t.Fatalf("the region at %#x is not marked for huge pages", start)
	}
	if a := uintptr(unsafe.Pointer(early)); !hugeFlag(t, a) {
		t.Fatalf("the heap's first chunk (at %#x) is not marked for huge pages", a)
	}
	in := 0
	for range size / 256 {
		b := make([]byte, 256)
		sink = append(sink, b)
		if a := uintptr(unsafe.Pointer(&b[0])); a >= start && a < start+size {
			in++
		}
	}
	sink = nil
	if in == 0 {
		t.Fatalf("no small object was allocated in the reserved region")
	}
}

// hugeFlag tells whether the mapping holding addr has VmFlags "hg".
func hugeFlag(t *testing.T, addr uintptr) bool {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	inside := false
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			lo, hi, _ := strings.Cut(f[0], "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			inside = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
			continue
		}
		if inside && len(f) > 0 && f[0] == "VmFlags:" {
			for _, flag := range f[1:] {
				if flag == "hg" {
					return true
				}
			}
			return false
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return false
}
