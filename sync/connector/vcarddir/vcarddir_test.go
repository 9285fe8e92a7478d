package vcarddir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-vcard"

	"tandem/sync/connector"
)

var ctx = context.Background()

const ada = "BEGIN:VCARD\r\n" +
	"VERSION:3.0\r\n" +
	"PRODID:-//Test//EN\r\n" +
	"UID:ada-1\r\n" +
	"FN:Ada Lovelace\r\n" +
	"N:Lovelace;Ada;King;Lady;\r\n" +
	"item1.EMAIL;type=INTERNET;TYPE=work:ada@work.example\r\n" +
	"EMAIL;TYPE=home,pref:ada@home.example\r\n" +
	"TEL;TYPE=CELL:+44 20 1234\r\n" +
	"ADR;TYPE=home:;;12 St James\\; Sq;London;;SW1;UK\r\n" +
	"NOTE:a long note that goes on and on so that the line has to be folded by \r\n" +
	" the writer, with a comma\\, too\r\n" +
	"X-ABLabel:custom\r\n" +
	"item1.X-ABLabel:_$!<Work>!$_\r\n" +
	"END:VCARD\r\n"

func newDir(t testing.TB, fields ...string) (*Dir, string) {
	t.Helper()
	p := t.TempDir()
	d, err := Open(connector.Config{Name: "test", Settings: map[string]string{"path": p}, Fields: fields})
	if err != nil {
		t.Fatal(err)
	}
	return d, p
}

func put(t testing.TB, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func getOne(t *testing.T, d *Dir, id string) connector.Record {
	t.Helper()
	recs, err := d.Get(ctx, []string{id})
	if err != nil || len(recs) != 1 {
		t.Fatalf("Get(%s) = %v, %v", id, recs, err)
	}
	return recs[0]
}

func apply1(t *testing.T, d *Dir, w connector.Write) connector.Result {
	t.Helper()
	res, err := d.Apply(ctx, []connector.Write{w})
	if err != nil || len(res) != 1 {
		t.Fatalf("Apply = %v, %v", res, err)
	}
	return res[0]
}

func decode(t *testing.T, data []byte) vcard.Card {
	t.Helper()
	c, err := vcard.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		t.Fatalf("go-vcard cannot read the result: %v\n%s", err, data)
	}
	return c
}

