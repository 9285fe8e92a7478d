package memory

// Tests of Tandem's change (keep.go): freed regions are reused, with a
// fresh header, within a size window, up to keepMax, and unmapped by Close.

import (
	"testing"
	"unsafe"
)

func pageOf(p uintptr) uintptr { return p &^ uintptr(pageMask) }

func TestFreedPageIsReusedWithFreshHeader(t *testing.T) {
	var a Allocator
	defer a.Close()
	small, err := a.UintptrMalloc(100) // a shared page of 128-byte slots
	if err != nil {
		t.Fatal(err)
	}
	pg := pageOf(small)
	if err := a.UintptrFree(small); err != nil { // its last block: the page is freed
		t.Fatal(err)
	}
	if len(a.kept) != 1 || a.kept[0] != pg {
		t.Fatalf("kept %#x, want the freed page %#x", a.kept, pg)
	}
	// Another size class needs a new page: it gets the kept one, and its
	// blocks start at the page's beginning (brk and used were reset).
	b1, err := a.UintptrMalloc(3000)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := a.UintptrMalloc(3000)
	if err != nil {
		t.Fatal(err)
	}
	if pageOf(b1) != pg {
		t.Fatalf("new page at %#x, want the kept page %#x", pageOf(b1), pg)
	}
	if b1 != pg+headerSize || b2 != b1+4096 {
		t.Fatalf("blocks at +%#x and +%#x, want +%#x and +%#x", b1-pg, b2-pg, headerSize, headerSize+4096)
	}
	if pp := (*page)(unsafe.Pointer(pg)); pp.log != 12 || pp.used != 2 || len(a.kept) != 0 || a.keptBytes != 0 {
		t.Fatalf("page header %+v, %d kept (%d bytes)", *pp, len(a.kept), a.keptBytes)
	}
	for _, b := range []uintptr{b1, b2} { // the blocks are usable whole
		mem := unsafe.Slice((*byte)(unsafe.Pointer(b)), 3000)
		for i := range mem {
			mem[i] = byte(i)
		}
	}
	a.UintptrFree(b1)
	a.UintptrFree(b2)
}

func TestBigRegionReusedOnlyWithinTwiceTheSize(t *testing.T) {
	var a Allocator
	defer a.Close()
	big, err := a.UintptrMalloc(200 << 10)
	if err != nil {
		t.Fatal(err)
	}
	a.UintptrFree(big)
	small, err := a.UintptrMalloc(40 << 10) // would waste more than half of the kept region
	if err != nil {
		t.Fatal(err)
	}
	if small == big || len(a.kept) != 1 {
		t.Fatalf("a 40 KiB block took the kept 200 KiB region")
	}
	again, err := a.UintptrMalloc(150 << 10)
	if err != nil {
		t.Fatal(err)
	}
	if again != big || len(a.kept) != 0 {
		t.Fatalf("a 150 KiB block at %#x did not reuse the kept 200 KiB region at %#x", again, big)
	}
	if UintptrUsableSize(again) < 150<<10 {
		t.Fatalf("usable size %d", UintptrUsableSize(again))
	}
	a.UintptrFree(small)
	a.UintptrFree(again)
}

func TestKeptBytesStayBounded(t *testing.T) {
	var a Allocator
	defer a.Close()
	const n, size = 40, 1 << 20
	var ps []uintptr
	for range n {
		p, err := a.UintptrMalloc(size)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := a.UintptrFree(p); err != nil {
			t.Fatal(err)
		}
		if a.keptBytes > keepMax {
			t.Fatalf("%d bytes kept, more than %d", a.keptBytes, keepMax)
		}
	}
	// The regions freed last are the ones kept.
	if len(a.kept) == 0 || a.kept[len(a.kept)-1] != ps[n-1]-headerSize {
		t.Fatalf("the last freed region is not kept")
	}
	if region := roundup(size+int(headerSize), osPageSize); len(a.kept) != keepMax/region {
		t.Fatalf("%d regions kept, want %d", len(a.kept), keepMax/region)
	}
}

func TestCloseUnmapsKept(t *testing.T) {
	var a Allocator
	p, err := a.UintptrMalloc(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	a.UintptrFree(p)
	if len(a.kept) != 1 {
		t.Fatalf("%d kept", len(a.kept))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if len(a.kept) != 0 || a.keptBytes != 0 || len(a.regs) != 0 {
		t.Fatalf("after Close: %d kept, %d bytes, %d mapped", len(a.kept), a.keptBytes, len(a.regs))
	}
}
