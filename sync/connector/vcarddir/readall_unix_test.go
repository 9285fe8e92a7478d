//go:build unix

package vcarddir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/sync/connector"
)

// ReadAll lists and reads in one pass what Changes lists and Get reads:
// the same cards with the same versions and records, a card that does not
// parse with its error, and nothing for what Changes leaves out (other
// files, hidden cards, a folder or a FIFO with a card's name, a link to
// nothing); a link to a card is followed, as Changes does. A stale
// temporary file of ours goes, as with Changes.
func TestReadAllMatchesChangesAndGet(t *testing.T) {
	d, p := newDir(t, "UID", "FN", "EMAIL")
	put(t, p, "a.vcf", ada)
	put(t, p, "b.VCF", strings.Replace(ada, "ada-1", "ada-2", 1))
	put(t, p, "bad.vcf", "BEGIN:VCARD\r\nthis is not a property\r\n")
	put(t, p, "notes.txt", "x")
	put(t, p, ".hidden.vcf", ada)
	os.Mkdir(filepath.Join(p, "sub.vcf"), 0o755)
	os.Symlink("a.vcf", filepath.Join(p, "link.vcf"))
	os.Symlink("nowhere.vcf", filepath.Join(p, "dangling.vcf"))
	if err := syscall.Mkfifo(filepath.Join(p, "fifo.vcf"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(p, ".tandem-old.tmp")
	put(t, p, ".tandem-old.tmp", "x")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)

	ch, err := d.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	want := map[string]string{}
	for _, it := range ch.Items {
		ids = append(ids, it.ID)
		want[it.ID] = it.Version
	}
	recs, err := d.Get(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	put(t, p, ".tandem-old.tmp", "x") // Changes removed it: again, for ReadAll
	os.Chtimes(stale, old, old)

	all, err := d.ReadAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !all.Full || all.Cursor != "" || len(all.Items) != len(ch.Items) || len(all.Items) != 4 {
		t.Fatalf("ReadAll items %+v, Changes items %+v", all.Items, ch.Items)
	}
	byID := map[string]connector.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	for _, it := range all.Items {
		g, ok := byID[it.ID]
		if !ok || it.Record == nil || it.Version != want[it.ID] || it.Record.Version != it.Version || it.Deleted {
			t.Fatalf("item %+v: Changes version %q, Get record %+v", it, want[it.ID], g)
		}
		r := *it.Record
		if (r.Err == nil) != (g.Err == nil) || !reflect.DeepEqual(r.Fields, g.Fields) || !r.Modified.Equal(g.Modified) {
			t.Fatalf("%s: ReadAll %+v, Get %+v", it.ID, r, g)
		}
	}
	if byID["bad.vcf"].Err == nil || byID["link.vcf"].Fields["UID"] != "ada-1" {
		t.Fatalf("bad.vcf %+v, link.vcf %+v", byID["bad.vcf"], byID["link.vcf"])
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file left: %v", err)
	}
}
