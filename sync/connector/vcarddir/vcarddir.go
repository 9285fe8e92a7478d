// Package vcarddir is the "vcarddir" connector: a folder of .vcf files, one
// contact per file (the vdir layout of vdirsyncer, khard and Radicale).
//
// A record's id is its file name ("alice.vcf"), its version the file's size
// and modification time in nanoseconds ("1234-1700000000123456789"). A change
// listing is a directory listing (no file is opened), so a sync where nothing
// changed costs one readdir and one stat per file.
//
// Field names are those of package vcardfields ("EMAIL", "N.given", ...).
// Updates rewrite only the lines of the properties they change; every other
// byte of the file is kept. Files are written atomically: the new content
// goes to a file no reader sees (unnamed, or a hidden ".<name>.tandem-tmp"),
// is made durable (fsync, or on Linux one syncfs for a round of files), and
// only then renamed into place; see Apply. Temporary files a killed run left
// are removed by a later listing. A file that does not parse is reported
// with connector.ErrInvalidRecord and is never rewritten or deleted.
package vcarddir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"tandem/sync/connector"
	"tandem/sync/connector/vcardfields"
	"tandem/sync/connector/vcardtext"
	"tandem/sync/trace"
)

// Kind is the registered kind name.
const Kind = "vcarddir"

func init() {
	connector.Register(connector.Kind{
		Name:  Kind,
		Label: "vCard folder",
		Settings: []connector.Setting{{
			Key: "path", Label: "Folder", Required: true,
			Hint: "a folder of .vcf files, one contact each (vdirsyncer, khard)",
		}},
		Open: func(cfg connector.Config) (connector.Connector, error) { return Open(cfg) },
	})
}

// Dir is an open vCard folder.
type Dir struct {
	name   string
	path   string
	fields []string

	mu           sync.Mutex
	reserved     map[string]bool // file names being created
	noUnnamed    atomic.Bool     // the folder cannot hold unnamed files (O_TMPFILE)
	earlyFlush   sync.WaitGroup  // flushEarly's syncfs, while it runs
	earlyFlushes atomic.Int32    // how many flushEarly started (for tests)
	batchSync    bool            // one syncfs per round of writes, not one fsync per file
}

var (
	_ connector.KeyFinder  = (*Dir)(nil)
	_ connector.FullReader = (*Dir)(nil)
)

// Open opens the folder in cfg.Settings["path"]; it must exist.
func Open(cfg connector.Config) (*Dir, error) {
	p := cfg.Settings["path"]
	if p == "" {
		return nil, fmt.Errorf("connection %q: no folder given", cfg.Name)
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	p = filepath.Clean(p)
	if err := checkDir(cfg.Name, p); err != nil {
		return nil, err
	}
	for _, f := range cfg.Fields {
		if !vcardfields.Known(f) {
			return nil, fmt.Errorf("connection %q: %q is not a vCard field (use a property such as EMAIL or TEL, or a part such as N.given or ADR.locality)", cfg.Name, f)
		}
	}
	return &Dir{name: cfg.Name, path: p, fields: append([]string(nil), cfg.Fields...), reserved: map[string]bool{}, batchSync: batchSync(p)}, nil
}

func checkDir(name, p string) error {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("connection %q: the folder %s does not exist", name, p)
	case err != nil:
		return fmt.Errorf("connection %q: cannot open the folder %s: %v", name, p, unwrapPath(err))
	case !st.IsDir():
		return fmt.Errorf("connection %q: %s is a file, not a folder", name, p)
	}
	return nil
}

// unwrapPath drops the path from an *fs.PathError (messages name it already).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Capabilities: full listings only, conditional writes, no batch limit.
func (d *Dir) Capabilities() connector.Capabilities {
	return connector.Capabilities{Incremental: false, Conditional: true, MaxBatch: applyRound}
}

// Close waits for a flush started ahead (flushEarly); the folder holds no
// connection.
func (d *Dir) Close() error {
	d.earlyFlush.Wait()
	return nil
}

// isCard tells the names that are records: *.vcf, not hidden (our temporary
// files start with a dot).
func isCard(name string) bool {
	return len(name) > 4 && name[0] != '.' && strings.EqualFold(name[len(name)-4:], ".vcf")
}

