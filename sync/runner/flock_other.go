//go:build !unix && !windows

package runner

import "os"

// tryLock has no cross-process lock here; runs are single flight per process only.
func tryLock(f *os.File) (bool, error) { return true, nil }
