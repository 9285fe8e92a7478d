// Package trace prints a timeline of a run's phases to stderr when
// TANDEM_TRACE is set: milliseconds since the process started, the CPU time
// the process has used by then (all threads, user and system), and the
// phase. It exists to find where a run's wall time goes, and whether a phase
// keeps the cores busy or waits (profiles show CPU, not waiting); it costs
// nothing when off.
package trace

import (
	"fmt"
	"os"
	"time"
)

var (
	on    = os.Getenv("TANDEM_TRACE") != ""
	start = time.Now()
)

// Mark notes that a phase was reached.
func Mark(format string, args ...any) {
	if on {
		fmt.Fprintf(os.Stderr, "trace %7.1f ms  cpu %7.1f ms  %s\n", float64(time.Since(start).Microseconds())/1000,
			float64(cpuTime().Microseconds())/1000, fmt.Sprintf(format, args...))
	}
}
