package vm

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tandem/models"
	"tandem/ui/internal/bigseed"
)

// bigStore opens a store with one pair of 1,000,000 mapping rows. The
// seeded file is kept in the temp folder (TANDEM_BENCH_DIR to choose) and
// reused by later runs, since seeding takes a couple of minutes.
func bigStore(b *testing.B) (*models.Store, uint) {
	b.Helper()
	dir := os.Getenv("TANDEM_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "tandem-bench-1m")
	}
	db := filepath.Join(dir, "tandem.db")
	if _, err := os.Stat(db); err != nil {
		if err := bigseed.Seed(db, dir, 1_000_000); err != nil {
			b.Fatal(err)
		}
	}
	st, err := models.Open(db)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	p, err := st.PairByName("Big")
	if err != nil {
		b.Fatal(err)
	}
	if n, _ := st.CountMappings(p.ID); n != 1_000_000 {
		b.Fatalf("bench store has %d rows", n)
	}
	return st, p.ID
}

// BenchmarkGridOpen: the grid view opens (count + first screen of rows).
func BenchmarkGridOpen(b *testing.B) {
	st, id := bigStore(b)
	for b.Loop() {
		g := NewGrid(st)
		if err := g.SetPair(id); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 40; i++ {
			if _, ok := g.Row(i); !ok {
				b.Fatal("row missing")
			}
		}
	}
}

// BenchmarkSearchExact: a search by one record id, count and first row.
func BenchmarkSearchExact(b *testing.B) {
	st, id := bigStore(b)
	g := NewGrid(st)
	g.SetPair(id)
	n := 0
	for b.Loop() {
		want := fmt.Sprintf("b-%07d", (n*7919)%1_000_000)
		n++
		if err := g.SetSearch(want); err != nil {
			b.Fatal(err)
		}
		if m, ok := g.Row(0); !ok || m.BID != want || g.Count() != 1 {
			b.Fatalf("search %s: %d rows, %+v", want, g.Count(), m)
		}
	}
}

// BenchmarkSearchPrefix: a prefix search matching 1,000 rows.
func BenchmarkSearchPrefix(b *testing.B) {
	st, id := bigStore(b)
	g := NewGrid(st)
	g.SetPair(id)
	for b.Loop() {
		if err := g.SetSearch("a-0123"); err != nil {
			b.Fatal(err)
		}
		if g.Count() != 1000 {
			b.Fatalf("prefix: %d rows", g.Count())
		}
		g.Row(0)
	}
}

// BenchmarkScroll: scrolling through 10,000 rows row by row (as the list
// asks while scrolling) and then a jump to the end; reports the pages read
// and the rows kept in memory.
func BenchmarkScroll(b *testing.B) {
	st, id := bigStore(b)
	var pages, cached int
	for b.Loop() {
		g := NewGrid(st)
		g.SetPair(id)
		for i := 0; i < 10_000; i++ {
			if _, ok := g.Row(i); !ok {
				b.Fatal("row missing")
			}
		}
		if _, ok := g.Row(g.Count() - 1); !ok {
			b.Fatal("last row missing")
		}
		pages, cached = g.PagesLoaded(), g.CachedRows()
	}
	b.ReportMetric(float64(pages), "pages")
	b.ReportMetric(float64(cached), "rows-in-memory")
}

// BenchmarkJumpToEnd: dragging the scrollbar to the bottom of 1M rows.
func BenchmarkJumpToEnd(b *testing.B) {
	st, id := bigStore(b)
	g := NewGrid(st)
	g.SetPair(id)
	for b.Loop() {
		g.Refresh()
		if _, ok := g.Row(999_990); !ok {
			b.Fatal("row missing")
		}
	}
}

// BenchmarkExportAll: CSV export of all 1,000,000 rows.
func BenchmarkExportAll(b *testing.B) {
	st, id := bigStore(b)
	g := NewGrid(st)
	g.SetPair(id)
	for b.Loop() {
		start := time.Now()
		n, err := g.Export(io.Discard, nil)
		if err != nil || n != 1_000_000 {
			b.Fatalf("exported %d rows: %v", n, err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/export")
	}
}
