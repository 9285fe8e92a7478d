package phonenumbers

import (
	"fmt"
	"os"
	"regexp"
	"testing"
)

// TestMain checks Tandem's one change to upstream before any test can load
// the metadata: package initialisation must not have parsed it.
func TestMain(m *testing.M) {
	for _, l := range lazyPatterns {
		if l.re != nil {
			fmt.Fprintf(os.Stderr, "phonenumbers: %q was compiled during package initialisation\n", l.src)
			os.Exit(1)
		}
	}
	if currentMetadata != nil {
		fmt.Fprintln(os.Stderr, "phonenumbers: the metadata was parsed during package initialisation; it must load on first use")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestMetadataLoadsOnFirstUse(t *testing.T) {
	num, err := Parse("030 1234567", "DE")
	if err != nil {
		t.Fatal(err)
	}
	if got := Format(num, E164); got != "+49301234567" {
		t.Fatalf("E.164 of a Berlin number: %q", got)
	}
	if currentMetadata == nil || len(GetSupportedRegions()) < 200 {
		t.Fatalf("metadata not loaded after first use")
	}
}

// Every lazy pattern compiles (a bad one would otherwise panic only when
// first used).
func TestLazyPatternsCompile(t *testing.T) {
	if len(lazyPatterns) < 20 {
		t.Fatalf("%d lazy patterns, want the package's 20", len(lazyPatterns))
	}
	for _, l := range lazyPatterns {
		if _, err := regexp.Compile(l.src); err != nil {
			t.Errorf("%q: %v", l.src, err)
		}
	}
}