func TestRegisteredAndOpen(t *testing.T) {
	k, ok := connector.Lookup("vcarddir")
	if !ok || k.Label != "vCard folder" || len(k.Settings) != 1 || k.Settings[0].Key != "path" || !k.Settings[0].Required {
		t.Fatalf("kind = %+v, %v", k, ok)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := connector.Open("vcarddir", connector.Config{Name: "c", Settings: map[string]string{"path": missing}})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing folder: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("Open created the missing folder")
	}
	file := filepath.Join(t.TempDir(), "f.vcf")
	put(t, filepath.Dir(file), "f.vcf", ada)
	if _, err := Open(connector.Config{Name: "c", Settings: map[string]string{"path": file}}); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Fatalf("file as folder: %v", err)
	}
	if _, err := Open(connector.Config{Name: "c", Settings: map[string]string{"path": t.TempDir()}, Fields: []string{"N.bogus"}}); err == nil {
		t.Fatal("unknown field accepted")
	}
	c, err := connector.Open("vcarddir", connector.Config{Name: "c", Settings: map[string]string{"path": t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Capabilities(); got.Incremental || !got.Conditional || got.MaxBatch != applyRound {
		t.Fatalf("capabilities %+v", got)
	}
	if err := c.Test(ctx); err != nil {
		t.Fatalf("Test: %v", err)
	}
}

func TestChangesListsCardsOnly(t *testing.T) {
	d, p := newDir(t)
	put(t, p, "a.vcf", ada)
	put(t, p, "b.VCF", ada+"\r\n")
	put(t, p, "notes.txt", "x")
	put(t, p, ".tandem-123.tmp", "x")
	put(t, p, ".hidden.vcf", ada)
	os.Mkdir(filepath.Join(p, "sub.vcf"), 0o755)
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	os.Chtimes(filepath.Join(p, "a.vcf"), when, when)

	ch, err := d.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Full || ch.Cursor != "" || len(ch.Items) != 2 {
		t.Fatalf("changes = %+v", ch)
	}
	got := map[string]string{}
	for _, it := range ch.Items {
		if it.Record != nil || it.Deleted {
			t.Fatalf("item %+v", it)
		}
		got[it.ID] = it.Version
	}
	if want := fmt.Sprintf("%d-%d", len(ada), when.UnixNano()); got["a.vcf"] != want {
		t.Fatalf("version of a.vcf = %q, want %q", got["a.vcf"], want)
	}
	if _, ok := got["b.VCF"]; !ok {
		t.Fatalf("b.VCF missing: %v", got)
	}
	rec := getOne(t, d, "a.vcf")
	if rec.Version != got["a.vcf"] || !rec.Modified.Equal(when) {
		t.Fatalf("Get version/time %q %v", rec.Version, rec.Modified)
	}
}

func TestGetFields(t *testing.T) {
	d, p := newDir(t, "UID", "FN", "N", "N.family", "N.given", "N.middle", "N.prefix", "N.suffix", "EMAIL", "TEL",
		"ADR.street", "ADR.locality", "ADR.region", "ADR.postal_code", "ADR.country", "NOTE", "BDAY", "ORG")
	put(t, p, "ada.vcf", ada)
	rec := getOne(t, d, "ada.vcf")
	want := map[string]string{
		"UID": "ada-1", "FN": "Ada Lovelace", "N": "Lovelace;Ada;King;Lady;", "N.family": "Lovelace", "N.given": "Ada",
		"N.middle": "King", "N.prefix": "Lady", "EMAIL": "ada@home.example", "TEL": "+44 20 1234",
		"ADR.street": "12 St James; Sq", "ADR.locality": "London", "ADR.postal_code": "SW1", "ADR.country": "UK",
		"NOTE": "a long note that goes on and on so that the line has to be folded by the writer, with a comma, too",
	}
	if rec.Err != nil || len(rec.Fields) != len(want) {
		t.Fatalf("fields = %v (err %v), want %v", rec.Fields, rec.Err, want)
	}
	for k, v := range want {
		if rec.Fields[k] != v {
			t.Errorf("%s = %q, want %q", k, rec.Fields[k], v)
		}
	}
	// missing and bad ids are left out, order is kept
	put(t, p, "z.vcf", strings.Replace(ada, "ada-1", "z-1", 1))
	recs, err := d.Get(ctx, []string{"z.vcf", "gone.vcf", "../ada.vcf", "ada.vcf"})
	if err != nil || len(recs) != 2 || recs[0].ID != "z.vcf" || recs[1].ID != "ada.vcf" || recs[0].Fields["UID"] != "z-1" {
		t.Fatalf("Get = %+v, %v", recs, err)
	}
}

func TestMalformedFiles(t *testing.T) {
	d, p := newDir(t, "FN", "EMAIL")
	bad := map[string]string{
		"empty.vcf":   "",
		"nobegin.vcf": "FN:x\r\nEND:VCARD\r\n",
		"noend.vcf":   "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:cut off\r\n",
		"ical.vcf":    "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
		"two.vcf":     ada + ada,
		"binary.vcf":  "BEGIN:VCARD\r\nFN:\xff\xfe\r\nEND:VCARD\r\n",
	}
	for name, content := range bad {
		put(t, p, name, content)
	}
	put(t, p, "good.vcf", ada)
	ids := []string{"good.vcf"}
	for name := range bad {
		ids = append(ids, name)
	}
	recs, err := d.Get(ctx, ids)
	if err != nil || len(recs) != len(ids) {
		t.Fatalf("Get = %d records, %v", len(recs), err)
	}
	for _, r := range recs {
		if r.ID == "good.vcf" {
			if r.Err != nil || r.Fields["FN"] != "Ada Lovelace" {
				t.Fatalf("good card: %+v", r)
			}
			continue
		}
		if !errors.Is(r.Err, connector.ErrInvalidRecord) || !strings.Contains(r.Err.Error(), r.ID) || r.Fields != nil || r.Version == "" {
			t.Errorf("%s: record %+v", r.ID, r)
		}
	}
	// never rewritten nor deleted
	for name, content := range bad {
		res, err := d.Apply(ctx, []connector.Write{
			{Op: connector.OpUpdate, ID: name, Fields: map[string]string{"FN": "fixed"}},
			{Op: connector.OpDelete, ID: name},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if !errors.Is(r.Err, connector.ErrInvalidRecord) {
				t.Errorf("%s: write gave %v", name, r.Err)
			}
		}
		got, err := os.ReadFile(filepath.Join(p, name))
		if err != nil || string(got) != content {
			t.Errorf("%s changed: %q, %v", name, got, err)
		}
	}
}

func TestUpdateKeepsEverythingElse(t *testing.T) {
	d, p := newDir(t, "EMAIL", "N.given", "ADR.locality", "NOTE", "TEL", "BDAY")
	put(t, p, "ada.vcf", ada)
	rec := getOne(t, d, "ada.vcf")
	res := apply1(t, d, connector.Write{Op: connector.OpUpdate, ID: "ada.vcf", Version: rec.Version, Fields: map[string]string{
		"EMAIL": "augusta@home.example", "N.given": "Augusta", "ADR.locality": "Paris, France", "TEL": "", "BDAY": "1815-12-10",
	}})
	if res.Err != nil || res.Record.ID != "ada.vcf" || res.Record.Version == rec.Version {
		t.Fatalf("update: %+v", res)
	}
	data, _ := os.ReadFile(filepath.Join(p, "ada.vcf"))
	want := "BEGIN:VCARD\r\n" +
		"VERSION:3.0\r\n" +
		"PRODID:-//Test//EN\r\n" +
		"UID:ada-1\r\n" +
		"FN:Ada Lovelace\r\n" +
		"N:Lovelace;Augusta;King;Lady;\r\n" +
		"item1.EMAIL;type=INTERNET;TYPE=work:ada@work.example\r\n" +
		"EMAIL;TYPE=home,pref:augusta@home.example\r\n" +
		"ADR;TYPE=home:;;12 St James\\; Sq;Paris\\, France;;SW1;UK\r\n" +
		"NOTE:a long note that goes on and on so that the line has to be folded by \r\n" +
		" the writer, with a comma\\, too\r\n" +
		"X-ABLabel:custom\r\n" +
		"item1.X-ABLabel:_$!<Work>!$_\r\n" +
		"BDAY:1815-12-10\r\n" +
		"END:VCARD\r\n"
	if string(data) != want {
		t.Fatalf("file after update:\n%s\nwant:\n%s", data, want)
	}
	// other readers agree
	c := decode(t, data)
	if c.PreferredValue("EMAIL") != "augusta@home.example" || c.Get("EMAIL").Group != "item1" || c.Value("BDAY") != "1815-12-10" || c["TEL"] != nil {
		t.Fatalf("go-vcard reads %v", c)
	}
	got := getOne(t, d, "ada.vcf")
	if got.Version != res.Record.Version || got.Fields["ADR.locality"] != "Paris, France" || got.Fields["TEL"] != "" || got.Fields["N.given"] != "Augusta" {
		t.Fatalf("read back %+v", got)
	}
	// writing the same values again does not touch the file
	res2 := apply1(t, d, connector.Write{Op: connector.OpUpdate, ID: "ada.vcf", Version: got.Version, Fields: map[string]string{"EMAIL": "augusta@home.example"}})
	if res2.Err != nil || res2.Record.Version != got.Version {
		t.Fatalf("no-op update: %+v", res2)
	}
	assertNoTemp(t, p)
}

func TestUpdateLongValueIsFoldedAndLF(t *testing.T) {
	d, p := newDir(t, "NOTE", "FN")
	lf := strings.ReplaceAll(ada, "\r\n", "\n")
	put(t, p, "lf.vcf", lf)
	note := strings.Repeat("é long ünïcode text, ", 12) + "\nsecond line"
	res := apply1(t, d, connector.Write{Op: connector.OpUpdate, ID: "lf.vcf", Fields: map[string]string{"NOTE": note, "FN": "Ada"}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	data, _ := os.ReadFile(filepath.Join(p, "lf.vcf"))
	if bytes.Contains(data, []byte("\r")) {
		t.Fatal("line endings changed from LF to CRLF")
	}
	for _, l := range strings.Split(string(data), "\n") {
		if len(l) > 75 {
			t.Fatalf("line of %d octets: %q", len(l), l)
		}
	}
	if rec := getOne(t, d, "lf.vcf"); rec.Fields["NOTE"] != note || rec.Fields["FN"] != "Ada" {
		t.Fatalf("read back %q", rec.Fields["NOTE"])
	}
	if !strings.Contains(string(data), "PRODID:-//Test//EN\nUID:ada-1\n") {
		t.Fatalf("untouched lines changed:\n%s", data)
	}
}

func TestVersionMismatchAndNotFound(t *testing.T) {
	d, p := newDir(t, "FN")
	put(t, p, "ada.vcf", ada)
	rec := getOne(t, d, "ada.vcf")
	stale := rec.Version
	// someone else edits the file
	later := time.Now().Add(time.Second)
	put(t, p, "ada.vcf", strings.Replace(ada, "Ada Lovelace", "Countess", 1))
	os.Chtimes(filepath.Join(p, "ada.vcf"), later, later)

	res := apply1(t, d, connector.Write{Op: connector.OpUpdate, ID: "ada.vcf", Version: stale, Fields: map[string]string{"FN": "Mine"}})
	if !errors.Is(res.Err, connector.ErrVersionMismatch) {
		t.Fatalf("stale update: %v", res.Err)
	}
	res = apply1(t, d, connector.Write{Op: connector.OpDelete, ID: "ada.vcf", Version: stale})
	if !errors.Is(res.Err, connector.ErrVersionMismatch) {
		t.Fatalf("stale delete: %v", res.Err)
	}
	if got := getOne(t, d, "ada.vcf"); got.Fields["FN"] != "Countess" {
		t.Fatalf("file was overwritten: %v", got.Fields)
	}
	for _, op := range []connector.Op{connector.OpUpdate, connector.OpDelete} {
		res = apply1(t, d, connector.Write{Op: op, ID: "gone.vcf", Fields: map[string]string{"FN": "x"}})
		if !errors.Is(res.Err, connector.ErrNotFound) {
			t.Fatalf("%v of a missing file: %v", op, res.Err)
		}
	}
	cur := getOne(t, d, "ada.vcf")
	res = apply1(t, d, connector.Write{Op: connector.OpDelete, ID: "ada.vcf", Version: cur.Version})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, err := os.Stat(filepath.Join(p, "ada.vcf")); !os.IsNotExist(err) {
		t.Fatal("not deleted")
	}
}

func TestCreate(t *testing.T) {
	d, p := newDir(t, "UID", "EMAIL", "N.given", "N.family", "TEL")
	put(t, p, "dup.vcf", ada)
	res, err := d.Apply(ctx, []connector.Write{
		{Op: connector.OpCreate, Fields: map[string]string{"UID": "dup", "EMAIL": "one@example.com"}},
		{Op: connector.OpCreate, Fields: map[string]string{"UID": "dup", "EMAIL": "two@example.com"}},
		{Op: connector.OpCreate, Fields: map[string]string{"UID": "../../etc/x y", "N.given": "Grace", "N.family": "Hopper"}},
		{Op: connector.OpCreate, Fields: map[string]string{"EMAIL": "anon@example.com", "TEL": "+15551234567"}},
		{Op: connector.OpCreate, Fields: map[string]string{"N.bogus": "x"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i, r := range res[:4] {
		if r.Err != nil || r.Record.ID == "" || r.Record.Version == "" {
			t.Fatalf("create %d: %+v", i, r)
		}
		ids[r.Record.ID] = true
	}
	if res[4].Err == nil {
		t.Fatal("create with an unknown field succeeded")
	}
	if len(ids) != 4 || !ids["dup-2.vcf"] || !ids["dup-3.vcf"] || !ids[".._.._etc_x_y.vcf"] && !ids["_.._etc_x_y.vcf"] {
		t.Fatalf("ids %v", ids)
	}
	if orig, _ := os.ReadFile(filepath.Join(p, "dup.vcf")); string(orig) != ada {
		t.Fatal("existing card overwritten")
	}
	// listing agrees with results
	ch, _ := d.Changes(ctx, "")
	vers := map[string]string{}
	for _, it := range ch.Items {
		vers[it.ID] = it.Version
	}
	for _, r := range res[:4] {
		if vers[r.Record.ID] != r.Record.Version {
			t.Fatalf("%s: listing version %q, result %q", r.Record.ID, vers[r.Record.ID], r.Record.Version)
		}
	}
	// the grace card: FN derived, N set, valid for go-vcard
	data, _ := os.ReadFile(filepath.Join(p, res[2].Record.ID))
	c := decode(t, data)
	if c.Value("VERSION") != "3.0" || c.Value("FN") != "Grace Hopper" || c.Name().GivenName != "Grace" || c.Value("UID") != "../../etc/x y" {
		t.Fatalf("created card:\n%s", data)
	}
	// no UID given: a uuid, file named after it, FN from the email
	data, _ = os.ReadFile(filepath.Join(p, res[3].Record.ID))
	c = decode(t, data)
	if uid := c.Value("UID"); len(uid) != 36 || res[3].Record.ID != uid+".vcf" || c.Value("FN") != "anon@example.com" || c.Get("N") == nil {
		t.Fatalf("created card %s:\n%s", res[3].Record.ID, data)
	}
	assertNoTemp(t, p)
}

func TestFindByField(t *testing.T) {
	d, p := newDir(t, "FN")
	put(t, p, "ada.vcf", ada)
	put(t, p, "bob.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob\r\nEMAIL:bob@example.com\r\nEND:VCARD\r\n")
	put(t, p, "bad.vcf", "BEGIN:VCARD\r\nEMAIL:bob@example.com\r\n")
	recs, err := d.FindByField(ctx, "EMAIL", " BOB@example.com")
	if err != nil || len(recs) != 1 || recs[0].ID != "bob.vcf" || recs[0].Fields["FN"] != "Bob" {
		t.Fatalf("FindByField = %+v, %v", recs, err)
	}
	recs, err = d.FindByField(ctx, "UID", "nobody")
	if err != nil || len(recs) != 0 {
		t.Fatalf("FindByField(nobody) = %+v, %v", recs, err)
	}
}

func TestAtomicWriteLeavesNoTemp(t *testing.T) {
	d, p := newDir(t, "FN")
	put(t, p, "ada.vcf", ada)
	for i := 0; i < 20; i++ {
		if r := apply1(t, d, connector.Write{Op: connector.OpUpdate, ID: "ada.vcf", Fields: map[string]string{"FN": fmt.Sprint("n", i)}}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	// a write cancelled just before the rename leaves the old file and no temp
	_, err := writeAtomic(p, "ada.vcf", []byte("junk"), 0o644, func() error { return connector.ErrVersionMismatch })
	if !errors.Is(err, connector.ErrVersionMismatch) {
		t.Fatal(err)
	}
	if getOne(t, d, "ada.vcf").Fields["FN"] != "n19" {
		t.Fatal("cancelled write reached the file")
	}
	assertNoTemp(t, p)
	if fi, _ := os.Stat(filepath.Join(p, "ada.vcf")); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode changed to %v", fi.Mode())
	}
}

func assertNoTemp(t *testing.T, p string) {
	t.Helper()
	entries, _ := os.ReadDir(p)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") || strings.HasSuffix(e.Name(), tempSuffix) {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
}

// Text that needs vCard escapes comes back exactly as written, and an update
// of one field changes that field's line only.
func TestEscapedValuesRoundTripAndOneLineChanges(t *testing.T) {
	d, p := newDir(t, "NOTE", "FN", "N.given")
	put(t, p, "ada.vcf", ada)
	values := map[string]string{"NOTE": "a, b; c\nd", "FN": `C:\Users\ada \n not a newline \`, "N.given": "x;y,z\\"}
	res := apply1(t, d, connector.Write{Op: connector.OpUpdate, ID: "ada.vcf", Fields: values})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := getOne(t, d, "ada.vcf")
	for k, v := range values {
		if got.Fields[k] != v {
			t.Errorf("%s = %q, want %q", k, got.Fields[k], v)
		}
	}
	created := apply1(t, d, connector.Write{Op: connector.OpCreate, Fields: values})
	if created.Err != nil {
		t.Fatal(created.Err)
	}
	if back := getOne(t, d, created.Record.ID); back.Fields["NOTE"] != values["NOTE"] || back.Fields["FN"] != values["FN"] || back.Fields["N.given"] != values["N.given"] {
		t.Errorf("created card reads back %q", back.Fields)
	}

	before, _ := os.ReadFile(filepath.Join(p, "ada.vcf"))
	res = apply1(t, d, connector.Write{Op: connector.OpUpdate, ID: "ada.vcf", Version: got.Version, Fields: map[string]string{"FN": "Ada, again", "NOTE": values["NOTE"]}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	after, _ := os.ReadFile(filepath.Join(p, "ada.vcf"))
	bl, al := strings.SplitAfter(string(before), "\r\n"), strings.SplitAfter(string(after), "\r\n")
	if len(bl) != len(al) {
		t.Fatalf("line count %d -> %d:\n%s", len(bl), len(al), after)
	}
	for i := range bl {
		if bl[i] != al[i] && !(strings.HasPrefix(bl[i], "FN:") && al[i] == "FN:Ada\\, again\r\n") {
			t.Errorf("line %d changed: %q -> %q", i, bl[i], al[i])
		}
	}
	if bytes.Equal(before, after) {
		t.Error("file not updated")
	}
}

// roundLen splits an Apply call into at least four rounds once there are
// enough writes, never more than applyRound nor fewer than minRound each.
func TestRoundLen(t *testing.T) {
	for _, c := range []struct{ n, want int }{
		{1, minRound}, {100, minRound}, {400, 100}, {1000, 250}, {100000, applyRound},
	} {
		if got := roundLen(c.n); got != min(c.want, applyRound) {
			t.Errorf("roundLen(%d) = %d, want %d", c.n, got, min(c.want, applyRound))
		}
	}
}

// One Apply call of several rounds (each staged while the previous one is
// linked): every result is in the caller's order and matches the folder.
func TestApplyInOverlappingRounds(t *testing.T) {
	d, p := newDir(t, "FN", "UID")
	const old = 200
	for i := range old {
		put(t, p, fmt.Sprintf("c%03d.vcf", i), fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c%03d\r\nFN:Card %d\r\nEND:VCARD\r\n", i, i))
	}
	var writes []connector.Write
	for i := range old {
		id := fmt.Sprintf("c%03d.vcf", i)
		switch i % 4 {
		case 0:
			writes = append(writes, connector.Write{Op: connector.OpDelete, ID: id})
		case 1, 2:
			writes = append(writes, connector.Write{Op: connector.OpUpdate, ID: id, Fields: map[string]string{"FN": fmt.Sprintf("Renamed %d", i)}})
		}
		writes = append(writes, connector.Write{Op: connector.OpCreate, Fields: map[string]string{"FN": fmt.Sprintf("New %d", i), "UID": fmt.Sprintf("new-%03d", i)}})
	}
	if roundLen(len(writes)) >= len(writes) {
		t.Fatalf("%d writes make one round: the test needs several", len(writes))
	}
	res, err := d.Apply(ctx, writes)
	if err != nil || len(res) != len(writes) {
		t.Fatalf("Apply = %d results, %v", len(res), err)
	}
	for i, w := range writes {
		r := res[i]
		if r.Err != nil {
			t.Fatalf("write %d (%v %s): %v", i, w.Op, w.ID, r.Err)
		}
		switch w.Op {
		case connector.OpDelete:
			if _, err := os.Stat(filepath.Join(p, w.ID)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still there after its delete", w.ID)
			}
		default:
			got := getOne(t, d, r.Record.ID)
			if got.Version != r.Record.Version {
				t.Errorf("write %d: result version %s, the file's %s", i, r.Record.Version, got.Version)
			}
			if got.Fields["FN"] != w.Fields["FN"] {
				t.Errorf("write %d: %s has FN %q, want %q", i, r.Record.ID, got.Fields["FN"], w.Fields["FN"])
			}
			if w.Op == connector.OpCreate && got.Fields["UID"] != w.Fields["UID"] {
				t.Errorf("write %d: %s has UID %q, want %q", i, r.Record.ID, got.Fields["UID"], w.Fields["UID"])
			}
		}
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := old - old/4 + old; len(ents) != want {
		t.Errorf("%d files in the folder, want %d (no temporary file left)", len(ents), want)
	}
}

// A cancelled Apply links nothing of the round it was staging and leaves
// no temporary file; what it linked before is whole.
func TestApplyCancelledBetweenRounds(t *testing.T) {
	d, p := newDir(t, "FN", "UID")
	var writes []connector.Write
	for i := range 400 {
		writes = append(writes, connector.Write{Op: connector.OpCreate, Fields: map[string]string{"FN": fmt.Sprintf("New %d", i), "UID": fmt.Sprintf("new-%03d", i)}})
	}
	// done once the second round is half staged (a check per write)
	cctx := &cancelAfter{Context: ctx, left: roundLen(len(writes)) * 3 / 2}
	if _, err := d.Apply(cctx, writes); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply cancelled midway: %v, want context.Canceled", err)
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != roundLen(len(writes)) {
		t.Errorf("%d files after the cancel, want the first round's %d", len(ents), roundLen(len(writes)))
	}
	for _, e := range ents {
		if !isCard(e.Name()) {
			t.Errorf("%s left in the folder", e.Name())
			continue
		}
		recs, err := d.Get(ctx, []string{e.Name()})
		if err != nil || len(recs) != 1 || recs[0].Err != nil {
			t.Errorf("%s does not read back whole: %v %v", e.Name(), recs, err)
		}
	}
}

// cancelAfter is a context that is done after left calls of Err.
type cancelAfter struct {
	context.Context
	mu   sync.Mutex
	left int
}

func (c *cancelAfter) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left--; c.left < 0 {
		return context.Canceled
	}
	return nil
}
