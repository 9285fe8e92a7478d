package models

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"gorm.io/gorm"
)

// TestLeave checks what a command that leaves the store and exits leaves
// behind, in a child process that exits without closing: a small WAL stays
// (no checkpoint), a large one is checkpointed away; either way the next
// process sees every committed row and an intact database.
func TestLeave(t *testing.T) {
	for _, tc := range []struct {
		rows    int
		walLeft bool
	}{
		{rows: 20, walLeft: true},
		{rows: 8000, walLeft: false}, // ~1.4 MB of frames: over leaveWALMax
	} {
		t.Run(strconv.Itoa(tc.rows), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tandem.db")
			s, p := openAt(t, path)
			s.Close() // the child must be the only process with the store open
			child := exec.Command(os.Args[0], "-test.run", "^TestLeaveChild$")
			child.Env = append(os.Environ(), "TANDEM_LEAVE_CHILD="+path, fmt.Sprintf("TANDEM_LEAVE_ROWS=%d,%d", p.ID, tc.rows))
			if out, err := child.CombinedOutput(); err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			fi, err := os.Stat(path + "-wal")
			if left := err == nil && fi.Size() > 0; left != tc.walLeft {
				t.Fatalf("WAL left behind: %v, want %v (%v)", left, tc.walLeft, err)
			}
			again, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			var n int64
			if err := again.DB.Model(&Mapping{}).Where("pair_id = ?", p.ID).Count(&n).Error; err != nil || n != int64(tc.rows) {
				t.Fatalf("%d rows after the child left (%v), want %d", n, err, tc.rows)
			}
			var check string
			if err := again.DB.Raw("PRAGMA integrity_check").Scan(&check).Error; err != nil || check != "ok" {
				t.Fatalf("integrity check: %q %v", check, err)
			}
		})
	}
}

// TestLeaveChild is TestLeave's child: it writes rows, leaves the store and
// exits at once, as the command line does.
func TestLeaveChild(t *testing.T) {
	path := os.Getenv("TANDEM_LEAVE_CHILD")
	if path == "" {
		t.Skip("run by TestLeave")
	}
	var pairID uint
	var rows int
	if _, err := fmt.Sscanf(os.Getenv("TANDEM_LEAVE_ROWS"), "%d,%d", &pairID, &rows); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ms := make([]*Mapping, rows)
	for i := range ms {
		ms[i] = &Mapping{PairID: pairID, AID: fmt.Sprintf("a%05d.vcf", i), BID: fmt.Sprintf("b%05d.vcf", i),
			AVersion: "1-2", BVersion: "3-4", Base: map[string]string{"email": fmt.Sprintf("p%d@example.com", i)}}
	}
	if err := s.Write(func(tx *gorm.DB) error { return SaveMappings(tx, ms) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Leave(); err != nil {
		t.Fatal(err)
	}
	os.Exit(0)
}
