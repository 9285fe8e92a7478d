//go:build linux

package hugeheap

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

const supported = true

// madvise on a range known by address (a mapping of the runtime's, not a
// Go slice).
func madvise(addr, length uint64, advice int) error {
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(addr), uintptr(length), uintptr(advice)); e != 0 {
		return e
	}
	return nil
}

// adviseHuge asks for huge pages in b; an error (a kernel without
// transparent huge pages) leaves the default.
func adviseHuge(b []byte) { _ = unix.Madvise(b, unix.MADV_HUGEPAGE) }

// madvCollapse is MADV_COLLAPSE (Linux 6.1): make huge pages of a range
// now, copying the pages already there.
const madvCollapse = 25

// collapseAround asks for huge pages in the writable mapping that holds
// addr, the whole 2 MiB blocks of it, and collapses them at once. Errors
// (an older kernel, no /proc) leave the mapping as it was.
func collapseAround(addr uintptr) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	for line := range bytes.SplitSeq(maps, []byte{'\n'}) {
		// "lo-hi perms offset dev inode [path]"
		span, rest, _ := bytes.Cut(line, []byte{' '})
		los, his, ok := bytes.Cut(span, []byte{'-'})
		if !ok || !bytes.HasPrefix(rest, []byte("rw-p")) {
			continue
		}
		lo, err1 := strconv.ParseUint(string(los), 16, 64)
		hi, err2 := strconv.ParseUint(string(his), 16, 64)
		if err1 != nil || err2 != nil || uint64(addr) < lo || uint64(addr) >= hi {
			continue
		}
		const huge = 2 << 20
		lo, hi = (lo+huge-1)&^(huge-1), hi&^(huge-1)
		if lo >= hi {
			return
		}
		if madvise(lo, hi-lo, unix.MADV_HUGEPAGE) == nil {
			_ = madvise(lo, hi-lo, madvCollapse)
		}
		return
	}
}
