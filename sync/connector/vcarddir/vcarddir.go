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
// byte of the file is kept. Files are written atomically (temporary file in
// the folder, fsync, rename). A file that does not parse is reported with
// connector.ErrInvalidRecord and is never rewritten or deleted.
package vcarddir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"

	"tandem/sync/connector"
	"tandem/sync/connector/vcardfields"
	"tandem/sync/connector/vcardtext"
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

	mu       sync.Mutex
	reserved map[string]bool // file names being created
}

var _ connector.KeyFinder = (*Dir)(nil)

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
	return &Dir{name: cfg.Name, path: p, fields: append([]string(nil), cfg.Fields...), reserved: map[string]bool{}}, nil
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
	return connector.Capabilities{Incremental: false, Conditional: true, MaxBatch: 0}
}

// Close releases nothing: the folder needs no connection.
func (d *Dir) Close() error { return nil }

// isCard tells the names that are records: *.vcf, not hidden (our temporary
// files start with a dot).
func isCard(name string) bool {
	return len(name) > 4 && name[0] != '.' && strings.EqualFold(name[len(name)-4:], ".vcf")
}

// validID tells whether id is a plain card file name inside the folder.
func validID(id string) bool {
	return isCard(id) && !strings.ContainsAny(id, `/\`) && filepath.Base(id) == id
}

func version(fi fs.FileInfo) string {
	return strconv.FormatInt(fi.Size(), 10) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
}

// Changes lists every card with its version, without opening any file.
func (d *Dir) Changes(ctx context.Context, cursor string) (connector.Changes, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return connector.Changes{}, fmt.Errorf("%w: connection %q: cannot list %s: %v", connector.ErrUnreachable, d.name, d.path, unwrapPath(err))
	}
	items := make([]connector.Item, 0, len(entries))
	for i, e := range entries {
		if i%1024 == 0 && ctx.Err() != nil {
			return connector.Changes{}, ctx.Err()
		}
		name := e.Name()
		if !isCard(name) || e.IsDir() {
			continue
		}
		var fi fs.FileInfo
		if e.Type()&fs.ModeSymlink != 0 {
			fi, err = os.Stat(filepath.Join(d.path, name))
		} else {
			fi, err = e.Info()
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while listing
		}
		if err != nil {
			return connector.Changes{}, fmt.Errorf("connection %q: cannot read %s: %v", d.name, name, unwrapPath(err))
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		items = append(items, connector.Item{ID: name, Version: version(fi)})
	}
	return connector.Changes{Items: items, Full: true, Cursor: ""}, nil
}

// Pool sizes. Reads are bound by the CPU (files are usually cached); writes
// mostly wait for fsync, and concurrent fsyncs share journal commits.
var (
	readWorkers  = min(2*runtime.GOMAXPROCS(0), 8)
	writeWorkers = 16
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
	recs := make([]connector.Record, len(ids))
	found := make([]bool, len(ids))
	err := forEach(ctx, len(ids), readWorkers, func(i int) {
		cf, rec, err := d.read(ids[i])
		if errors.Is(err, connector.ErrNotFound) {
			return
		}
		found[i] = true
		if err != nil {
			rec.Err = err
			recs[i] = rec
			return
		}
		if len(fields) > 0 {
			rec.Fields = cf.Read(fields)
		} else {
			rec.Fields = cf.Read(cf.Properties())
		}
		recs[i] = rec
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

// read opens, stats and parses one card. The error wraps ErrNotFound when
// the file is gone and ErrInvalidRecord when it cannot be read or parsed;
// rec carries id, version and time whenever the file exists.
func (d *Dir) read(id string) (*vcardtext.Card, connector.Record, error) {
	cf, rec, _, err := d.readRaw(id)
	return cf, rec, err
}

func (d *Dir) readRaw(id string) (*vcardtext.Card, connector.Record, fs.FileMode, error) {
	rec := connector.Record{ID: id}
	if !validID(id) {
		return nil, rec, 0, fmt.Errorf("%s: %w", id, connector.ErrNotFound)
	}
	f, err := os.Open(filepath.Join(d.path, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, rec, 0, fmt.Errorf("%s: %w", id, connector.ErrNotFound)
	}
	if err != nil {
		return nil, rec, 0, fmt.Errorf("%w: %s: %v", connector.ErrInvalidRecord, id, unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, rec, 0, fmt.Errorf("%w: %s: %v", connector.ErrInvalidRecord, id, unwrapPath(err))
	}
	rec.Version, rec.Modified = version(fi), fi.ModTime()
	if !fi.Mode().IsRegular() {
		return nil, rec, 0, fmt.Errorf("%w: %s is not a regular file", connector.ErrInvalidRecord, id)
	}
	data, err := readAll(f, fi.Size())
	if err != nil {
		return nil, rec, 0, fmt.Errorf("%w: %s: %v", connector.ErrInvalidRecord, id, unwrapPath(err))
	}
	cf, err := vcardtext.Parse(data)
	if err != nil {
		return nil, rec, fi.Mode().Perm(), fmt.Errorf("%w: %s is not a valid vCard: %v", connector.ErrInvalidRecord, id, err)
	}
	return cf, rec, fi.Mode().Perm(), nil
}

// readAll reads a file of the given size, in one read call when the size
// is right (a short read of a regular file is its end).
func readAll(f *os.File, size int64) ([]byte, error) {
	buf := make([]byte, size+1)
	n, err := f.Read(buf)
	if err == io.EOF {
		return buf[:0], nil
	}
	if err != nil {
		return nil, err
	}
	if n < len(buf) {
		return buf[:n], nil
	}
	rest, err := io.ReadAll(f) // the file grew since the stat
	return append(buf[:n], rest...), err
}

// Apply performs the writes, several files at a time; results keep the
// order of writes.
func (d *Dir) Apply(ctx context.Context, writes []connector.Write) ([]connector.Result, error) {
	if err := checkDir(d.name, d.path); err != nil {
		return nil, fmt.Errorf("%w: %v", connector.ErrUnreachable, err)
	}
	results := make([]connector.Result, len(writes))
	err := forEach(ctx, len(writes), writeWorkers, func(i int) {
		w := writes[i]
		var res connector.Result
		switch w.Op {
		case connector.OpCreate:
			res.Record, res.Err = d.create(w.Fields)
		case connector.OpUpdate:
			res.Record, res.Err = d.update(w)
		case connector.OpDelete:
			res.Record, res.Err = d.delete(w)
		default:
			res.Err = fmt.Errorf("unknown write operation %d", w.Op)
		}
		results[i] = res
	})
	syncDir(d.path)
	if err != nil {
		return nil, err
	}
	return results, nil
}

func checkFields(fields map[string]string) error {
	for name := range fields {
		if !vcardfields.Known(name) {
			return fmt.Errorf("%q is not a vCard field", name)
		}
	}
	return nil
}

func (d *Dir) create(fields map[string]string) (connector.Record, error) {
	if err := checkFields(fields); err != nil {
		return connector.Record{}, err
	}
	card := vcardtext.New(uuid.NewString(), fields)
	data := card.Bytes()

	name, err := d.reserve(card.Value("UID"))
	if err != nil {
		return connector.Record{}, err
	}
	defer d.release(name)
	fi, err := writeAtomic(d.path, name, data, 0o644, nil)
	if err != nil {
		return connector.Record{}, err
	}
	return connector.Record{ID: name, Version: version(fi), Modified: fi.ModTime()}, nil
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
// <uid>-2.vcf, <uid>-3.vcf, ...
func (d *Dir) reserve(uid string) (string, error) {
	base := fileBase(uid)
	d.mu.Lock()
	defer d.mu.Unlock()
	for n := 1; n < 10000; n++ {
		name := base + ".vcf"
		if n > 1 {
			name = base + "-" + strconv.Itoa(n) + ".vcf"
		}
		if d.reserved[name] {
			continue
		}
		_, err := os.Lstat(filepath.Join(d.path, name))
		if errors.Is(err, fs.ErrNotExist) {
			d.reserved[name] = true
			return name, nil
		}
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

func (d *Dir) update(w connector.Write) (connector.Record, error) {
	if err := checkFields(w.Fields); err != nil {
		return connector.Record{ID: w.ID}, err
	}
	cf, rec, perm, err := d.readRaw(w.ID)
	if errors.Is(err, connector.ErrNotFound) {
		return rec, err
	}
	if rec.Version != "" && w.Version != "" && rec.Version != w.Version {
		return rec, fmt.Errorf("%s: %w", w.ID, connector.ErrVersionMismatch)
	}
	if err != nil {
		return rec, err
	}
	if !cf.Apply(w.Fields) {
		return connector.Record{ID: w.ID, Version: rec.Version, Modified: rec.Modified}, nil
	}
	fi, err := writeAtomic(d.path, w.ID, cf.Bytes(), perm, func() error { return d.unchanged(w.ID, rec.Version) })
	if err != nil {
		return rec, err
	}
	return connector.Record{ID: w.ID, Version: version(fi), Modified: fi.ModTime()}, nil
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

func (d *Dir) delete(w connector.Write) (connector.Record, error) {
	_, rec, _, err := d.readRaw(w.ID)
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
	if err := os.Remove(filepath.Join(d.path, w.ID)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rec, fmt.Errorf("%s: %w", w.ID, connector.ErrNotFound)
		}
		return rec, fmt.Errorf("cannot delete %s: %v", w.ID, unwrapPath(err))
	}
	return connector.Record{ID: w.ID}, nil
}

// writeAtomic writes data to dir/name through a temporary file in dir
// (fsync, then rename), so readers never see half a card. check, when set,
// runs just before the rename; its error cancels the write.
func writeAtomic(dir, name string, data []byte, perm fs.FileMode, check func() error) (fs.FileInfo, error) {
	tmp, err := os.CreateTemp(dir, ".tandem-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cannot write in the folder: %v", unwrapPath(err))
	}
	tmpName := tmp.Name()
	fail := func(err error) (fs.FileInfo, error) {
		tmp.Close()
		os.Remove(tmpName)
		return nil, err
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(fmt.Errorf("cannot write %s: %v", name, unwrapPath(err)))
	}
	if err := tmp.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return fail(fmt.Errorf("cannot write %s: %v", name, unwrapPath(err)))
	}
	if err := tmp.Sync(); err != nil {
		return fail(fmt.Errorf("cannot write %s: %v", name, unwrapPath(err)))
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmpName)
		return nil, fmt.Errorf("cannot write %s: %v", name, unwrapPath(err))
	}
	if check != nil {
		if err := check(); err != nil {
			os.Remove(tmpName)
			return nil, err
		}
	}
	final := filepath.Join(dir, name)
	if err := os.Rename(tmpName, final); err != nil {
		os.Remove(tmpName)
		return nil, fmt.Errorf("cannot write %s: %v", name, unwrapPath(err))
	}
	fi, err := os.Stat(final)
	if err != nil {
		return nil, fmt.Errorf("cannot read back %s: %v", name, unwrapPath(err))
	}
	return fi, nil
}

// syncDir makes renames and removals durable (best effort; not on Windows).
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
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
