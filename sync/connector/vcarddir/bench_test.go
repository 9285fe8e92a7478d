package vcarddir

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tandem/sync/connector"
)

// genCards writes n cards like /work/shared/bench/gen-vcards.py (vCard 3.0, CRLF).
func genCards(tb testing.TB, dir string, n int) {
	tb.Helper()
	rnd := rand.New(rand.NewSource(1))
	for i := 0; i < n; i++ {
		uid := fmt.Sprintf("contact-%07d", i)
		lines := []string{"BEGIN:VCARD", "VERSION:3.0", "UID:" + uid,
			fmt.Sprintf("FN:Person %d", i), fmt.Sprintf("N:%d;Person;;;", i),
			fmt.Sprintf("EMAIL;TYPE=INTERNET:person%d@example.com", i),
			fmt.Sprintf("TEL;TYPE=CELL:+1555%d", 1000000+rnd.Intn(9000000)),
			fmt.Sprintf("BDAY:19%d-0%d-1%d", 50+rnd.Intn(50), 1+rnd.Intn(9), rnd.Intn(10)),
			fmt.Sprintf("NOTE:only in this book %d", i), "END:VCARD"}
		if err := os.WriteFile(filepath.Join(dir, uid+".vcf"), []byte(strings.Join(lines, "\r\n")+"\r\n"), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

var benchFields = []string{"UID", "FN", "N", "EMAIL", "TEL", "BDAY", "NOTE"}

// BenchmarkChangesGet10k: a full listing plus reading every card of a
// folder of 10,000 (what a first sync reads on one side).
func BenchmarkChangesGet10k(b *testing.B) {
	d, p := newDir(b, benchFields...)
	genCards(b, p, 10000)
	b.ResetTimer()
	for b.Loop() {
		ch, err := d.Changes(ctx, "")
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, len(ch.Items))
		for i, it := range ch.Items {
			ids[i] = it.ID
		}
		recs, err := d.Get(ctx, ids)
		if err != nil || len(recs) != 10000 || recs[9999].Fields["EMAIL"] == "" {
			b.Fatalf("%d records, %v", len(recs), err)
		}
	}
}

// BenchmarkReadAll10k: the same as BenchmarkChangesGet10k in one pass (a
// first sync's side with nothing stored).
func BenchmarkReadAll10k(b *testing.B) {
	d, p := newDir(b, benchFields...)
	genCards(b, p, 10000)
	b.ResetTimer()
	for b.Loop() {
		ch, err := d.ReadAll(ctx)
		if err != nil || len(ch.Items) != 10000 || ch.Items[9999].Record.Fields["EMAIL"] == "" {
			b.Fatalf("%d items, %v", len(ch.Items), err)
		}
	}
}

// BenchmarkChanges10k: the listing alone (a sync where nothing changed).
func BenchmarkChanges10k(b *testing.B) {
	d, p := newDir(b, benchFields...)
	genCards(b, p, 10000)
	b.ResetTimer()
	for b.Loop() {
		ch, err := d.Changes(ctx, "")
		if err != nil || len(ch.Items) != 10000 {
			b.Fatalf("%d items, %v", len(ch.Items), err)
		}
	}
}

// BenchmarkCreate1k: creating 1,000 cards in one Apply.
func BenchmarkCreate1k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		d, _ := newDir(b, benchFields...)
		writes := make([]connector.Write, 1000)
		for i := range writes {
			writes[i] = connector.Write{Op: connector.OpCreate, Fields: map[string]string{
				"UID": fmt.Sprintf("c-%d", i), "FN": fmt.Sprintf("Person %d", i), "EMAIL": fmt.Sprintf("p%d@example.com", i)}}
		}
		b.StartTimer()
		res, err := d.Apply(ctx, writes)
		if err != nil || res[999].Err != nil {
			b.Fatal(err, res[999].Err)
		}
	}
}

// BenchmarkUpdate100of10k: the 1% changed case, 100 updates.
func BenchmarkUpdate100of10k(b *testing.B) {
	d, p := newDir(b, benchFields...)
	genCards(b, p, 10000)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		writes := make([]connector.Write, 100)
		for i := range writes {
			writes[i] = connector.Write{Op: connector.OpUpdate, ID: fmt.Sprintf("contact-%07d.vcf", i*100),
				Fields: map[string]string{"FN": fmt.Sprintf("Changed %d %d", i, n)}}
		}
		n++
		res, err := d.Apply(ctx, writes)
		if err != nil || res[99].Err != nil {
			b.Fatal(err, res[99].Err)
		}
	}
}

// BenchmarkCreate10k: a first sync into an empty folder, 10,000 creates in
// Apply calls of MaxBatch (applyRound), as the engine sends them.
func BenchmarkCreate10k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		d, p := newDir(b, benchFields...)
		writes := make([]connector.Write, 10000)
		for i := range writes {
			writes[i] = connector.Write{Op: connector.OpCreate, Fields: map[string]string{
				"UID": fmt.Sprintf("contact-%07d", i), "FN": fmt.Sprintf("Person %d", i), "N": fmt.Sprintf("%d;Person;;;", i),
				"EMAIL": fmt.Sprintf("person%d@example.com", i), "TEL": "+15551234567", "BDAY": "1970-01-11",
				"NOTE": fmt.Sprintf("only in this book %d", i)}}
		}
		b.StartTimer()
		for start := 0; start < len(writes); start += applyRound {
			part := writes[start:min(start+applyRound, len(writes))]
			res, err := d.Apply(ctx, part)
			if err != nil || res[len(part)-1].Err != nil {
				b.Fatal(err, res[len(part)-1].Err)
			}
		}
		b.StopTimer()
		if entries, _ := os.ReadDir(p); len(entries) != 10000 {
			b.Fatalf("%d files, want 10000", len(entries))
		}
		os.RemoveAll(p)
		b.StartTimer()
	}
}

// BenchmarkChanges100k: the listing of a big folder. Creating the folder
// takes a while, so it runs only with TANDEM_BENCH_BIG=1.
func BenchmarkChanges100k(b *testing.B) {
	if os.Getenv("TANDEM_BENCH_BIG") == "" {
		b.Skip("set TANDEM_BENCH_BIG=1 to run")
	}
	d, p := newDir(b, benchFields...)
	genCards(b, p, 100000)
	b.ResetTimer()
	for b.Loop() {
		ch, err := d.Changes(ctx, "")
		if err != nil || len(ch.Items) != 100000 {
			b.Fatalf("%d items, %v", len(ch.Items), err)
		}
	}
}
