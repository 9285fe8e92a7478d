//go:build !linux

package hugeheap

const supported = false

func adviseHuge(b []byte) {}

func collapseAround(addr uintptr) {}
