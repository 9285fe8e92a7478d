// Package localefix keeps Fyne from logging "Error parsing user locale C"
// on every start where the locale is C.UTF-8 (Debian's default in
// containers and on many servers): Fyne reads the locale in a package
// init and cannot parse "C" as a language tag, so CLI users got three lines
// of noise on stderr before their one-line answer.
//
// It must run before fyne.io/fyne/v2/lang's init. Go initialises packages
// in import-path order among those whose imports are ready, and Fyne's
// lang package waits for text/template, which sorts after this package.
package localefix

import (
	"os"
	"strings"
)

func init() {
	if os.Getenv("LANGUAGE") != "" {
		return
	}
	locale := ""
	for _, env := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if locale = os.Getenv(env); locale != "" {
			break
		}
	}
	// "C" and "POSIX" alone are understood; "C.UTF-8" is not. LANGUAGE only
	// steers message translation, so this changes nothing else.
	if strings.HasPrefix(locale, "C.") || strings.HasPrefix(locale, "POSIX.") {
		os.Setenv("LANGUAGE", "en")
	}
}
