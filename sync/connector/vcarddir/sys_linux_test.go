//go:build linux

package vcarddir

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/sync/connector"

	"golang.org/x/sys/unix"
)

func TestPendingWriteback(t *testing.T) {
	n, ok := pendingWriteback("MemTotal:  8000000 kB\nDirty:      1476 kB\nWriteback:   24 kB\nWritebackTmp: 9 kB\n")
	if !ok || n != 1500<<10 {
		t.Fatalf("= %d, %v", n, ok)
	}
	for _, bad := range []string{"Dirty: 1 kB\n", "Dirty: x kB\nWriteback: 0 kB\n", "Dirty: 1 MB\nWriteback: 0 kB\n"} {
		if _, ok := pendingWriteback(bad); ok {
			t.Fatalf("%q read as valid", bad)
		}
	}
	if !kernelAtLeast(2, 6) || kernelAtLeast(99, 0) {
		t.Fatal("kernelAtLeast misreads the running kernel")
	}
}

// listDir (getdents64 into one buffer) sees what os.ReadDir sees, names and
// types, and the inodes lstat sees (in inode order), over more entries than
// one call returns.
func TestListDirMatchesReadDir(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 120)
	for i := range 3000 { // ~150 bytes a record: more than one 256 KiB call
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%04d.vcf", long, i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.vcf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("elsewhere.vcf", filepath.Join(dir, "link.vcf")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo.vcf"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := listDir(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("listDir found %d entries, os.ReadDir %d", len(got), len(want))
	}
	if !slices.IsSortedFunc(got, func(a, b dirEntry) int { return cmp.Compare(a.ino, b.ino) }) {
		t.Fatal("listDir's entries are not in inode order")
	}
	slices.SortFunc(got, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
	for i, w := range want {
		kind := kindOf(w)
		if got[i].name != w.Name() || got[i].kind != kind {
			t.Fatalf("entry %d: listDir says %q (kind %d), os.ReadDir %q (kind %d)", i, got[i].name, got[i].kind, w.Name(), kind)
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, w.Name()), &st); err != nil || got[i].ino != st.Ino {
			t.Fatalf("%s: listDir says inode %d, lstat %d (%v)", w.Name(), got[i].ino, st.Ino, err)
		}
	}
}

