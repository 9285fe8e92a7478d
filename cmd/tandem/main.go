// Command tandem is Tandem's single binary: with no arguments it opens the
// window; with a subcommand it runs headless (see `tandem help`).
package main

import (
	"os"

	// Before Fyne's own init: see the package comment.
	_ "tandem/cmd/tandem/internal/localefix"
)

func main() {
	os.Exit(runCLI(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
