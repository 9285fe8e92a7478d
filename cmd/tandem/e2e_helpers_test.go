package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-vcard"
)

// bin is the tandem binary built once for the end-to-end tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "tandem")
	build := exec.Command("go", "build", "-tags", "migrated_fynedo", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build tandem:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's world: a data folder and two vCard folders.
type env struct {
	t          *testing.T
	data, a, b string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{t: t, data: filepath.Join(root, "data"), a: filepath.Join(root, "a"), b: filepath.Join(root, "b")}
	for _, d := range []string{e.a, e.b} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// cmd prepares a tandem command on this env's data folder.
func (e *env) cmd(args ...string) *exec.Cmd {
	c := exec.Command(bin, append([]string{"--data-dir", e.data}, args...)...)
	// Debian's container default, under which Fyne used to log locale
	// errors at start-up: the tests that expect one line on stderr check
	// that it stays quiet (internal/localefix).
	c.Env = append(os.Environ(), "LANG=C.UTF-8", "LC_ALL=", "LC_MESSAGES=", "LANGUAGE=")
	return c
}

// run runs tandem and returns stdout, stderr and the exit code.
func (e *env) run(args ...string) (string, string, int) {
	e.t.Helper()
	c := e.cmd(args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("run tandem %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// mustRun runs tandem and fails unless it exits with want.
func (e *env) mustRun(want int, args ...string) (string, string) {
	e.t.Helper()
	out, errs, code := e.run(args...)
	if code != want {
		e.t.Fatalf("tandem %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errs)
	}
	return out, errs
}

// sync runs `sync --once` plus flags, wants the exit code, and returns the summary line.
func (e *env) sync(want int, flags ...string) string {
	e.t.Helper()
	out, _ := e.mustRun(want, append([]string{"sync", "--once"}, flags...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

type pairOpts struct {
	name, conflict, deletes string
	brake                   float64
}

// importPair writes a pair file for the env's folders and imports it.
func (e *env) importPair(o pairOpts) {
	e.t.Helper()
	if o.name == "" {
		o.name = "contacts"
	}
	f := map[string]any{
		"name": o.name,
		"a":    map[string]any{"name": o.name + " A", "kind": "vcarddir", "settings": map[string]string{"path": e.a}},
		"b":    map[string]any{"name": o.name + " B", "kind": "vcarddir", "settings": map[string]string{"path": e.b}},
		"key":  "email",
		"fields": []map[string]string{
			{"name": "email", "a": "EMAIL", "b": "EMAIL", "transform": "email"},
			{"name": "name", "a": "FN", "b": "FN"},
			{"name": "phone", "a": "TEL", "b": "TEL", "transform": "phone"},
			{"name": "note", "a": "NOTE", "b": "NOTE"},
		},
	}
	if o.conflict != "" {
		f["conflict"] = o.conflict
	}
	if o.deletes != "" {
		f["deletes"] = o.deletes
	}
	if o.brake != 0 {
		f["brake_share"] = o.brake
	}
	data, _ := json.MarshalIndent(f, "", "  ")
	path := filepath.Join(filepath.Dir(e.a), o.name+".json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.mustRun(0, "pair", "import", path)
}

// card is a contact's mapped fields.
type card struct{ UID, FN, Email, Tel, Note string }

func cardText(c card) string {
	var b strings.Builder
	w := func(s string) { b.WriteString(s + "\r\n") }
	w("BEGIN:VCARD")
	w("VERSION:3.0")
	if c.UID != "" {
		w("UID:" + c.UID)
	}
	w("FN:" + c.FN)
	w("N:" + c.FN + ";;;;")
	if c.Email != "" {
		w("EMAIL;TYPE=INTERNET:" + c.Email)
	}
	if c.Tel != "" {
		w("TEL;TYPE=CELL:" + c.Tel)
	}
	if c.Note != "" {
		w("NOTE:" + c.Note)
	}
	w("X-UNMAPPED:keep me")
	w("END:VCARD")
	return b.String()
}

// put writes a card file with a given modification time offset from now.
func put(t *testing.T, dir, file string, c card, age time.Duration) {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, []byte(cardText(c)), 0o600); err != nil {
		t.Fatal(err)
	}
	mt := time.Now().Add(-age)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
}

// readDir parses every .vcf in dir: file name -> card.
func readDir(t *testing.T, dir string) map[string]card {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]card{}
	for _, ent := range ents {
		if !strings.HasSuffix(ent.Name(), ".vcf") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		vc, err := vcard.NewDecoder(bytes.NewReader(data)).Decode()
		if err != nil {
			out[ent.Name()] = card{UID: "<malformed>"}
			continue
		}
		out[ent.Name()] = card{UID: vc.Value(vcard.FieldUID), FN: vc.Value(vcard.FieldFormattedName),
			Email: vc.Value(vcard.FieldEmail), Tel: vc.Value(vcard.FieldTelephone), Note: vc.Value(vcard.FieldNote)}
	}
	return out
}

// digits keeps the digits of a phone number, for comparing across formats.
func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	if len(d) == 10 {
		d = "1" + d
	}
	return d
}

// byEmail indexes a folder by lower-case email, failing on duplicates.
func byEmail(t *testing.T, side string, cards map[string]card) map[string]card {
	t.Helper()
	out := map[string]card{}
	for file, c := range cards {
		k := strings.ToLower(strings.TrimSpace(c.Email))
		if _, dup := out[k]; dup {
			t.Fatalf("side %s: email %q appears twice (one is %s)", side, k, file)
		}
		out[k] = c
	}
	return out
}

// assertMirrored checks both folders hold the same people (by email) with
// equal mapped fields, and returns how many.
func (e *env) assertMirrored() int {
	e.t.Helper()
	a := byEmail(e.t, "A", readDir(e.t, e.a))
	b := byEmail(e.t, "B", readDir(e.t, e.b))
	if len(a) != len(b) {
		e.t.Fatalf("A has %d people, B has %d", len(a), len(b))
	}
	var bad []string
	for k, ca := range a {
		cb, ok := b[k]
		switch {
		case !ok:
			bad = append(bad, k+" missing on B")
		case ca.FN != cb.FN || digits(ca.Tel) != digits(cb.Tel) || ca.Note != cb.Note:
			bad = append(bad, fmt.Sprintf("%s differs: A %+v B %+v", k, ca, cb))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		if len(bad) > 5 {
			bad = bad[:5]
		}
		e.t.Fatalf("folders differ:\n%s", strings.Join(bad, "\n"))
	}
	return len(a)
}

// snapshot records each file's size, mtime and content hash-free bytes.
func snapshot(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range ents {
			fi, err := ent.Info()
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Join(d, ent.Name())] = fmt.Sprintf("%d %d", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return out
}

func sameSnapshot(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed (%s -> %q)", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s appeared", k)
		}
	}
}

const zero = "created 0, updated 0, deleted 0, conflicts 0, errors 0"