// A held file outlives the rename that replaces it (its inode stays, with
// no name) until released, and release closes every descriptor.
func TestHeldInodeOutlivesItsName(t *testing.T) {
	dir := t.TempDir()
	p, tmp := filepath.Join(dir, "a.vcf"), filepath.Join(dir, ".a.tmp")
	for _, f := range []string{p, tmp} {
		if err := os.WriteFile(f, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := &heldInodes{}
	h.hold(p)
	h.hold(filepath.Join(dir, "missing.vcf")) // not held, no error
	if len(h.fds) != 1 {
		t.Fatalf("%d files held, want 1", len(h.fds))
	}
	fd := h.fds[0]
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Nlink != 0 {
		t.Fatalf("the replaced file is not held: nlink %d, %v", st.Nlink, err)
	}
	h.release()
	for range 200 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); errors.Is(err, unix.EBADF) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the held file was not released")
}

// Updates and deletes through Apply leave no descriptor open behind them
// once the background release is done.
func TestApplyReleasesHeldFiles(t *testing.T) {
	d, p := newDir(t, "FN")
	for i := range 50 {
		put(t, p, fmt.Sprintf("c%d.vcf", i), fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c%d\r\nFN:Card %d\r\nEND:VCARD\r\n", i, i))
	}
	openFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	before := openFDs()
	var writes []connector.Write
	for i := range 50 {
		w := connector.Write{Op: connector.OpUpdate, ID: fmt.Sprintf("c%d.vcf", i), Fields: map[string]string{"FN": "New"}}
		if i%5 == 0 {
			w = connector.Write{Op: connector.OpDelete, ID: w.ID}
		}
		writes = append(writes, w)
	}
	res, err := d.Apply(ctx, writes)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if ents, _ := os.ReadDir(p); len(ents) != 40 {
		t.Fatalf("%d cards left, want 40", len(ents))
	}
	for range 200 {
		if openFDs() <= before {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%d descriptors open after Apply, %d before", openFDs(), before)
}

// A new card is 0644 whatever the umask: made with that mode less the
// umask, and set again only when the umask took bits away.
func TestNewCardModeWhateverTheUmask(t *testing.T) {
	for _, mask := range []int{0o022, 0o077, 0o002} {
		d, p := newDir(t, "FN")
		old := unix.Umask(mask)
		res, err := d.Apply(ctx, []connector.Write{{Op: connector.OpCreate, Fields: map[string]string{"UID": fmt.Sprintf("u%o", mask), "FN": "New"}}})
		unix.Umask(old)
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res[0].Err)
		}
		fi, err := os.Stat(filepath.Join(p, res[0].Record.ID))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("umask %03o: new card has mode %v, want 0644", mask, fi.Mode().Perm())
		}
		if v := versionOf(fi.Size(), fi.ModTime().UnixNano()); v != res[0].Record.Version {
			t.Errorf("umask %03o: version %q reported, %q on disk", mask, res[0].Record.Version, v)
		}
	}
}

// A new card is linked into place from its descriptor (AT_EMPTY_PATH) or,
// where the kernel does not allow that, through /proc; relative to the
// open folder or by path. Each way it gets its name, its content, and
// never replaces a file.
func TestLinkUnnamedEveryWay(t *testing.T) {
	defer flinkDenied.Store(flinkDenied.Load())
	for _, denied := range []bool{false, true} {
		for _, open := range []bool{true, false} {
			flinkDenied.Store(denied)
			p := t.TempDir()
			var dir *os.File
			if open {
				var err error
				if dir, err = os.Open(p); err != nil {
					t.Fatal(err)
				}
				defer dir.Close()
			}
			link := func(name, text string) error {
				f, err := createUnnamed(p, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.Write([]byte(text)); err != nil {
					t.Fatal(err)
				}
				return linkUnnamed(f, dir, p, name)
			}
			if err := link("a.vcf", "first"); err != nil {
				t.Fatalf("denied %v, open %v: %v", denied, open, err)
			}
			if err := link("a.vcf", "second"); !errors.Is(err, os.ErrExist) {
				t.Fatalf("denied %v, open %v: linking over a file = %v, want ErrExist", denied, open, err)
			}
			if b, err := os.ReadFile(filepath.Join(p, "a.vcf")); err != nil || string(b) != "first" {
				t.Fatalf("denied %v, open %v: a.vcf holds %q, %v", denied, open, b, err)
			}
			if ents, _ := os.ReadDir(p); len(ents) != 1 {
				t.Fatalf("denied %v, open %v: %d files, want 1", denied, open, len(ents))
			}
		}
	}
}

// A folder listed without cards starts a flush of what other programs left
// to be written back, when that is enough to matter; a folder with cards
// does not; Close waits for the flush.
func TestEmptyFolderFlushesEarly(t *testing.T) {
	d, p := newDir(t, "FN")
	if !d.batchSync {
		t.Skip("this file system takes a fsync per card: no flush ahead")
	}
	// list leaves 2 x earlyFlushMin for the kernel to write back, on the
	// folder's file system, lists the folder and waits for its flush;
	// it returns how many flushes were started in all.
	list := func() int32 {
		if err := os.WriteFile(filepath.Join(t.TempDir(), "big"), make([]byte, 2*earlyFlushMin), 0o600); err != nil {
			t.Fatal(err)
		}
		if !worthFlushingEarly() {
			t.Skip("the system wrote the data back at once, or holds too much unwritten data")
		}
		if _, err := d.Changes(ctx, ""); err != nil {
			t.Fatal(err)
		}
		d.Close()
		return d.earlyFlushes.Load()
	}
	if n := list(); n != 1 {
		t.Fatalf("empty folder: %d flushes started, want 1", n)
	}
	put(t, p, "a.vcf", ada)
	if n := list(); n != 1 {
		t.Fatalf("folder with a card: %d flushes started in all, want 1", n)
	}
}

// Reading a card leaves its access time alone (O_NOATIME), where a plain
// read of a file written since its last read would set it.
func TestReadKeepsAccessTime(t *testing.T) {
	d, p := newDir(t, "FN")
	put(t, p, "control.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Control\r\nEND:VCARD\r\n")
	put(t, p, "card.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Card\r\nEND:VCARD\r\n")
	atime := func(name string) int64 {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(p, name), &st); err != nil {
			t.Fatal(err)
		}
		return st.Atim.Nano()
	}
	before, cardBefore := atime("control.vcf"), atime("card.vcf")
	time.Sleep(20 * time.Millisecond) // past the file system's clock granularity
	if _, err := os.ReadFile(filepath.Join(p, "control.vcf")); err != nil {
		t.Fatal(err)
	}
	if atime("control.vcf") == before {
		t.Skip("this file system does not update access times on read (noatime)")
	}
	if rec := getOne(t, d, "card.vcf"); rec.Fields["FN"] != "Card" {
		t.Fatalf("read %v", rec.Fields)
	}
	if got := atime("card.vcf"); got != cardBefore {
		t.Errorf("reading the card moved its access time from %d to %d", cardBefore, got)
	}
}
