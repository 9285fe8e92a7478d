// Tandem's change to modernc.org/memory (see README.tandem.md): a freed
// region is kept mapped for the next allocation that needs one, instead of
// being unmapped at once.
//
// SQLite, through modernc.org/libc, frees and allocates regions all the
// time: a page-cache page of a statement's scratch table, a bound text, a
// B-tree balance's scratch space. Upstream maps each anew (an mmap and up
// to two munmaps to align it, then page faults as it is touched) and unmaps
// it when its last block is freed. On a virtual machine each munmap is a
// TLB shootdown across the process's threads, and each fault a trap to the
// hypervisor: storing a first sync's 10,000 rows and events took 385 ms
// with upstream's allocator and 245 ms with this one (BenchmarkFirstSyncCommits
// in Tandem's models package).

package memory

import "unsafe"

// keepMax bounds the bytes of freed regions kept mapped. A region freed
// when the bound is reached makes room by unmapping the regions kept
// longest.
const keepMax = 16 << 20

// keep holds the freed region p of size bytes for reuse by take.
func (a *Allocator) keep(p uintptr, size int) error {
	if size > keepMax {
		return unmap(p, size)
	}
	for a.keptBytes+size > keepMax {
		q := a.kept[0]
		n := copy(a.kept, a.kept[1:])
		a.kept = a.kept[:n]
		qs := (*page)(unsafe.Pointer(q)).size
		a.keptBytes -= qs
		if err := unmap(q, qs); err != nil {
			return err
		}
	}
	(*page)(unsafe.Pointer(p)).size = size
	a.kept = append(a.kept, p)
	a.keptBytes += size
	return nil
}

// take returns a kept region that holds size bytes and is at most twice
// as large (the one freed last among them), with its header as a new
// mapping's, or a fresh region (arena_linux.go: carved from a huge-page
// arena). Like mmap it returns the region's size.
func (a *Allocator) take(size int) (uintptr, int, error) {
	want := roundup(size, osPageSize)
	for i := len(a.kept) - 1; i >= 0; i-- {
		p := a.kept[i]
		got := (*page)(unsafe.Pointer(p)).size
		if got < want || got > 2*want {
			continue
		}
		a.kept = append(a.kept[:i], a.kept[i+1:]...)
		a.keptBytes -= got
		*(*page)(unsafe.Pointer(p)) = page{}
		return p, got, nil
	}
	return a.fresh(size)
}

// unmapKept unmaps every kept region and what is left of the arena (Close).
func (a *Allocator) unmapKept() (err error) {
	if e := a.unmapArena(); e != nil {
		err = e
	}
	for _, p := range a.kept {
		if e := unmap(p, (*page)(unsafe.Pointer(p)).size); e != nil && err == nil {
			err = e
		}
	}
	a.kept, a.keptBytes = nil, 0
	return err
}
