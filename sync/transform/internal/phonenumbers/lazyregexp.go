package phonenumbers

import (
	"regexp"
	"sync"
)

// lazyRegexp is a package-level pattern compiled on first use. Tandem's
// change to upstream, like the metadata's (metadata in metadatasource.go):
// compiled in init, the patterns cost ~2.5 ms of every process start.
// It has the methods of *regexp.Regexp the package uses.
type lazyRegexp struct {
	once sync.Once
	src  string
	re   *regexp.Regexp
}

// lazyPatterns lists every lazy pattern, so a test can compile them all.
var lazyPatterns []*lazyRegexp

func lazyMustCompile(src string) *lazyRegexp {
	l := &lazyRegexp{src: src}
	lazyPatterns = append(lazyPatterns, l)
	return l
}

func (l *lazyRegexp) get() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.src) })
	return l.re
}

func (l *lazyRegexp) FindAllString(s string, n int) []string { return l.get().FindAllString(s, n) }
func (l *lazyRegexp) FindIndex(b []byte) []int               { return l.get().FindIndex(b) }
func (l *lazyRegexp) FindStringIndex(s string) []int         { return l.get().FindStringIndex(s) }
func (l *lazyRegexp) FindStringSubmatch(s string) []string   { return l.get().FindStringSubmatch(s) }
func (l *lazyRegexp) MatchString(s string) bool              { return l.get().MatchString(s) }
func (l *lazyRegexp) ReplaceAllString(src, repl string) string {
	return l.get().ReplaceAllString(src, repl)
}
func (l *lazyRegexp) ReplaceAllStringFunc(src string, repl func(string) string) string {
	return l.get().ReplaceAllStringFunc(src, repl)
}
func (l *lazyRegexp) Split(s string, n int) []string { return l.get().Split(s, n) }
