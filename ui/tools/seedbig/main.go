// Command seedbig fills a Tandem data folder with a pair of many mapping
// rows, to measure the window with a big grid (see ui/rss.sh):
//
//	go run ./ui/tools/seedbig -data-dir DIR -rows 1000000
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"tandem/ui/internal/bigseed"
)

func main() {
	dir := flag.String("data-dir", "", "data folder")
	rows := flag.Int("rows", 1_000_000, "mapping rows")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: seedbig -data-dir DIR [-rows N]")
		os.Exit(2)
	}
	if err := bigseed.Seed(filepath.Join(*dir, "tandem.db"), *dir, *rows); err != nil {
		fmt.Fprintln(os.Stderr, "seedbig:", err)
		os.Exit(1)
	}
}
