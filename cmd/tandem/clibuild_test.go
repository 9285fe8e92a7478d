package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The command-line build (-tags nogui, no cgo: bin/tandem-cli) syncs like
// the full binary and, asked for the window, says plainly it has none.
func TestCommandLineBuild(t *testing.T) {
	cli := filepath.Join(t.TempDir(), "tandem-cli")
	build := exec.Command("go", "build", "-tags", "nogui", "-o", cli, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	full := bin
	bin = cli
	defer func() { bin = full }()

	e := newEnv(t)
	put(t, e.a, "ada.vcf", card{UID: "a1", FN: "Ada Lovelace", Email: "ada@example.com"}, time.Hour)
	put(t, e.b, "x.vcf", card{UID: "b1", FN: "Radia Perlman", Email: "radia@example.com"}, time.Hour)
	e.importPair(pairOpts{})
	if sum := e.sync(0); !strings.HasPrefix(sum, "created 2,") {
		t.Fatalf("first sync with the command-line build: %q", sum)
	}
	if n := e.assertMirrored(); n != 2 {
		t.Fatalf("%d people, want 2", n)
	}
	_, stderr, code := e.run()
	if code != exitRefused || !strings.Contains(stderr, "without the window") {
		t.Fatalf("no arguments: exit %d, %q", code, stderr)
	}
}
