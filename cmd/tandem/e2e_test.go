package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var summaryRE = regexp.MustCompile(`^created \d+, updated \d+, deleted \d+, conflicts \d+, errors \d+$`)

func TestFirstSyncBothWaysNoDuplicates(t *testing.T) {
	e := newEnv(t)
	put(t, e.a, "ada.vcf", card{UID: "a1", FN: "Ada Lovelace", Email: "ada@example.com", Tel: "+1 202 555 0101"}, time.Hour)
	put(t, e.a, "alan.vcf", card{UID: "a2", FN: "Alan Turing", Email: "alan@example.com"}, time.Hour)
	put(t, e.a, "grace.vcf", card{UID: "a3", FN: "Grace Hopper", Email: "grace@example.com"}, time.Hour)
	// Same people on B (different file names, UIDs, email case, phone format) plus one only on B.
	put(t, e.b, "x1.vcf", card{UID: "b1", FN: "Ada Lovelace", Email: "ADA@Example.com", Tel: "(202) 555-0101"}, time.Hour)
	put(t, e.b, "x2.vcf", card{UID: "b2", FN: "Alan Turing", Email: "Alan@example.COM"}, time.Hour)
	put(t, e.b, "x3.vcf", card{UID: "b3", FN: "Radia Perlman", Email: "radia@example.com", Note: "spanning tree"}, time.Hour)
	e.importPair(pairOpts{})

	out, _ := e.mustRun(0, "pair", "list")
	if !strings.Contains(out, "contacts") || !strings.Contains(out, "vcarddir") {
		t.Fatalf("pair list: %q", out)
	}
	sum := e.sync(0)
	if !summaryRE.MatchString(sum) || !strings.HasPrefix(sum, "created 2,") || !strings.HasSuffix(sum, "errors 0") {
		t.Fatalf("first sync summary %q", sum)
	}
	if n := e.assertMirrored(); n != 4 {
		t.Fatalf("%d people after the first sync, want 4", n)
	}
	if len(readDir(t, e.a)) != 4 || len(readDir(t, e.b)) != 4 {
		t.Fatal("duplicate files")
	}
	// The unmapped property and B's own UID are left alone.
	raw, _ := os.ReadFile(filepath.Join(e.b, "x1.vcf"))
	if !strings.Contains(string(raw), "X-UNMAPPED:keep me") || !strings.Contains(string(raw), "UID:b1") {
		t.Fatalf("unmapped content touched:\n%s", raw)
	}
	before := snapshot(t, e.a, e.b)
	if sum := e.sync(0); sum != zero {
		t.Fatalf("second sync: %q", sum)
	}
	sameSnapshot(t, before, snapshot(t, e.a, e.b))
}

// file finds the file holding email in dir.
func file(t *testing.T, dir, email string) (string, card) {
	t.Helper()
	for f, c := range readDir(t, dir) {
		if strings.EqualFold(c.Email, email) {
			return f, c
		}
	}
	t.Fatalf("%s: no card with email %s", dir, email)
	return "", card{}
}

