package main

import (
	"fmt"
	"os"
)

// runGUI opens the window. Owned by the desktop-app work (ui/); until it
// lands it only says how to use the CLI.
func runGUI(dataDir string) int {
	fmt.Fprintln(os.Stderr, "the window is not built yet; see 'tandem help'")
	return 2
}
