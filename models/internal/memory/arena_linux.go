// Tandem's change to modernc.org/memory (see README.tandem.md): fresh
// regions come from an arena of huge pages.
//
// Every first touch of a 4 KiB page is a page fault, ~15 us on this
// project's virtual machine. A region of its own per allocator page (64
// KiB) faults 16 times as it fills; the allocator's regions cost a 1% sync
// ~590 faults and a first sync of 10,000 cards ~1,300. Carved from an
// arena the kernel backs with 2 MiB pages (madvise MADV_HUGEPAGE, where
// transparent huge pages are allowed), they fault once per 2 MiB: 30 faults
// are left in a 1% sync.

package memory

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// arenaChunk is the address space an arena maps at once.
	arenaChunk = 8 << 20
	// arenaMax: a region larger than this is mapped on its own (a large
	// block: the arena would waste what it skips).
	arenaMax = 1 << 20
	hugePage = 2 << 20
)

// fresh returns a new region of at least size bytes (a multiple of
// pageSize, pageSize aligned) and its size.
func (a *Allocator) fresh(size int) (uintptr, int, error) {
	n := roundup(size, pageSize)
	if n > arenaMax {
		return mmap(size)
	}
	if a.arenaNext == 0 || a.arenaNext+uintptr(n) > a.arenaEnd {
		if err := a.newArena(); err != nil {
			return mmap(size) // as upstream
		}
	}
	p := a.arenaNext
	a.arenaNext += uintptr(n)
	return p, n, nil
}

// newArena maps a new arena, hugePage aligned, and unmaps the unused end
// of the last one.
func (a *Allocator) newArena() error {
	if err := a.unmapArena(); err != nil {
		return err
	}
	up, err := unix.MmapPtr(-1, 0, nil, arenaChunk+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return err
	}
	p, end := uintptr(up), uintptr(up)+arenaChunk+hugePage
	start := (p + hugePage - 1) &^ (hugePage - 1)
	if start > p {
		unmap(p, int(start-p))
	}
	if end > start+arenaChunk {
		unmap(start+arenaChunk, int(end-start-arenaChunk))
	}
	// no huge pages (a kernel without them): 4 KiB pages, as upstream
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Pointer(start)), arenaChunk), unix.MADV_HUGEPAGE)
	a.arenaNext, a.arenaEnd = start, start+arenaChunk
	return nil
}

// unmapArena unmaps the arena's unused part.
func (a *Allocator) unmapArena() error {
	next, end := a.arenaNext, a.arenaEnd
	a.arenaNext, a.arenaEnd = 0, 0
	if next < end {
		return unmap(next, int(end-next))
	}
	return nil
}