func TestEditsBothWaysMergeFields(t *testing.T) {
	e := newEnv(t)
	put(t, e.a, "ada.vcf", card{UID: "a1", FN: "Ada", Email: "ada@example.com", Tel: "+1 202 555 0101", Note: "old"}, 2*time.Hour)
	put(t, e.a, "bob.vcf", card{UID: "a2", FN: "Bob", Email: "bob@example.com"}, 2*time.Hour)
	e.importPair(pairOpts{})
	e.sync(0)
	bAda, _ := file(t, e.b, "ada@example.com")
	bBob, bob := file(t, e.b, "bob@example.com")
	// A changes Ada's phone; B changes Ada's note (different fields: merged) and Bob's name.
	put(t, e.a, "ada.vcf", card{UID: "a1", FN: "Ada", Email: "ada@example.com", Tel: "+1 202 555 0199", Note: "old"}, time.Hour)
	put(t, e.b, bAda, card{UID: "b-ada", FN: "Ada", Email: "ada@example.com", Tel: "+12025550101", Note: "new note"}, 30*time.Minute)
	bob.FN = "Robert"
	put(t, e.b, bBob, bob, 30*time.Minute)
	sum := e.sync(0)
	if !strings.Contains(sum, "conflicts 0") || !strings.Contains(sum, "errors 0") {
		t.Fatalf("summary %q", sum)
	}
	e.assertMirrored()
	_, a := file(t, e.a, "ada@example.com")
	if digits(a.Tel) != "12025550199" || a.Note != "new note" {
		t.Fatalf("merge lost a field: %+v", a)
	}
	if _, c := file(t, e.a, "bob@example.com"); c.FN != "Robert" {
		t.Fatalf("B's edit did not reach A: %+v", c)
	}
	if sum := e.sync(0); sum != zero {
		t.Fatalf("echo: %q", sum)
	}
}

func TestConflictPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy   string
		aNewer   bool
		wantNote string // "" = manual: both kept
	}{
		{"newest", false, "from B"},
		{"newest", true, "from A"},
		{"a-wins", false, "from A"},
		{"b-wins", true, "from B"},
		{"manual", true, ""},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			e := newEnv(t)
			put(t, e.a, "c.vcf", card{UID: "c", FN: "Cy", Email: "cy@example.com", Note: "base"}, 3*time.Hour)
			e.importPair(pairOpts{conflict: tc.policy})
			e.sync(0)
			bf, _ := file(t, e.b, "cy@example.com")
			ageA, ageB := 2*time.Hour, time.Hour
			if tc.aNewer {
				ageA, ageB = time.Hour, 2*time.Hour
			}
			put(t, e.a, "c.vcf", card{UID: "c", FN: "Cy", Email: "cy@example.com", Note: "from A"}, ageA)
			put(t, e.b, bf, card{UID: "d", FN: "Cy", Email: "cy@example.com", Note: "from B"}, ageB)
			sum := e.sync(0)
			_, a := file(t, e.a, "cy@example.com")
			_, b := file(t, e.b, "cy@example.com")
			if tc.wantNote == "" {
				if !strings.Contains(sum, "conflicts 1") || a.Note != "from A" || b.Note != "from B" {
					t.Fatalf("manual: %q A %q B %q", sum, a.Note, b.Note)
				}
				out, _ := e.mustRun(0, "mappings", "list", "--state", "conflict")
				if !strings.Contains(out, "c.vcf") {
					t.Fatalf("conflict row not listed:\n%s", out)
				}
				return
			}
			if a.Note != tc.wantNote || b.Note != tc.wantNote {
				t.Fatalf("%s: A %q B %q, want %q (summary %q)", tc.policy, a.Note, b.Note, tc.wantNote, sum)
			}
		})
	}
}

