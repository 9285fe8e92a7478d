//go:build nogui

package main

import (
	"fmt"
	"os"
)

// runGUI in the command-line build (`make build` writes it as
// bin/tandem-cli): no window, and so no Fyne, no cgo and no GL or X
// libraries to load. It runs on a headless server, and starts in a fraction
// of the full binary's time, which a sync from cron pays on every run.
func runGUI(string) int {
	fmt.Fprintln(os.Stderr, "tandem: this is the command-line build, without the window; run the desktop app (bin/tandem), or see 'tandem help'")
	return exitRefused
}
