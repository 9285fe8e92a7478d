//go:build !linux

package memory

// fresh maps a new region (the huge-page arena is Linux only).
func (a *Allocator) fresh(size int) (uintptr, int, error) { return mmap(size) }

func (a *Allocator) unmapArena() error { return nil }