// validID tells whether id is a plain card file name inside the folder.
func validID(id string) bool {
	return isCard(id) && !strings.ContainsAny(id, `/\`) && filepath.Base(id) == id
}

func version(fi fs.FileInfo) string { return versionOf(fi.Size(), fi.ModTime().UnixNano()) }

func versionOf(size, mtime int64) string {
	var b [40]byte
	v := strconv.AppendInt(b[:0], size, 10)
	v = append(v, '-')
	return string(strconv.AppendInt(v, mtime, 10))
}

// dirEntry is a name in a folder and what the listing told of its type.
type dirEntry struct {
	name string
	kind entryKind
	ino  uint64 // Linux: listDir sorts by it; 0 elsewhere
}

type entryKind uint8

const (
	kindUnknown entryKind = iota // the file system did not say: stat tells
	kindFile
	kindDir
	kindLink
	kindOther // a FIFO, socket or device
)

// kindOf tells the kind of an os.ReadDir entry.
func kindOf(e fs.DirEntry) entryKind {
	switch {
	case e.IsDir():
		return kindDir
	case e.Type()&fs.ModeSymlink != 0:
		return kindLink
	case !e.Type().IsRegular():
		return kindOther
	}
	return kindFile
}

// list opens the folder and reads its entries (the caller closes dir).
func (d *Dir) list() (*os.File, []dirEntry, error) {
	dir, err := os.Open(d.path)
	if err == nil {
		var entries []dirEntry
		if entries, err = listDir(dir); err == nil {
			return dir, entries, nil
		}
		dir.Close()
	}
	return nil, nil, fmt.Errorf("%w: connection %q: cannot list %s: %v", connector.ErrUnreachable, d.name, d.path, unwrapPath(err))
}

// Changes lists every card with its version, without opening any file. The
// stat calls (one per card, most of the cost) run on a few goroutines.
// Temporary files of ours left by a killed run are removed on the way.
func (d *Dir) Changes(ctx context.Context, cursor string) (connector.Changes, error) {
	dir, entries, err := d.list()
	if err != nil {
		return connector.Changes{}, err
	}
	defer dir.Close()
	// Entries come in listDir's order (inode order on Linux): the engine
	// needs no particular order, and sorting 10,000 names cost a listing
	// 7 ms (BenchmarkChanges10k 28.7 -> 21.8 ms without it).
	items := make([]connector.Item, len(entries))
	errs := make([]error, listWorkers)
	var stale []string
	var wg sync.WaitGroup
	per := (len(entries) + listWorkers - 1) / listWorkers
	if len(entries) < 2048 {
		per = len(entries)
	}
	for _, e := range entries {
		if n := e.name; n[0] == '.' && isTemp(n) {
			stale = append(stale, n)
		}
	}
	for w := 0; w*per < len(entries); w++ {
		lo, hi := w*per, min((w+1)*per, len(entries))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = d.stat(ctx, dir, entries[lo:hi], items[lo:hi])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return connector.Changes{}, err
		}
	}
	out := items[:0]
	for _, it := range items {
		if it.ID != "" {
			out = append(out, it)
		}
	}
	d.removeStale(stale)
	if len(out) == 0 && d.batchSync {
		d.flushEarly()
	}
	return connector.Changes{Items: out, Full: true, Cursor: ""}, nil
}

// flushEarly starts a syncfs in the background for a folder found without
// cards, when other programs left much data waiting to be written back.
// The folder's first sync flushes every round of new cards with syncfs
// anyway, and the first of those also writes back everything else dirty on
// the file system: in the benchmark, the 10,000 cards just generated into
// the other folder, ~44 MB, which made the first round's flush ~100-180 ms
// instead of ~15. Started now, that write-back runs while the other side
// is read (a first sync of 10,000 cards, 8 alternating runs: 1.08-1.27 s
// -> 1.00-1.23 s, 7 of 8 faster).
func (d *Dir) flushEarly() {
	if !worthFlushingEarly() {
		return
	}
	f, err := os.Open(d.path)
	if err != nil {
		return
	}
	d.earlyFlush.Add(1)
	d.earlyFlushes.Add(1)
	go func() {
		defer d.earlyFlush.Done()
		syncFS(f) // a failure shows in the rounds' own syncfs
		f.Close()
	}()
}

// listWorkers stat the files of a listing: on 2 cores, 10,000 files take
// 53 ms with lstat one by one, 43 ms with fstatat, 28 ms on 2 goroutines,
// 26 ms on 4 (the calls block now and then).
var listWorkers = 4

// stat fills items[i] for the cards among entries (ID "" for the others).
func (d *Dir) stat(ctx context.Context, dir *os.File, entries []dirEntry, items []connector.Item) error {
	for i, e := range entries {
		if i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		name := e.name
		if !isCard(name) || e.kind == kindDir {
			continue
		}
		// a link is followed; so is an entry of unknown type (a stat of a
		// file is its lstat, and a folder is not regular)
		size, mtime, regular, err := statIn(dir, d.path, name, e.kind == kindLink || e.kind == kindUnknown)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while listing
		}
		if err != nil {
			return fmt.Errorf("connection %q: cannot read %s: %v", d.name, name, unwrapPath(err))
		}
		if !regular {
			continue
		}
		items[i] = connector.Item{ID: name, Version: versionOf(size, mtime)}
	}
	return nil
}

// isTemp tells our temporary files (and those of earlier versions).
func isTemp(name string) bool {
	return strings.HasSuffix(name, tempSuffix) || strings.HasPrefix(name, ".tandem-") && strings.HasSuffix(name, ".tmp")
}

// staleAge: a temporary file of ours older than this was left by a run
// that was killed (a write keeps one for well under a second).
const staleAge = time.Minute

// removeStale removes the temporary files of ours older than staleAge.
func (d *Dir) removeStale(names []string) {
	for _, n := range names {
		p := filepath.Join(d.path, n)
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleAge {
			os.Remove(p)
		}
	}
}

// Pool sizes. Reads are bound by system calls (files are usually cached):
// on 2 cores, reading 10,000 takes 190 ms on 2 goroutines, 170 on 4 or 8.
// Writes, with the flush once a round, are bound by the kernel's inode
// allocation: 10,000 creates took 2.1-2.9 s on 4, 8 or 16 (no clear
// winner); 8 keeps some overlap where a per-file fsync remains.
var (
	readWorkers  = min(2*runtime.GOMAXPROCS(0), 8)
	writeWorkers = 8
)

// forEach runs fn(i) for i in [0,n) on a pool of at most w goroutines,
// stopping early when ctx is done.
func forEach(ctx context.Context, n, w int, fn func(i int)) error {
	w = min(w, n)
	if w <= 1 {
		for i := 0; i < n; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			fn(i)
		}
		return nil
	}
	next := make(chan int, w)
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	var err error
	for i := 0; i < n; i++ {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return err
}

// Get reads cards by id; ids that do not exist are left out. A card that
// does not parse comes back with Err set (wrapping ErrInvalidRecord).
func (d *Dir) Get(ctx context.Context, ids []string) ([]connector.Record, error) {
	return d.get(ctx, ids, d.fields)
}

func (d *Dir) get(ctx context.Context, ids []string, fields []string) ([]connector.Record, error) {
	dir, err := os.Open(d.path)
	if err != nil {
		return nil, fmt.Errorf("%w: connection %q: cannot open the folder %s: %v", connector.ErrUnreachable, d.name, d.path, unwrapPath(err))
	}
	defer dir.Close()
	recs := make([]connector.Record, len(ids))
	found := make([]bool, len(ids))
	err = forEach(ctx, len(ids), readWorkers, func(i int) {
		recs[i], found[i] = d.readRecord(dir, ids[i], fields)
	})
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for i := range recs {
		if found[i] {
			out = append(out, recs[i])
		}
	}
	return out, nil
}

// errNotRegular: a card's name that is not a regular file (a FIFO, a link
// to a folder), which a listing leaves out.
var errNotRegular = errors.New("not a regular file")

// readRecord reads the card id as a record with the given fields (all its
// properties when none are given); found is false when there is no such
// card (gone, or not a regular file).
func (d *Dir) readRecord(dir *os.File, id string, fields []string) (rec connector.Record, found bool) {
	cf, rec, err := d.read(dir, id)
	if errors.Is(err, connector.ErrNotFound) {
		return rec, false
	}
	if err != nil {
		rec.Err = err
		return rec, true
	}
	if len(fields) > 0 {
		rec.Fields = cf.Read(fields)
	} else {
		rec.Fields = cf.Read(cf.Properties())
	}
	return rec, true
}

// ReadAll lists every card and reads it in the same pass: one open, stat
// and read a card, where Changes and then Get stat each twice. For a
// folder nothing is stored of yet (a first sync), where every card is read
// anyway (10,000 cards: the listing's ~20 ms of stat calls, on a path that
// waits for them before reading any card).
func (d *Dir) ReadAll(ctx context.Context) (connector.Changes, error) {
	dir, entries, err := d.list()
	if err != nil {
		return connector.Changes{}, err
	}
	defer dir.Close()
	var stale, names []string
	for _, e := range entries {
		switch {
		case e.name[0] == '.' && isTemp(e.name):
			stale = append(stale, e.name)
		case isCard(e.name) && e.kind != kindDir:
			names = append(names, e.name) // a link or unknown type: the read follows it, as Changes does
		}
	}
	recs := make([]connector.Record, len(names))
	found := make([]bool, len(names))
	if err := forEach(ctx, len(names), readWorkers, func(i int) {
		recs[i], found[i] = d.readRecord(dir, names[i], d.fields)
	}); err != nil {
		return connector.Changes{}, err
	}
	d.removeStale(stale)
	items := make([]connector.Item, 0, len(names))
	for i := range recs {
		if found[i] && !errors.Is(recs[i].Err, errNotRegular) {
			items = append(items, connector.Item{ID: recs[i].ID, Version: recs[i].Version, Record: &recs[i]})
		}
	}
	if len(items) == 0 && d.batchSync {
		d.flushEarly()
	}
	return connector.Changes{Items: items, Full: true}, nil
}

// read opens, stats and parses one card in the open folder dir. The error
// wraps ErrNotFound when the file is gone and ErrInvalidRecord when it
// cannot be read or parsed; rec carries id, version and time whenever the
// file exists.
func (d *Dir) read(dir *os.File, id string) (*vcardtext.Card, connector.Record, error) {
	cf, rec, _, err := d.readRaw(dir, id)
	return cf, rec, err
}

func (d *Dir) readRaw(dir *os.File, id string) (*vcardtext.Card, connector.Record, fs.FileMode, error) {
	rec := connector.Record{ID: id}
	if !validID(id) {
		return nil, rec, 0, fmt.Errorf("%s: %w", id, connector.ErrNotFound)
	}
	data, fi, err := readIn(dir, d.path, id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, rec, 0, fmt.Errorf("%s: %w", id, connector.ErrNotFound)
	}
	if fi.known {
		rec.Version, rec.Modified = versionOf(fi.size, fi.mtime), time.Unix(0, fi.mtime)
	}
	if err != nil {
		return nil, rec, 0, fmt.Errorf("%w: %s: %v", connector.ErrInvalidRecord, id, unwrapPath(err))
	}
	if !fi.regular {
		return nil, rec, 0, fmt.Errorf("%w: %s is %w", connector.ErrInvalidRecord, id, errNotRegular)
	}
	cf, err := vcardtext.Parse(data)
	if err != nil {
		return nil, rec, fi.perm, fmt.Errorf("%w: %s is not a valid vCard: %v", connector.ErrInvalidRecord, id, err)
	}
	return cf, rec, fi.perm, nil
}

// applyRound is how many writes Apply stages at once, and so how many share
// one flush (syncfs). Each staged create holds an open file until it is
// linked, so the round stays well under the open-file limit. 1,000 (was
// 256): a first sync of 10,000 cards flushes 10 times instead of 40, 1.90-2.05
// s -> 1.66-1.83 s here; 2,500 gained nothing more.
var applyRound = roundSize()

// Apply performs the writes, several files at a time; results keep the
// order of writes.
//
// Writes go in rounds (roundLen), and a round is staged while the one
// before is flushed and linked (a first sync of 10,000 cards, 6 alternating
// runs each: median 0.93 s against 0.97 s in single rounds; a small gain on
// this noisy machine, but the flush's wait on the disk no longer idles the
// process). A round writes every new content
// where no reader looks (a new card: an unnamed file, O_TMPFILE; an update:
// a hidden ".<name>.tandem-tmp"), then makes the round durable at once (on
// Linux one syncfs; elsewhere each file was fsynced), then, after the
// version re-check, renames (links) each into place, and at the end fsyncs
// the folder. As with a fsync per file, a reader never sees half a card and
// a crash never leaves one under its final name; the disk is flushed once a
// round instead of once a file (10,000 creates: ~3x faster here).
func (d *Dir) Apply(ctx context.Context, writes []connector.Write) ([]connector.Result, error) {
	if err := checkDir(d.name, d.path); err != nil {
		return nil, fmt.Errorf("%w: %v", connector.ErrUnreachable, err)
	}
	dirf, err := os.Open(d.path)
	if err != nil {
		return nil, fmt.Errorf("%w: connection %q: cannot open the folder %s: %v", connector.ErrUnreachable, d.name, d.path, unwrapPath(err))
	}
	defer dirf.Close()
	results := make([]connector.Result, len(writes))
	size := roundLen(len(writes))
	first := min(size, len(writes))
	cur := d.stageRound(ctx, dirf, writes[:first], results[:first])
	for {
		// Stage the next round while this one is flushed and linked: the
		// flush waits on the disk and the links take the folder's lock one
		// at a time, which leaves a core free for the next round's files.
		var next chan *round
		if cur.end < len(writes) && cur.err == nil {
			next = make(chan *round, 1)
			go func(start int) {
				end := min(start+size, len(writes))
				r := d.stageRound(ctx, dirf, writes[start:end], results[start:end])
				r.start, r.end = start, end
				next <- r
			}(cur.end)
		}
		if cur.err != nil {
			cur.discard(d)
			syncDir(dirf)
			return nil, cur.err
		}
		d.finishRound(dirf, cur, results[cur.start:cur.end])
		if next == nil {
			break
		}
		cur = <-next
	}
	syncDir(dirf)
	return results, nil
}

// roundLen is how many of n writes go in one round: applyRound at most,
// and at least four rounds when there are enough writes for the overlap
// of staging and linking to pay (minRound each).
func roundLen(n int) int {
	size := min(applyRound, (n+3)/4)
	return max(size, min(minRound, applyRound))
}

const minRound = 64

// round is a set of writes staged together and flushed with one syncfs.
type round struct {
	start, end int // the writes' positions in the Apply call
	staged     []*staged
	held       *heldInodes
	err        error // staging stopped (ctx done): nothing of it is linked
}

// discard drops what a round staged and lets go of its held files.
func (r *round) discard(d *Dir) {
	for _, s := range r.staged {
		if s != nil {
			s.discard(d)
		}
	}
	r.held.release()
}

// stageRound writes each new content where no reader looks (and removes
// the cards to delete); results get the outcome of what is final already.
func (d *Dir) stageRound(ctx context.Context, dirf *os.File, writes []connector.Write, results []connector.Result) *round {
	r := &round{end: len(writes), staged: make([]*staged, len(writes))}
	if d.batchSync { // local file systems only: NFS would keep a held file as a .nfsXXXX
		r.held = &heldInodes{}
	}
	r.err = forEach(ctx, len(writes), writeWorkers, func(i int) {
		w := writes[i]
		var res connector.Result
		switch w.Op {
		case connector.OpCreate:
			r.staged[i], res.Err = d.stageCreate(w.Fields)
		case connector.OpUpdate:
			r.staged[i], res.Record, res.Err = d.stageUpdate(dirf, w)
		case connector.OpDelete:
			res.Record, res.Err = d.delete(dirf, w, r.held)
		default:
			res.Err = fmt.Errorf("unknown write operation %d", w.Op)
		}
		results[i] = res
	})
	trace.Mark("vcarddir: staged %d", len(writes))
	return r
}

// finishRound makes a staged round durable (one syncfs, or a fsync per
// file) and links (renames) each file into place.
func (d *Dir) finishRound(dirf *os.File, r *round, results []connector.Result) {
	defer r.held.release()
	staged := r.staged
	n := 0
	for _, s := range staged {
		if s != nil && !s.synced {
			n++
		}
	}
	if n > 0 {
		err := errFewFiles
		if n >= syncfsMin && littleDirty() {
			err = syncFS(dirf)
		}
		if err != nil {
			// few files, much else to write back, or syncfs failed: fsync
			// each file instead; a file that cannot be made durable is not
			// renamed into place.
			forEach(context.Background(), len(staged), writeWorkers, func(i int) {
				if s := staged[i]; s != nil && !s.synced {
					if err := s.sync(d.path); err != nil {
						results[i].Err = fmt.Errorf("cannot write %s: %v", s.name, unwrapPath(err))
						s.discard(d)
						staged[i] = nil
					}
				}
			})
		}
	}
	trace.Mark("vcarddir: flushed")
	forEach(context.Background(), len(staged), writeWorkers, func(i int) {
		if s := staged[i]; s != nil {
			rec, err := d.commit(dirf, s, r.held)
			if err != nil && rec.ID == "" {
				rec = s.rec
			}
			results[i].Record, results[i].Err = rec, err
		}
	})
}

// syncfsMin: a round with fewer files to flush fsyncs each instead of one
// syncfs (which also writes back what other programs left dirty on the
// file system: not worth it for a few cards; see also littleDirty).
const syncfsMin = 8

var errFewFiles = errors.New("few files")

// heldInodes keeps the files a round replaces or removes open until the
// round is over. ext4 frees a replaced or removed file's blocks inside the
// rename or unlink that drops its last name, ~150 us a card here (15 ms of
// a 1% sync's 100 updates, where a rename that frees nothing takes 25 us);
// held, the file is freed when let go, in the background, beside the next
// round or the store's commit of this one.
type heldInodes struct {
	mu  sync.Mutex
	fds []int
}

// hold opens path without reading it (nil h: does nothing; a file that
// cannot be opened is simply not held).
func (h *heldInodes) hold(path string) {
	if h == nil {
		return
	}
	if fd := holdInode(path); fd >= 0 {
		h.mu.Lock()
		h.fds = append(h.fds, fd)
		h.mu.Unlock()
	}
}

// release lets go of the held files in the background.
func (h *heldInodes) release() {
	if h == nil {
		return
	}
	h.mu.Lock()
	fds := h.fds
	h.fds = nil
	h.mu.Unlock()
	if len(fds) > 0 {
		go releaseInodes(fds)
	}
}

// staged is a new content of a card, written where no reader looks, waiting
// to be made durable and renamed into place.
type staged struct {
	name   string       // final file name
	f      *unnamedFile // the unnamed file (O_TMPFILE), open until linked
	tmp    string       // else the hidden temporary name (closed)
	fi     fs.FileInfo
	synced bool // fsynced already (no batch flush needed)

	create bool
	uid    string           // create: the card's UID (to pick another name)
	data   []byte           // create: kept to rewrite an unnamed file that cannot be linked
	rec    connector.Record // update: the card as read (returned on failure)
	check  func() error     // runs just before the rename
}

// tempSuffix ends the names of our temporary files (hidden: they start with
// a dot; never listed as cards).
const tempSuffix = ".tandem-tmp"

// createTemp creates the hidden file a new content of name is written to:
// ".<name>.tandem-tmp", or, when that exists (another writer, or one killed
// less than staleAge ago), ".tandem-<random>.tandem-tmp". O_EXCL: never
// someone else's file.
func createTemp(dir, name string) (*os.File, string, error) {
	tmp := "." + name + tempSuffix
	for try := 0; ; try++ {
		if try > 0 || len(tmp) > 255 {
			tmp = ".tandem-" + strconv.FormatUint(rand.Uint64(), 36) + tempSuffix
		}
		f, err := os.OpenFile(filepath.Join(dir, tmp), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, fs.ErrExist) && try < 10 {
			continue
		}
		return f, tmp, err
	}
}

// stage writes data for the card name. forceSync fsyncs it even when the
// round is flushed at once (the round's flush is already over).
func (d *Dir) stage(name string, data []byte, perm fs.FileMode, create, forceSync bool) (*staged, error) {
	s := &staged{name: name} // create is set on success (discard then releases the name)
	fail := func(err error) (*staged, error) {
		s.discard(d)
		return nil, fmt.Errorf("cannot write %s: %v", name, unwrapPath(err))
	}
	if create && !d.noUnnamed.Load() {
		u, err := createUnnamed(d.path, perm)
		switch {
		case errors.Is(err, errNoUnnamed):
			d.noUnnamed.Store(true)
		case err != nil:
			return nil, fmt.Errorf("cannot write in the folder: %v", unwrapPath(err))
		default:
			s.f, s.data = u, data
			return d.stageUnnamed(s, perm, forceSync)
		}
	}
	f, tmp, err := createTemp(d.path, name)
	if err != nil {
		return nil, fmt.Errorf("cannot write in the folder: %v", unwrapPath(err))
	}
	s.tmp = tmp
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return fail(err)
	}
	if !d.batchSync || forceSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fail(err)
		}
		s.synced = true
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	// stat the closed file: a network file system may set mtime on close
	if s.fi, err = os.Lstat(filepath.Join(d.path, s.tmp)); err != nil {
		return fail(err)
	}
	s.create = create
	return s, nil
}

// stageUnnamed writes s.data to the unnamed file s.f, made with mode perm
// less the umask: the mode is set again only when that differs (a chmod
// per new card otherwise), as the stat the version needs anyway tells.
func (d *Dir) stageUnnamed(s *staged, perm fs.FileMode, forceSync bool) (*staged, error) {
	fail := func(err error) (*staged, error) {
		s.discard(d)
		return nil, fmt.Errorf("cannot write %s: %v", s.name, unwrapPath(err))
	}
	if _, err := s.f.Write(s.data); err != nil {
		return fail(err)
	}
	// mtime and size are final once written on the local file systems
	// that use syncfs; a chmod and the link change neither
	info, err := s.f.Stat()
	if err != nil {
		return fail(err)
	}
	if info.Mode().Perm() != perm.Perm() {
		if err := s.f.Chmod(perm); err != nil {
			return fail(err)
		}
		info = info.withPerm(perm)
	}
	if !d.batchSync || forceSync {
		if err := s.f.Sync(); err != nil {
			return fail(err)
		}
		s.synced = true
		// elsewhere (a FUSE file system with O_TMPFILE) the flush may set
		// mtime: the version is what the file says after it
		if info, err = s.f.Stat(); err != nil {
			return fail(err)
		}
	}
	s.fi, s.create = info, true
	return s, nil
}

// sync fsyncs a staged file (when the round's syncfs failed).
func (s *staged) sync(dir string) error {
	if s.f != nil {
		return s.f.Sync()
	}
	f, err := os.OpenFile(filepath.Join(dir, s.tmp), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// discard drops a staged write: closes, removes the temporary file,
// releases the reserved name.
func (s *staged) discard(d *Dir) {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.tmp != "" {
		os.Remove(filepath.Join(d.path, s.tmp))
		s.tmp = ""
	}
	if s.create {
		d.release(s.name)
	}
}

// commit renames (links) a staged write into place, after its check. The
// file it replaces is held (when held is not nil) so the rename need not
// free it. dirf is the open folder (nil: none at hand).
func (d *Dir) commit(dirf *os.File, s *staged, held *heldInodes) (connector.Record, error) {
	defer s.discard(d)
	if s.check != nil {
		if err := s.check(); err != nil {
			return connector.Record{}, err
		}
	}
	for {
		final := filepath.Join(d.path, s.name)
		var err error
		switch {
		case s.f != nil:
			err = linkUnnamed(s.f, dirf, d.path, s.name)
		case s.create:
			err = renameNew(filepath.Join(d.path, s.tmp), final)
		default:
			held.hold(final)
			err = os.Rename(filepath.Join(d.path, s.tmp), final)
		}
		switch {
		case err == nil:
			s.tmp = ""
			return connector.Record{ID: s.name, Version: version(s.fi), Modified: s.fi.ModTime()}, nil
		case s.create && errors.Is(err, fs.ErrExist):
			// another program took the name since it was reserved
			next, rerr := d.reserve(s.uid, true)
			if rerr != nil {
				return connector.Record{}, rerr
			}
			d.release(s.name)
			s.name = next
		case errors.Is(err, errNoUnnamed):
			// no /proc: the unnamed file cannot be linked; write it again
			// under a temporary name (fsynced: the round's flush is over)
			d.noUnnamed.Store(true)
			s.f.Close()
			s.f = nil
			ns, err := d.stage(s.name, s.data, s.fi.Mode().Perm(), true, true)
			if err != nil {
				return connector.Record{}, err
			}
			ns.uid = s.uid
			s.tmp, s.fi, s.synced = ns.tmp, ns.fi, true
		default:
			return connector.Record{}, fmt.Errorf("cannot write %s: %v", s.name, unwrapPath(err))
		}
	}
}

func checkFields(fields map[string]string) error {
	for name := range fields {
		if !vcardfields.Known(name) {
			return fmt.Errorf("%q is not a vCard field", name)
		}
	}
	return nil
}

// fileBase turns a UID into a safe file name stem.
func fileBase(uid string) string {
	var b strings.Builder
	for _, r := range uid {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '@', r == '+':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 100 {
			break
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		return uuid.NewString()
	}
	return s
}

// reserve picks a free file name for a new card: <uid>.vcf, else
// <uid>-2.vcf, <uid>-3.vcf, ... Names being created in this process are
// skipped; with check, so are the names of files in the folder (one lstat
// each). Without, the caller puts the card in place with an operation that
// fails on a taken name (link), and picks again then.
func (d *Dir) reserve(uid string, check bool) (string, error) {
	base := fileBase(uid)
	for n := 1; n < 10000; n++ {
		name := base + ".vcf"
		if n > 1 {
			name = base + "-" + strconv.Itoa(n) + ".vcf"
		}
		d.mu.Lock()
		taken := d.reserved[name]
		if !taken {
			d.reserved[name] = true
		}
		d.mu.Unlock()
		if taken {
			continue
		}
		if !check {
			return name, nil
		}
		_, err := os.Lstat(filepath.Join(d.path, name))
		if errors.Is(err, fs.ErrNotExist) {
			return name, nil
		}
		d.release(name)
		if err != nil {
			return "", fmt.Errorf("cannot check %s: %v", name, unwrapPath(err))
		}
	}
	return "", fmt.Errorf("no free file name for %s", base)
}

func (d *Dir) release(name string) {
	d.mu.Lock()
	delete(d.reserved, name)
	d.mu.Unlock()
}

// unchanged checks, just before a rename, that nobody changed the file
// since it was read.
func (d *Dir) unchanged(id, ver string) error {
	fi, err := os.Stat(filepath.Join(d.path, id))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", id, connector.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %v", id, unwrapPath(err))
	}
	if version(fi) != ver {
		return fmt.Errorf("%s: %w", id, connector.ErrVersionMismatch)
	}
	return nil
}

func (d *Dir) delete(dir *os.File, w connector.Write, held *heldInodes) (connector.Record, error) {
	_, rec, _, err := d.readRaw(dir, w.ID)
	if errors.Is(err, connector.ErrNotFound) {
		return rec, err
	}
	if rec.Version != "" && w.Version != "" && rec.Version != w.Version {
		return rec, fmt.Errorf("%s: %w", w.ID, connector.ErrVersionMismatch)
	}
	if err != nil {
		return rec, err // never delete a card that does not parse
	}
	if err := d.unchanged(w.ID, rec.Version); err != nil {
		return rec, err
	}
	held.hold(filepath.Join(d.path, w.ID))
	if err := os.Remove(filepath.Join(d.path, w.ID)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rec, fmt.Errorf("%s: %w", w.ID, connector.ErrNotFound)
		}
		return rec, fmt.Errorf("cannot delete %s: %v", w.ID, unwrapPath(err))
	}
	return connector.Record{ID: w.ID}, nil
}

// stageCreate makes a new card and stages it under a free file name.
func (d *Dir) stageCreate(fields map[string]string) (*staged, error) {
	if err := checkFields(fields); err != nil {
		return nil, err
	}
	card := vcardtext.New(uuid.NewString(), fields)
	uid := card.Value("UID")
	// an unnamed file is linked into place, which fails on a taken name:
	// no need to look for the name first (an lstat per card)
	unnamed := !d.noUnnamed.Load()
	name, err := d.reserve(uid, !unnamed)
	if err != nil {
		return nil, err
	}
	s, err := d.stage(name, card.Bytes(), 0o644, true, false)
	if err != nil {
		d.release(name)
		return nil, err
	}
	s.uid = uid
	if unnamed && s.f == nil {
		// the folder took no unnamed file after all: check the name now
		if _, err := os.Lstat(filepath.Join(d.path, name)); !errors.Is(err, fs.ErrNotExist) {
			next, err := d.reserve(uid, true)
			if err != nil {
				s.discard(d)
				return nil, err
			}
			d.release(name)
			s.name = next
		}
	}
	return s, nil
}

// stageUpdate reads the card, checks its version, applies the fields and
// stages the result (nil when nothing changes: the result is final then).
func (d *Dir) stageUpdate(dir *os.File, w connector.Write) (*staged, connector.Record, error) {
	if err := checkFields(w.Fields); err != nil {
		return nil, connector.Record{ID: w.ID}, err
	}
	cf, rec, perm, err := d.readRaw(dir, w.ID)
	if errors.Is(err, connector.ErrNotFound) {
		return nil, rec, err
	}
	if rec.Version != "" && w.Version != "" && rec.Version != w.Version {
		return nil, rec, fmt.Errorf("%s: %w", w.ID, connector.ErrVersionMismatch)
	}
	if err != nil {
		return nil, rec, err
	}
	if !cf.Apply(w.Fields) {
		return nil, connector.Record{ID: w.ID, Version: rec.Version, Modified: rec.Modified}, nil
	}
	s, err := d.stage(w.ID, cf.Bytes(), perm, false, false)
	if err != nil {
		return nil, rec, err
	}
	s.rec = rec
	s.check = func() error { return d.unchanged(w.ID, rec.Version) }
	return s, rec, nil
}

// writeAtomic writes data to dir/name through a temporary file in dir
// (fsync, then rename), so readers never see half a card. check, when set,
// runs just before the rename; its error cancels the write.
func writeAtomic(dir, name string, data []byte, perm fs.FileMode, check func() error) (fs.FileInfo, error) {
	d := &Dir{path: dir, reserved: map[string]bool{}}
	s, err := d.stage(name, data, perm, false, true)
	if err != nil {
		return nil, err
	}
	s.check = check
	if _, err := d.commit(nil, s, nil); err != nil {
		return nil, err
	}
	return s.fi, nil
}

// syncDir makes renames and removals durable (best effort; not on Windows).
func syncDir(dir *os.File) {
	if runtime.GOOS != "windows" {
		dir.Sync()
	}
}

// Test checks that the folder exists and can be listed and written.
func (d *Dir) Test(ctx context.Context) error {
	if err := checkDir(d.name, d.path); err != nil {
		return err
	}
	if _, err := os.ReadDir(d.path); err != nil {
		return fmt.Errorf("connection %q: cannot list the folder %s: %v", d.name, d.path, unwrapPath(err))
	}
	f, err := os.CreateTemp(d.path, ".tandem-test-*.tmp")
	if err != nil {
		return fmt.Errorf("connection %q: cannot write in the folder %s: %v", d.name, d.path, unwrapPath(err))
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("connection %q: cannot remove files in the folder %s: %v", d.name, d.path, unwrapPath(err))
	}
	return nil
}

// FindByField returns the cards whose field equals value (trimmed, case
// folded). It reads every card: fine for the folders people keep.
func (d *Dir) FindByField(ctx context.Context, field, value string) ([]connector.Record, error) {
	if !vcardfields.Known(field) {
		return nil, fmt.Errorf("%q is not a vCard field", field)
	}
	ch, err := d.Changes(ctx, "")
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ch.Items))
	for i, it := range ch.Items {
		ids[i] = it.ID
	}
	fields := d.fields
	if len(fields) > 0 {
		fields = append(append([]string(nil), d.fields...), field)
	}
	recs, err := d.get(ctx, ids, fields)
	if err != nil {
		return nil, err
	}
	want := strings.TrimSpace(value)
	if want == "" {
		return nil, nil
	}
	var out []connector.Record
	for _, r := range recs {
		if r.Err == nil && strings.EqualFold(strings.TrimSpace(r.Fields[field]), want) {
			out = append(out, r)
		}
	}
	return out, nil
}
