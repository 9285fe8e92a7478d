package memory

// Tests of Tandem's change (arena_linux.go): fresh regions are carved from
// a huge-page arena, one after another, aligned; large ones are mapped
// alone; blocks in them are usable; Close unmaps the arena's rest.

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestFreshRegionsComeFromTheArena(t *testing.T) {
	var a Allocator
	p1, n1, err := a.fresh(3000)
	if err != nil {
		t.Fatal(err)
	}
	p2, n2, err := a.fresh(pageSize + 1)
	if err != nil {
		t.Fatal(err)
	}
	if p1&(hugePage-1) != 0 || n1 != pageSize {
		t.Fatalf("first region at %#x, %d bytes: want a 2 MiB aligned arena start, %d bytes", p1, n1, pageSize)
	}
	if p2 != p1+uintptr(n1) || n2 != 2*pageSize {
		t.Fatalf("second region at +%#x, %d bytes: want +%#x, %d bytes", p2-p1, n2, n1, 2*pageSize)
	}
	if mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err == nil && !strings.Contains(string(mode), "[never]") {
		if !vmFlag(t, p1, "hg") {
			t.Errorf("the arena at %#x is not marked for huge pages", p1)
		}
	}
	big, nb, err := a.fresh(arenaMax + 1)
	if err != nil {
		t.Fatal(err)
	}
	if big >= p1 && big < a.arenaEnd {
		t.Fatalf("a region over arenaMax was carved from the arena")
	}
	unmap(big, nb)
	// Filling the arena maps the next one.
	for a.arenaNext+pageSize <= a.arenaEnd {
		if _, _, err := a.fresh(pageSize); err != nil {
			t.Fatal(err)
		}
	}
	p3, _, err := a.fresh(pageSize)
	if err != nil {
		t.Fatal(err)
	}
	if p3 >= p1 && p3 < p1+arenaChunk || p3&(hugePage-1) != 0 {
		t.Fatalf("after a full arena, a region at %#x: want the start of a new arena", p3)
	}
	rest := a.arenaNext
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if mapped(t, rest) {
		t.Fatalf("the arena's unused part (%#x) is still mapped after Close", rest)
	}
	unmap(p1, arenaChunk)
	unmap(p3, pageSize)
}

// Blocks of every size class and large ones, all alive at once, keep what
// is written to them.
func TestArenaBlocksHoldTheirData(t *testing.T) {
	var a Allocator
	defer a.Close()
	var blocks [][]byte
	for i := 0; i < 3000; i++ {
		size := 1 + (i*7919)%(300<<10)
		if i%3 == 0 {
			size = 16 << (i % 12)
		}
		p, err := a.UintptrMalloc(size)
		if err != nil {
			t.Fatal(err)
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(p)), size)
		for j := range b {
			b[j] = byte(i + j)
		}
		blocks = append(blocks, b)
	}
	for i, b := range blocks {
		for j := range b {
			if b[j] != byte(i+j) {
				t.Fatalf("block %d byte %d: %d, want %d", i, j, b[j], byte(i+j))
			}
		}
		if err := a.UintptrFree(uintptr(unsafe.Pointer(&b[0]))); err != nil {
			t.Fatal(err)
		}
	}
}

// vmFlag tells whether the mapping holding addr has the VmFlags flag.
func vmFlag(t *testing.T, addr uintptr, flag string) bool {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	inside := false
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := span(f[0]); ok {
			inside = uint64(addr) >= lo && uint64(addr) < hi
			continue
		}
		if inside && f[0] == "VmFlags:" {
			for _, x := range f[1:] {
				if x == flag {
					return true
				}
			}
			return false
		}
	}
	return false
}

// mapped tells whether addr is in a mapping of the process.
func mapped(t *testing.T, addr uintptr) bool {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc/self/maps:", err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if lo, hi, ok := span(f[0]); ok && uint64(addr) >= lo && uint64(addr) < hi {
				return true
			}
		}
	}
	return false
}

func span(s string) (lo, hi uint64, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.ParseUint(a, 16, 64)
	hi, err2 := strconv.ParseUint(b, 16, 64)
	return lo, hi, err1 == nil && err2 == nil
}
