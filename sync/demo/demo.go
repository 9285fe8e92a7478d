// Package demo sets up a first-run example: two vCard folders with a dozen
// people that differ a little, and a pair "Demo" between them, so a new
// user sees a sync (merges, a conflict policy, date and phone conversions)
// without connecting a real system.
package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tandem/models"
	_ "tandem/sync/connector/vcarddir" // the demo's connections are vcarddir
)

// PairName, ConnA and ConnB name what Ensure creates.
const (
	PairName = "Demo"
	ConnA    = "Demo A"
	ConnB    = "Demo B"
)

// person is one demo contact as each side holds it ("" = not on that side).
type person struct {
	uid            string
	name, family   string
	emailA, emailB string
	phoneA, phoneB string
	bday           string // ISO; B writes it as 01/02/2006
	noteA, noteB   string
	onA, onB       bool
	newerB         bool // B's card was edited after A's
}

var people = []person{
	{uid: "ada", name: "Ada Lovelace", family: "Lovelace", emailA: "ada@example.com", emailB: "ada@example.com",
		phoneA: "+1 202 555 0101", phoneB: "(202) 555-0101", bday: "1815-12-10", noteA: "Analytical Engine notes", noteB: "Analytical Engine notes", onA: true, onB: true},
	{uid: "alan", name: "Alan Turing", family: "Turing", emailA: "alan.turing@example.org", emailB: "Alan.Turing@Example.ORG",
		phoneA: "+1 202 555 0102", phoneB: "202.555.0102", bday: "1912-06-23", onA: true, onB: true},
	{uid: "grace", name: "Grace Hopper", family: "Hopper", emailA: "grace@example.net", emailB: "grace@example.net",
		phoneA: "+1 202 555 0103", phoneB: "+1 202 555 0199", bday: "1906-12-09", noteA: "COBOL", noteB: "COBOL", onA: true, onB: true, newerB: true},
	{uid: "katherine", name: "Katherine Johnson", family: "Johnson", emailA: "katherine@example.com", emailB: "katherine@example.com",
		phoneA: "+1 202 555 0104", phoneB: "+1 202 555 0104", bday: "1918-08-26", noteA: "Orbital mechanics, call before visiting", noteB: "Orbital mechanics", onA: true, onB: true},
	{uid: "edsger", name: "Edsger Dijkstra", family: "Dijkstra", emailA: "edsger@example.nl", emailB: "EDSGER@EXAMPLE.NL",
		phoneA: "+31 20 555 0105", phoneB: "+31 20 555 0105", bday: "1930-05-11", onA: true, onB: true},
	{uid: "barbara", name: "Barbara Liskov", family: "Liskov", emailA: "barbara@example.edu", emailB: "barbara@example.edu",
		phoneA: "+1 202 555 0106", phoneB: "+1 202 555 0106", bday: "1939-11-07", noteA: "Substitution principle", noteB: "Substitution principle", onA: true, onB: true},
	{uid: "donald", name: "Donald Knuth", family: "Knuth", emailA: "donald@example.edu", emailB: "donald@example.edu",
		phoneB: "+1 202 555 0107", bday: "1938-01-10", noteB: "TAOCP volume 4B", onA: true, onB: true, newerB: true},
	{uid: "margaret", name: "Margaret Hamilton", family: "Hamilton", emailA: "margaret@example.com", emailB: "margaret@example.com",
		phoneA: "+1 202 555 0108", phoneB: "+1 202 555 0108", bday: "1936-08-17", noteA: "Apollo guidance software", onA: true, onB: true},
	{uid: "claude", name: "Claude Shannon", family: "Shannon", emailA: "claude@example.com",
		phoneA: "+1 202 555 0109", bday: "1916-04-30", noteA: "Information theory", onA: true},
	{uid: "john", name: "John von Neumann", family: "von Neumann", emailA: "johnny@example.org",
		phoneA: "+1 202 555 0110", bday: "1903-12-28", onA: true},
	{uid: "radia", name: "Radia Perlman", family: "Perlman", emailB: "radia@example.com",
		phoneB: "+1 202 555 0111", bday: "1951-12-18", noteB: "Spanning tree", onB: true},
	{uid: "frances", name: "Frances Allen", family: "Allen", emailB: "frances@example.com",
		phoneB: "(202) 555-0112", bday: "1932-08-04", onB: true},
}

