// Package bigseed fills a store with many mapping rows, for benchmarks and
// the peak-memory measurement of the window.
package bigseed

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gorm.io/gorm"

	"tandem/models"
)

// Seed creates the paused pair "Big" with n mapping rows.
func Seed(dbPath, dir string, n int) error {
	start := time.Now()
	st, err := models.Open(dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, s := range []string{"big-a", "big-b"} {
		if err := os.MkdirAll(filepath.Join(dir, s), 0o700); err != nil {
			return err
		}
	}
	p := &models.Pair{
		Name: "Big",
		A:    models.Connection{Name: "Big A", Kind: "vcarddir", Settings: map[string]string{"path": filepath.Join(dir, "big-a")}},
		B:    models.Connection{Name: "Big B", Kind: "vcarddir", Settings: map[string]string{"path": filepath.Join(dir, "big-b")}},
		Key:  "email",
		Fields: []models.Field{
			{Name: "email", A: "EMAIL", B: "EMAIL", Transform: "email"},
			{Name: "name", A: "FN", B: "FN"},
		},
		Conflict: models.ConflictNewest, Deletes: models.DeletePropagate, Interval: "1h", BrakeShare: 0.25, Paused: true,
	}
	if err := st.SavePair(p); err != nil {
		return err
	}
	now := time.Now()
	const chunk = 20000
	for i := 0; i < n; i += chunk {
		ms := make([]*models.Mapping, 0, chunk)
		for j := i; j < min(i+chunk, n); j++ {
			ms = append(ms, &models.Mapping{PairID: p.ID, AID: fmt.Sprintf("a-%07d", j), BID: fmt.Sprintf("b-%07d", j),
				AVersion: "1", BVersion: "1", Key: fmt.Sprintf("person%d@example.com", j), State: models.StateOK, SyncedAt: now,
				Base: map[string]string{"email": fmt.Sprintf("person%d@example.com", j), "name": fmt.Sprintf("Person %d", j)}})
		}
		if err := st.Write(func(tx *gorm.DB) error { return models.SaveMappings(tx, ms) }); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "seeded %d rows in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}
