// Command tandem is Tandem's single binary: with no arguments it opens the
// window; with a subcommand it runs headless (see `tandem help`).
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	// Before Fyne's own init: see the package comment.
	_ "tandem/cmd/tandem/internal/localefix"
)

func main() {
	os.Exit(withProfile(func() int {
		return withAllocProfile(func() int { return runCLI(os.Args[1:], os.Stdin, os.Stdout, os.Stderr) })
	}))
}

// withProfile writes a CPU profile to $TANDEM_CPUPROFILE while fn runs, for
// finding where a slow sync spends its time (go tool pprof FILE).
func withProfile(fn func() int) int {
	path := os.Getenv("TANDEM_CPUPROFILE")
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem: cpu profile:", err)
		return fn()
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "tandem: cpu profile:", err)
		return fn()
	}
	defer pprof.StopCPUProfile()
	return fn()
}

// withAllocProfile writes where fn allocated to $TANDEM_ALLOCPROFILE, for
// finding what makes a sync's heap grow (go tool pprof -sample_index
// alloc_space FILE): every heap page a run touches first costs dearly on a
// virtual machine.
func withAllocProfile(fn func() int) int {
	path := os.Getenv("TANDEM_ALLOCPROFILE")
	if path == "" {
		return fn()
	}
	runtime.MemProfileRate = 4096
	code := fn()
	runtime.GC() // the profile tells what the last collection saw
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem: alloc profile:", err)
		return code
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "tandem: alloc profile:", err)
	}
	return code
}