func TestDeletesAndBrakes(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"p1", "p2", "p3", "p4", "p5", "p6"} {
		put(t, e.a, n+".vcf", card{UID: n, FN: n, Email: n + "@example.com"}, time.Hour)
	}
	e.importPair(pairOpts{})
	e.sync(0)
	if n := len(readDir(t, e.b)); n != 6 {
		t.Fatalf("B has %d", n)
	}
	// One delete on A propagates.
	os.Remove(filepath.Join(e.a, "p1.vcf"))
	if sum := e.sync(0); !strings.Contains(sum, "deleted 1") {
		t.Fatalf("delete summary %q", sum)
	}
	if n := e.assertMirrored(); n != 5 {
		t.Fatalf("%d people after a delete", n)
	}
	// Emptying A trips the brake: exit 2, one line on stderr, nothing deleted.
	for f := range readDir(t, e.a) {
		os.Remove(filepath.Join(e.a, f))
	}
	before := snapshot(t, e.b)
	_, errs := e.mustRun(2, "sync", "--once")
	if lines := strings.Split(strings.TrimSpace(errs), "\n"); len(lines) != 1 || !strings.Contains(errs, "--force-delete") {
		t.Fatalf("brake stderr should be one line naming --force-delete:\n%s", errs)
	}
	sameSnapshot(t, before, snapshot(t, e.b))
	// A dry run with --force-delete still deletes nothing.
	e.sync(0, "--dry-run", "--force-delete")
	sameSnapshot(t, before, snapshot(t, e.b))
	// --force-delete lets it through once.
	if sum := e.sync(0, "--force-delete"); !strings.Contains(sum, "deleted 5") {
		t.Fatalf("forced delete summary %q", sum)
	}
	if n := len(readDir(t, e.b)); n != 0 {
		t.Fatalf("B still has %d cards", n)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t)
	put(t, e.a, "a.vcf", card{UID: "a", FN: "A", Email: "a@example.com"}, time.Hour)
	put(t, e.b, "b.vcf", card{UID: "b", FN: "B", Email: "b@example.com"}, time.Hour)
	e.importPair(pairOpts{})
	before := snapshot(t, e.a, e.b)
	out, _ := e.mustRun(0, "sync", "--once", "--dry-run")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.Contains(out, "create") || lines[len(lines)-1] != "created 2, updated 0, deleted 0, conflicts 0, errors 0" {
		t.Fatalf("dry run output:\n%s", out)
	}
	sameSnapshot(t, before, snapshot(t, e.a, e.b))
	if out, _ := e.mustRun(0, "mappings", "list"); strings.Count(out, "\n") != 1 {
		t.Fatalf("dry run stored mappings:\n%s", out)
	}
	if sum := e.sync(0); sum != "created 2, updated 0, deleted 0, conflicts 0, errors 0" {
		t.Fatalf("real run after the dry run: %q", sum)
	}
}

func TestMalformedCardReportedAndUntouched(t *testing.T) {
	e := newEnv(t)
	put(t, e.a, "good.vcf", card{UID: "g", FN: "Good", Email: "good@example.com"}, time.Hour)
	bad := []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Broken\r\nthis line is not a property\r\n")
	badPath := filepath.Join(e.a, "bad.vcf")
	os.WriteFile(badPath, bad, 0o600)
	e.importPair(pairOpts{})
	out, errs, code := e.run("sync", "--once")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "created 1,") || !strings.Contains(out, "errors 1") || !strings.Contains(errs, "bad.vcf") {
		t.Fatalf("malformed card not reported:\nstdout %s\nstderr %s", out, errs)
	}
	if got, _ := os.ReadFile(badPath); string(got) != string(bad) {
		t.Fatal("malformed card was rewritten")
	}
	if n := len(readDir(t, e.b)); n != 1 {
		t.Fatalf("B has %d cards, want the good one", n)
	}
}

