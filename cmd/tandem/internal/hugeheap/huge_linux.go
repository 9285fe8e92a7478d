//go:build linux

package hugeheap

import "golang.org/x/sys/unix"

const supported = true

// adviseHuge asks for huge pages in b; an error (a kernel without
// transparent huge pages) leaves the default.
func adviseHuge(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }
