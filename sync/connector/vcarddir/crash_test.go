package vcarddir

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/sync/connector"
)

// A temporary file of ours older than staleAge is removed by the next
// listing; a fresh one (a write in progress) is kept; none is listed.
func TestStaleTempFilesAreCleaned(t *testing.T) {
	d, p := newDir(t, "FN")
	put(t, p, "ada.vcf", ada)
	old := time.Now().Add(-2 * staleAge)
	for _, n := range []string{".ada.vcf" + tempSuffix, ".tandem-x1y2" + tempSuffix, ".tandem-123.tmp", ".fresh.vcf" + tempSuffix, ".other-tool.tmp"} {
		put(t, p, n, "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:half")
		if n != ".fresh.vcf"+tempSuffix {
			if err := os.Chtimes(filepath.Join(p, n), old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	ch, err := d.Changes(ctx, "")
	if err != nil || len(ch.Items) != 1 || ch.Items[0].ID != "ada.vcf" {
		t.Fatalf("Changes = %+v, %v", ch.Items, err)
	}
	var left []string
	entries, _ := os.ReadDir(p)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	// ours and stale: gone; fresh, or not ours: kept
	if want := []string{".fresh.vcf" + tempSuffix, ".other-tool.tmp", "ada.vcf"}; strings.Join(left, " ") != strings.Join(want, " ") {
		t.Fatalf("folder holds %v, want %v", left, want)
	}
}

// The helper process of TestKilledWritesLeaveNoPartialCard: creates and
// updates cards in the folder in $TANDEM_VCARDDIR_CHILD until killed.
func TestKilledWritesChild(t *testing.T) {
	p := os.Getenv("TANDEM_VCARDDIR_CHILD")
	if p == "" {
		t.Skip("helper process")
	}
	d, err := Open(connector.Config{Name: "child", Settings: map[string]string{"path": p}})
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; ; round++ {
		writes := make([]connector.Write, 0, 200)
		for i := range 150 {
			uid := fmt.Sprintf("%d-%d-%d", os.Getpid(), round, i)
			writes = append(writes, connector.Write{Op: connector.OpCreate, Fields: crashFields(uid, "c")})
		}
		ch, _ := d.Changes(ctx, "")
		for i := 0; i < 50 && i < len(ch.Items); i++ {
			id := ch.Items[(round*50+i)%len(ch.Items)].ID
			uid := strings.TrimSuffix(id, ".vcf")
			writes = append(writes, connector.Write{Op: connector.OpUpdate, ID: id, Fields: crashFields(uid, fmt.Sprint("u", round))})
		}
		if _, err := d.Apply(ctx, writes); err != nil {
			t.Fatal(err)
		}
	}
}

// crashFields makes a card big enough (several KB) that a write is not one
// instant; FN and NOTE both name the uid and the generation, so a card
// mixed from two writes, or cut short, is seen.
func crashFields(uid, gen string) map[string]string {
	return map[string]string{"UID": uid, "FN": gen + " " + uid, "NOTE": strings.Repeat(gen+" "+uid+" ", 300)}
}

// Killing a process in the middle of writes never leaves a partial card
// under a card name: every card reads back whole. (A kill loses no page
// cache, so this checks what readers and a restarted run see; the syncfs or
// fsync before each rename is what covers a power loss.)
func TestKilledWritesLeaveNoPartialCard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	d, p := newDir(t, "UID", "FN", "NOTE")
	for k, delay := range []time.Duration{150 * time.Millisecond, 320 * time.Millisecond, 470 * time.Millisecond} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWritesChild$")
		cmd.Env = append(os.Environ(), "TANDEM_VCARDDIR_CHILD="+p)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if cmd.ProcessState.Success() {
			t.Fatalf("kill %d: the helper ended by itself", k)
		}
	}
	ch, err := d.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Items) == 0 {
		t.Fatal("the helper wrote no card before it was killed")
	}
	ids := make([]string, len(ch.Items))
	for i, it := range ch.Items {
		ids[i] = it.ID
	}
	recs, err := d.Get(ctx, ids)
	if err != nil || len(recs) != len(ids) {
		t.Fatalf("Get: %d of %d, %v", len(recs), len(ids), err)
	}
	for _, r := range recs {
		if r.Err != nil {
			t.Fatalf("%s is not whole: %v", r.ID, r.Err)
		}
		uid := r.Fields["UID"]
		gen, _, _ := strings.Cut(r.Fields["FN"], " ")
		if r.ID != uid+".vcf" || r.Fields["FN"] != gen+" "+uid || r.Fields["NOTE"] != crashFields(uid, gen)["NOTE"] {
			t.Fatalf("%s is not whole: %q %q (%d bytes of note)", r.ID, uid, r.Fields["FN"], len(r.Fields["NOTE"]))
		}
	}
	// temporary files left by the kills are hidden, and cleaned once stale
	entries, _ := os.ReadDir(p)
	old := time.Now().Add(-2 * staleAge)
	temps := 0
	for _, e := range entries {
		if n := e.Name(); !isCard(n) {
			if !isTemp(n) {
				t.Fatalf("unexpected file %s", n)
			}
			temps++
			os.Chtimes(filepath.Join(p, n), old, old)
		}
	}
	if ch2, err := d.Changes(ctx, ""); err != nil || len(ch2.Items) != len(ch.Items) {
		t.Fatalf("Changes = %d items, %v", len(ch2.Items), err)
	}
	entries, _ = os.ReadDir(p)
	if len(entries) != len(ch.Items) {
		t.Fatalf("%d files after cleaning, want the %d cards (%d temporary files were left)", len(entries), len(ch.Items), temps)
	}
	t.Logf("%d cards, %d temporary files left by 3 kills", len(ch.Items), temps)
}

// The paths other systems take: no unnamed files (a create goes through a
// hidden temporary name) and a fsync per file instead of one per round.
func TestWritesWithoutUnnamedFilesOrBatchSync(t *testing.T) {
	for _, mode := range []struct{ unnamed, batch bool }{{true, true}, {false, true}, {true, false}, {false, false}} {
		d, p := newDir(t, "UID", "FN")
		d.noUnnamed.Store(!mode.unnamed)
		d.batchSync = mode.batch
		res, err := d.Apply(ctx, []connector.Write{
			{Op: connector.OpCreate, Fields: map[string]string{"UID": "u1", "FN": "One"}},
			{Op: connector.OpCreate, Fields: map[string]string{"UID": "u2", "FN": "Two"}},
		})
		if err != nil || res[0].Err != nil || res[1].Err != nil || res[0].Record.ID != "u1.vcf" {
			t.Fatalf("%+v: create = %+v, %v", mode, res, err)
		}
		r := apply1(t, d, connector.Write{Op: connector.OpUpdate, ID: "u2.vcf", Version: res[1].Record.Version, Fields: map[string]string{"FN": "Zwei"}})
		if r.Err != nil || getOne(t, d, "u2.vcf").Fields["FN"] != "Zwei" || getOne(t, d, "u2.vcf").Version != r.Record.Version {
			t.Fatalf("%+v: update = %+v", mode, r)
		}
		if fi, _ := os.Stat(filepath.Join(p, "u1.vcf")); fi.Mode().Perm() != 0o644 {
			t.Fatalf("%+v: mode %v", mode, fi.Mode())
		}
		assertNoTemp(t, p)
	}
}

// A file that appears under the reserved name before the new card is put in
// place is kept; the new card takes the next name.
func TestCreateNeverReplacesAFileThatAppeared(t *testing.T) {
	for _, unnamed := range []bool{true, false} {
		d, p := newDir(t, "UID", "FN")
		d.noUnnamed.Store(!unnamed)
		s, err := d.stageCreate(map[string]string{"UID": "bob", "FN": "Bob"})
		if err != nil || s.name != "bob.vcf" {
			t.Fatalf("stage: %v, %v", s, err)
		}
		put(t, p, "bob.vcf", ada) // another program, meanwhile
		rec, err := d.commit(nil, s, nil)
		if err != nil || rec.ID != "bob-2.vcf" {
			t.Fatalf("unnamed %v: commit = %+v, %v", unnamed, rec, err)
		}
		if getOne(t, d, "bob.vcf").Fields["FN"] != "Ada Lovelace" || getOne(t, d, "bob-2.vcf").Fields["FN"] != "Bob" {
			t.Fatalf("unnamed %v: a card was replaced", unnamed)
		}
		assertNoTemp(t, p)
	}
}
