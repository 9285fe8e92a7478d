// Package hugeheap lets a short command-line run's Go heap grow in huge
// pages (2 MiB) instead of 4 KiB ones.
//
// Every first touch of a 4 KiB page is a page fault, and on a virtual
// machine a fault can cost ~15 us (this project's VM: touching 64 MiB of
// fresh memory page by page takes ~245 ms; in 2 MiB pages, ~4 ms). A
// one-shot sync lives well under a second and grows its heap from nothing:
// a first sync of 10,000 cards took ~13,000 of its ~17,000 faults in the
// Go heap. The runtime maps new heap without asking for huge pages, so
// Reserve makes the heap map a region at once, asks for huge pages there
// (madvise MADV_HUGEPAGE: where the system allows them, the default on
// most Linux desktops), and frees it untouched: the runtime reuses those
// pages for what the run allocates next.
package hugeheap

import (
	"runtime"
	"unsafe"
)

// Reserve grows the heap by size bytes of huge-page memory, free for the
// run's allocations. It costs a garbage collection of a still small heap
// (~3 ms here), and the resident memory of a run rounds up to 2 MiB steps.
// Elsewhere than on Linux it does nothing.
func Reserve(size int) {
	if supported {
		reserve(size)
	}
}

// reserve is Reserve; it returns where the region starts (for tests).
func reserve(size int) uintptr {
	// The heap's first chunk, where the runtime and package initialisation
	// allocated, was mapped before this: its pages fault one by one as the
	// run fills it (~700 faults of a 1% sync). Marked for huge pages too,
	// its untouched 2 MiB blocks fault once (a 1% sync: ~2,300 -> ~1,800
	// faults); where the kernel can (MADV_COLLAPSE, not on this VM's), the
	// touched ones become huge pages at once.
	collapseAround(uintptr(unsafe.Pointer(new([64]byte))))
	region := make([]byte, size) // fresh from the system: not touched, not zeroed again
	start := uintptr(unsafe.Pointer(unsafe.SliceData(region)))
	adviseHuge(region)
	runtime.KeepAlive(region)
	region = nil
	runtime.GC() // frees the region's pages for reuse by small objects
	return start
}
