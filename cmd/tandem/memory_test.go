package main

import (
	"runtime/debug"
	"testing"
)

// A sync collects half as often (GOGC 200) under a 1 GiB soft limit, a
// fifth as often with its heap in huge pages (TANDEM_HUGEHEAP), unless GOGC
// or GOMEMLIMIT in the environment say otherwise.
func TestSyncMemorySettings(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, c := range []struct {
		env         map[string]string
		gc          int
		limit       int64
		description string
	}{
		{map[string]string{}, 200, 1 << 30, "defaults"},
		{map[string]string{"GOGC": "150"}, 100, 1 << 30, "GOGC set"},
		{map[string]string{"GOMEMLIMIT": "2GiB"}, 200, 1 << 62, "GOMEMLIMIT set"},
		{map[string]string{"TANDEM_HUGEHEAP": "1"}, 400, 1 << 30, "TANDEM_HUGEHEAP set"},
	} {
		for _, k := range []string{"GOGC", "GOMEMLIMIT", "TANDEM_HUGEHEAP"} {
			t.Setenv(k, c.env[k])
		}
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(1 << 62)
		tuneMemory()
		if gc := debug.SetGCPercent(100); gc != c.gc {
			t.Errorf("%s: GC percent %d, want %d", c.description, gc, c.gc)
		}
		if limit := debug.SetMemoryLimit(-1); limit != c.limit {
			t.Errorf("%s: memory limit %d, want %d", c.description, limit, c.limit)
		}
	}
}