func TestMappingsCommands(t *testing.T) {
	e := newEnv(t)
	put(t, e.a, "ada.vcf", card{UID: "a", FN: "Ada", Email: "ada@example.com"}, time.Hour)
	put(t, e.a, "bob.vcf", card{UID: "b", FN: "Bob", Email: "bob@example.com"}, time.Hour)
	e.importPair(pairOpts{})
	e.sync(0)
	bAda, _ := file(t, e.b, "ada@example.com")

	out, _ := e.mustRun(0, "mappings", "list")
	if strings.Count(out, "\n") != 3 || !strings.Contains(out, "ada.vcf\t"+bAda) {
		t.Fatalf("list:\n%s", out)
	}
	out, _ = e.mustRun(0, "mappings", "find", "ada.vcf")
	if !strings.Contains(out, bAda) || strings.Contains(out, "bob.vcf") {
		t.Fatalf("find by A id:\n%s", out)
	}
	out, _ = e.mustRun(0, "mappings", "find", bAda)
	if !strings.Contains(out, "ada.vcf") {
		t.Fatalf("find by B id:\n%s", out)
	}
	e.mustRun(1, "mappings", "find", "ada") // exact ids only
	csvPath := filepath.Join(t.TempDir(), "m.csv")
	e.mustRun(0, "mappings", "export", "--out", csvPath)
	f, _ := os.Open(csvPath)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 3 || strings.Join(rows[0][:4], ",") != "a_id,b_id,state,synced_at" {
		t.Fatalf("csv: %v %v", rows, err)
	}
	// A second pair makes --pair necessary.
	e2 := &env{t: t, data: e.data, a: filepath.Join(filepath.Dir(e.a), "a2"), b: filepath.Join(filepath.Dir(e.a), "b2")}
	os.MkdirAll(e2.a, 0o700)
	os.MkdirAll(e2.b, 0o700)
	e2.importPair(pairOpts{name: "other"})
	_, errs := e.mustRun(2, "mappings", "list")
	if !strings.Contains(errs, "--pair") {
		t.Fatalf("ambiguous list: %s", errs)
	}
	e.mustRun(0, "mappings", "list", "--pair", "contacts")

	e.mustRun(0, "mappings", "delete", bAda, "--pair", "contacts")
	e.mustRun(1, "mappings", "find", "ada.vcf")
	if len(readDir(t, e.a)) != 2 || len(readDir(t, e.b)) != 2 {
		t.Fatal("mappings delete touched records")
	}
	e.mustRun(1, "mappings", "delete", "ada.vcf", "--pair", "contacts")
}

func TestCorruptPairFile(t *testing.T) {
	e := newEnv(t)
	p := filepath.Join(t.TempDir(), "broken.json")
	os.WriteFile(p, []byte("{\n  \"name\": \"x\",\n  \"a\": {\"name\": \"A\" \"kind\": \"vcarddir\"}\n}\n"), 0o600)
	_, errs, code := e.run("pair", "import", p)
	if code == 0 || !strings.Contains(errs, "broken.json") || !strings.Contains(errs, "line 3") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	os.WriteFile(p, []byte(`{"name":"x","a":{"name":"A","kind":"vcarddir","settings":{"path":"/a"}},"b":{"name":"B","kind":"vcarddir","settings":{"path":"/b"}},"key":"email","fields":[{"name":"email","a":"EMAIL","b":"EMAIL"}],"extra":1}`), 0o600)
	_, errs, code = e.run("pair", "import", p)
	if code == 0 || !strings.Contains(errs, `unknown key "extra"`) {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	_, errs, code = e.run("pair", "export", "x")
	if code == 0 || !strings.Contains(errs, "not found") {
		t.Fatalf("a rejected file was imported: %d %q", code, errs)
	}
}

func TestPairExportRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.importPair(pairOpts{conflict: "b-wins", brake: 0.5})
	out, _ := e.mustRun(0, "pair", "export", "contacts")
	p := filepath.Join(t.TempDir(), "exported.json")
	os.WriteFile(p, []byte(out), 0o600)
	e.mustRun(0, "pair", "import", p)
	again, _ := e.mustRun(0, "pair", "export", "contacts")
	if again != out || !strings.Contains(out, `"conflict": "b-wins"`) || !strings.Contains(out, `"brake_share": 0.5`) {
		t.Fatalf("export round trip:\n%s\n%s", out, again)
	}
}

func TestUsageErrors(t *testing.T) {
	e := newEnv(t)
	if _, errs, code := e.run("frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
	if out, _ := e.mustRun(0, "help"); !strings.Contains(out, "tandem sync") {
		t.Fatalf("help: %q", out)
	}
	if _, errs, code := e.run("sync", "--once"); code != 2 || !strings.Contains(errs, "pair import") {
		t.Fatalf("sync with no pairs: %d %q", code, errs)
	}
}