// Pair returns the demo pair over folders under dataDir (not saved).
func Pair(dataDir string) *models.Pair {
	return &models.Pair{
		Name: PairName,
		A:    models.Connection{Name: ConnA, Kind: "vcarddir", Settings: map[string]string{"path": filepath.Join(dataDir, "demo", "a")}},
		B:    models.Connection{Name: ConnB, Kind: "vcarddir", Settings: map[string]string{"path": filepath.Join(dataDir, "demo", "b")}},
		Key:  "email",
		Fields: []models.Field{
			{Name: "email", A: "EMAIL", B: "EMAIL", Transform: "email"},
			{Name: "name", A: "FN", B: "FN"},
			{Name: "phone", A: "TEL", B: "TEL", Transform: "phone"},
			{Name: "birthday", A: "BDAY", B: "BDAY", Transform: "date", AFormat: "2006-01-02", BFormat: "01/02/2006"},
			{Name: "note", A: "NOTE", B: "NOTE"},
		},
		Conflict:   models.ConflictNewest,
		Deletes:    models.DeletePropagate,
		Interval:   "5m",
		BrakeShare: 0.25,
	}
}

// Ensure creates the demo when the store has no pair at all: the two
// folders (cards already there are left alone), the connections and the
// pair. created is false when there was something already.
func Ensure(store *models.Store, dataDir string) (created bool, err error) {
	ps, err := store.Pairs()
	if err != nil {
		return false, err
	}
	if len(ps) > 0 {
		return false, nil
	}
	p := Pair(dataDir)
	if err := WriteCards(p.A.Settings["path"], p.B.Settings["path"], time.Now()); err != nil {
		return false, err
	}
	if err := store.SavePair(p); err != nil {
		return false, fmt.Errorf("save the demo pair: %w", err)
	}
	return true, nil
}

// WriteCards writes the sample cards into dirA and dirB (creating them);
// a card file that exists already is kept as it is. B's edited cards get a
// later modification time than A's, so the "newest" policy picks them.
func WriteCards(dirA, dirB string, now time.Time) error {
	for _, d := range []string{dirA, dirB} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create demo folder: %w", err)
		}
	}
	older, newer := now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	for _, p := range people {
		if p.onA {
			c := card("demo-a-"+p.uid, p.name, p.family, p.emailA, p.phoneA, p.bday, p.noteA)
			if err := writeNew(filepath.Join(dirA, p.uid+".vcf"), c, older); err != nil {
				return err
			}
		}
		if p.onB {
			bday := ""
			if t, err := time.Parse("2006-01-02", p.bday); err == nil {
				bday = t.Format("01/02/2006")
			}
			mt := older
			if p.newerB || !p.onA {
				mt = newer
			}
			c := card("demo-b-"+p.uid, p.name, p.family, p.emailB, p.phoneB, bday, p.noteB)
			if err := writeNew(filepath.Join(dirB, p.uid+".vcf"), c, mt); err != nil {
				return err
			}
		}
	}
	return nil
}

func card(uid, fn, family, email, tel, bday, note string) string {
	given := strings.TrimSpace(strings.TrimSuffix(fn, family))
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\r\n") }
	line("BEGIN:VCARD")
	line("VERSION:3.0")
	line("UID:" + uid)
	line("FN:" + fn)
	line("N:" + family + ";" + given + ";;;")
	if email != "" {
		line("EMAIL;TYPE=INTERNET:" + email)
	}
	if tel != "" {
		line("TEL;TYPE=CELL:" + tel)
	}
	if bday != "" {
		line("BDAY:" + bday)
	}
	if note != "" {
		line("NOTE:" + strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`).Replace(note))
	}
	line("END:VCARD")
	return b.String()
}

func writeNew(path, content string, mtime time.Time) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if os.IsExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write demo card: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("write demo card: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write demo card: %w", err)
	}
	return os.Chtimes(path, mtime, mtime)
}
