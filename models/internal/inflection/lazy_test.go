package inflection

import (
	"fmt"
	"os"
	"testing"
)

// TestMain fails the package if initialisation compiled the rules (it runs
// in every process that imports gorm), or if first use does not, before
// upstream's tests change the rules.
func TestMain(m *testing.M) {
	if compiledPluralMaps != nil || compiledSingularMaps != nil {
		fmt.Fprintln(os.Stderr, "FAIL: the rules were compiled at init")
		os.Exit(1)
	}
	if got := Plural("person"); got != "people" {
		fmt.Fprintf(os.Stderr, "FAIL: Plural(person) = %q on first use\n", got)
		os.Exit(1)
	}
	if got := Singular("mappings"); got != "mapping" {
		fmt.Fprintf(os.Stderr, "FAIL: Singular(mappings) = %q on first use\n", got)
		os.Exit(1)
	}
	addTestRules()
	os.Exit(m.Run())
}
