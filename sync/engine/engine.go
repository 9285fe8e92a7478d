package engine

// How a run decides (one pair, one run; all comparisons on canonical values):
//
//	fetch   each side's changes since its cursor (or a Full listing: then only
//	        ids whose version differs from the stored one, or that are
//	        unmapped, are read, and mapped ids missing from it are deletions).
//	pending rows (a create whose outcome a crash lost; a killed run's
//	        intents become such rows when the next run starts) are resolved
//	        first: the record is looked up on the target by key (KeyFinder,
//	        else this run's listing): found -> link, not found -> create
//	        again reusing the row, so no duplicate.
//
//	record state (X = one side, Y = the other)          -> action
//	mapped, X changed, Y not (Y's values = base)         -> write X's changed fields to Y
//	mapped, both changed, different fields               -> merge, write each side what it lacks
//	mapped, both changed, same field, equal values       -> nothing for that field
//	mapped, both changed, same field, different values   -> conflict policy:
//	        newest (Record.Modified; a tie or an unknown time -> A wins),
//	        a-wins, b-wins, manual (nothing written, row "conflict")
//	mapped, new version but values equal the base        -> nothing written (echo of our write)
//	unmapped, other side has an unmapped record, same key-> link (first contact: merge with an
//	        empty base: a field set on one side only is taken, different values are conflicts)
//	unmapped, key matches an unlinked row of the other side -> link again
//	unmapped, two records with one key on one side       -> first id links/creates, the others
//	        are per-record errors "duplicate key"
//	unmapped, no match (or empty key: logged)            -> create on the other side
//	deleted on X, Y changed in this run                  -> edit beats delete: re-create on X
//	deleted on X, Y unchanged                            -> delete policy: propagate (delete on Y,
//	        conditional), ignore (unlink), confirm (row "delete-pending": AllowDelete/KeepRecord)
//	deleted on both                                      -> drop the row
//	malformed record or a field that does not convert    -> per-record error; never written or
//	        deleted; the rest of the run goes on
//
// Field directions: an "a-to-b" field only flows from A to B (a change of it
// on B is neither written to A nor overwritten until A changes it), "b-to-a"
// the other way; the base of a one-way field follows its source side.
//
// Unlink (delete policy ignore, KeepRecord) keeps a one-sided row holding
// the surviving record's id with state ok: it remembers "do not re-create
// this record", which a dropped row could not (a Full listing would show the
// survivor as unmapped and create it again). Deleting that row in the grid
// lets the record sync again; a new record with its key on the other side
// links to it.
//
// Brakes are checked on the whole plan before any write: a side listed
// empty while it has mapped records (whatever the delete policy: an empty
// listing usually means a wrong folder or account), or deletes on a side above
// Pair.BrakeShare (default 0.25) of its mapped records, refuse the run
// (*BrakeError) unless Options.ForceDelete. A refused run writes nothing and
// keeps the cursors.
//
// Crash safety: each batch of creates is preceded by a committed intent
// (the source ids and keys, models.Intent); its rows are inserted complete,
// and the intent deleted, in the transaction that records the batch.
// Updates commit new versions and base after the batch that finished the
// record. Cursors are saved last. An incremental side with a per-record
// error keeps its old cursor, so the failed record is seen (and retried)
// next run; records synced meanwhile are then skipped by version.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/sync/trace"
	"tandem/sync/transform"
)

const (
	sa = 0
	sb = 1
)

var sideNames = [2]string{models.SideA, models.SideB}

const (
	getBatch     = 500
	defaultBatch = 200
	commitChunk  = 500
)

var pairLocks sync.Map // pair id -> *sync.Mutex

func lockPair(id uint) func() {
	v, _ := pairLocks.LoadOrStore(id, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// rec is a record of this run in canonical form.
type rec struct {
	id       string
	version  string
	modified time.Time
	vals     map[string]string
	key      string
	err      error           // malformed or not convertible: a per-record error
	row      *models.Mapping // one-sided row it came with (error/unlinked), if any
}

type sideState struct {
	idx       int
	name      string
	label     string
	conn      connector.Connector
	caps      connector.Capabilities
	toC       map[string]transform.Converter
	fromC     map[string]transform.Converter
	native    map[string]string
	cursor    string
	ch        connector.Changes
	listing   *listing          // a listing started before the run was recorded (full-listing sides)
	versions  map[string]string // Full listing: stored versions
	recs      map[string]*rec   // records that need a decision
	deleted   []string
	rows      map[string]*models.Mapping // rows of recs and deleted, by this side's id
	unmapped  []*rec
	held      bool // a per-record error: keep the cursor (incremental side)
	mappedCnt int
}

type runner struct {
	ctx    context.Context
	store  *models.Store
	pair   *models.Pair
	opt    Options
	now    time.Time
	s      [2]*sideState
	run    *models.Run
	res    Result
	rows   map[uint]*models.Mapping
	units  []*unit
	byRow  map[uint]*unit
	policy string
	taken  [2]map[string]bool // ids claimed by pending-row resolution

	noRows     bool        // the pair had no mapping rows when the run began
	intentSeq  int         // the last Intent's number in this run
	intentLeft map[int]int // Intent -> its creates not yet recorded
}

func (o Options) clock() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (r *runner) progress(phase string, done, total int) {
	if r.opt.Progress != nil {
		r.opt.Progress(Progress{Phase: phase, Done: done, Total: total})
	}
}

func newSide(p *models.Pair, idx int, c connector.Connector) (*sideState, error) {
	s := &sideState{idx: idx, name: sideNames[idx], conn: c, caps: c.Capabilities(),
		toC: map[string]transform.Converter{}, fromC: map[string]transform.Converter{}, native: map[string]string{},
		recs: map[string]*rec{}}
	s.label, s.cursor = p.A.Name, p.CursorA
	if idx == sb {
		s.label, s.cursor = p.B.Name, p.CursorB
	}
	if s.label == "" {
		s.label = "side " + strings.ToUpper(s.name)
	}
	for _, f := range p.Fields {
		conv, err := transform.For(f, s.name)
		if err != nil {
			return nil, err
		}
		s.toC[f.Name], s.fromC[f.Name] = conv, conv
		s.native[f.Name] = f.A
		if idx == sb {
			s.native[f.Name] = f.B
		}
	}
	return s, nil
}

func newRunner(ctx context.Context, store *models.Store, pair *models.Pair, a, b connector.Connector, opt Options) (*runner, error) {
	if err := ValidatePair(pair); err != nil {
		return nil, err
	}
	r := &runner{ctx: ctx, store: store, pair: pair, opt: opt, now: opt.clock(),
		rows: map[uint]*models.Mapping{}, byRow: map[uint]*unit{}, policy: pair.Conflict,
		taken: [2]map[string]bool{{}, {}}, intentLeft: map[int]int{}}
	if r.policy == "" {
		r.policy = models.ConflictNewest
	}
	for i, c := range []connector.Connector{a, b} {
		s, err := newSide(pair, i, c)
		if err != nil {
			return nil, err
		}
		r.s[i] = s
	}
	return r, nil
}

// Run syncs one pair once. a and b are the pair's two open connectors.
// A non-nil error means the run was refused or stopped (a brake ->
// *BrakeError; auth or unreachable -> wrapped connector.ErrAuth or
// connector.ErrUnreachable; a bad config). Result.Errors > 0 with a nil
// error: some records failed and the rest synced.
func Run(ctx context.Context, store *models.Store, pair *models.Pair, a, b connector.Connector, opt Options) (Result, error) {
	unlock := lockPair(pair.ID)
	defer unlock()
	// Another run of this pair may have advanced the cursors meanwhile.
	if ca, cb, err := store.Cursors(pair.ID); err == nil {
		pair.CursorA, pair.CursorB = ca, cb
	}
	trigger := opt.Trigger
	if trigger == "" {
		trigger = "manual"
	}
	run := &models.Run{PairID: pair.ID, Started: opt.clock(), Trigger: trigger, DryRun: opt.DryRun}
	trace.Mark("run: start %q", pair.Name)
	// A side that lists in full needs neither cursor nor rows to list: it
	// starts now, on the other core, while the run is recorded (~5 ms).
	// With nothing stored of the pair yet, every listed record is read
	// anyway: a side that can read while it lists does (FullReader).
	fresh := -1 // unknown until a side could read all
	var early [2]*listing
	for i, c := range []connector.Connector{a, b} {
		if c.Capabilities().Incremental {
			continue
		}
		full, _ := c.(connector.FullReader)
		if full != nil && fresh < 0 {
			fresh = 0
			if ok, err := store.Fresh(pair.ID); err == nil && ok {
				fresh = 1
			}
		}
		if full != nil && fresh == 1 {
			early[i] = startReadAll(ctx, full)
		} else {
			early[i] = startListing(ctx, c, [2]string{pair.CursorA, pair.CursorB}[i])
		}
		defer early[i].wait() // a run stopped before its fetch leaves no listing behind
	}
	if err := store.StartRun(run); err != nil {
		return Result{}, fmt.Errorf("record the run: %w", err)
	}
	trace.Mark("run: recorded")
	r, err := newRunner(ctx, store, pair, a, b, opt)
	if err == nil {
		r.run = run
		r.s[0].listing, r.s[1].listing = early[0], early[1]
		err = r.do()
	}
	var res Result
	if r != nil {
		res = r.res
	}
	res.RunID = run.ID
	run.Ended = opt.clock()
	run.Created, run.Updated, run.Deleted, run.Conflicts, run.Errors = res.Created, res.Updated, res.Deleted, res.Conflicts, res.Errors
	if err != nil {
		run.Error = err.Error()
	}
	trace.Mark("run: finished")
	if ferr := store.FinishRun(run); ferr != nil && err == nil {
		err = fmt.Errorf("record the run: %w", ferr)
	}
	trace.Mark("run: recorded as finished")
	r.progressDone(err)
	return res, err
}

func (r *runner) progressDone(err error) {
	if r != nil && err == nil {
		r.progress("done", 1, 1)
	}
}

func (r *runner) do() error {
	// A killed run's batches of creates come back as pending rows, which
	// classify resolves by key. Not in a dry run, which writes nothing: its
	// plan may then show as creates records a real run links.
	if !r.opt.DryRun {
		if _, err := r.store.MaterializeIntents(r.pair.ID); err != nil {
			return fmt.Errorf("recover an interrupted run: %w", err)
		}
	}
	has, err := r.store.HasMappings(r.pair.ID)
	if err != nil {
		return err
	}
	r.noRows = !has
	r.progress("fetch", 0, 2)
	// The sides are independent until planning: fetch both at once, so one
	// side's listing (stat calls, HTTP) overlaps the other's reads.
	errs := make([]error, len(r.s))
	var wg sync.WaitGroup
	for i := range r.s {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.fetch(r.s[i])
		}()
	}
	wg.Wait()
	for _, err := range errs { // A's error first: one reason, one line
		if err != nil {
			return err
		}
	}
	r.progress("fetch", 2, 2)
	trace.Mark("fetch: both sides done")
	if err := r.emptyBrake(); err != nil {
		return err
	}
	if err := r.classify(); err != nil {
		return err
	}
	if err := r.planAll(); err != nil {
		return err
	}
	if err := r.shareBrake(); err != nil {
		return err
	}
	trace.Mark("plan: %d units", len(r.units))
	if r.opt.DryRun {
		for _, u := range r.units {
			r.outcome(u, nil)
		}
		return nil
	}
	if err := r.apply(); err != nil {
		return err
	}
	trace.Mark("apply: done")
	if err := r.saveCursors(); err != nil {
		return err
	}
	r.refreshVersionSnapshots()
	return nil
}

// snapshotMinLogged: a side's version snapshot is rebuilt once more than
// this many changes (and an eighth of its size) were logged since; below,
// the next run looks the logged ids up again (~5 µs each) instead.
const snapshotMinLogged = 1000

// refreshVersionSnapshots keeps the stored-versions snapshot of each side
// that lists in full current enough (models/versions.go): a rebuild after
// a first sync or many changes, nothing after a small run. It is a cache
// (the log keeps it right), so a failure here loses nothing: the next run
// reads the rows, or the older snapshot and a longer log.
func (r *runner) refreshVersionSnapshots() {
	for _, s := range r.s {
		var err error
		if s.caps.Incremental {
			// it has a cursor, not a snapshot (one left from a vCard
			// folder it replaced would log every change for ever)
			err = r.store.DropVersionSnapshot(r.pair.ID, s.name)
		} else {
			err = r.store.RefreshVersionSnapshot(r.pair.ID, s.name, snapshotMinLogged)
		}
		if err != nil {
			trace.Mark("run: version snapshot of %s not refreshed: %v", s.name, err)
		}
	}
	trace.Mark("run: version snapshots current")
}

// listing is a side's Changes, started ahead (startListing).
type listing struct {
	done chan struct{}
	ch   connector.Changes
	err  error
}

func startListing(ctx context.Context, c connector.Connector, cursor string) *listing {
	l := &listing{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.ch, l.err = c.Changes(ctx, cursor)
	}()
	return l
}

// startReadAll lists a side and reads every record with it (see
// connector.FullReader); fetch takes the records from the items.
func startReadAll(ctx context.Context, c connector.FullReader) *listing {
	l := &listing{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.ch, l.err = c.ReadAll(ctx)
	}()
	return l
}

func (l *listing) wait() (connector.Changes, error) {
	<-l.done
	return l.ch, l.err
}

func sideErr(s *sideState, what string, err error) error {
	return fmt.Errorf("%s (%s): %s: %w", s.label, strings.ToUpper(s.name), what, err)
}

// fetch lists a side's changes and reads the records that need a decision.
func (r *runner) fetch(s *sideState) error {
	pid := r.pair.ID
	// A listing that will be full needs every stored version: read them
	// while the side lists (the store and the side's files or network work
	// at once).
	type stored struct {
		v   map[string]string
		err error
	}
	var early chan stored
	if !s.caps.Incremental || s.cursor == "" {
		early = make(chan stored, 1)
		go func() {
			v, err := r.store.SideVersions(pid, s.name)
			trace.Mark("fetch %s: %d stored versions", s.name, len(v))
			early <- stored{v, err}
		}()
	}
	var ch connector.Changes
	var err error
	if s.listing != nil {
		ch, err = s.listing.wait()
	} else {
		ch, err = s.conn.Changes(r.ctx, s.cursor)
	}
	trace.Mark("fetch %s: listed %d items", s.name, len(ch.Items))
	var prior stored
	if early != nil {
		prior = <-early
	}
	if err != nil {
		return sideErr(s, "list changes", err)
	}
	s.ch = ch
	var need []connector.Item            // items whose content is needed
	var known map[string]*models.Mapping // incremental: the listed records' rows
	if ch.Full {
		if early == nil { // an incremental side fell back to a full listing
			prior.v, prior.err = r.store.SideVersions(pid, s.name)
		}
		if prior.err != nil {
			return prior.err
		}
		s.versions = prior.v
		s.mappedCnt = len(s.versions)
		listed := 0 // listed items that have a stored version
		for _, it := range ch.Items {
			if it.Deleted {
				continue
			}
			v, ok := s.versions[it.ID]
			if ok {
				listed++
			}
			if !ok || v != it.Version || it.Version == "" {
				need = append(need, it)
			}
		}
		if listed != len(s.versions) {
			// Some stored record was not listed (ids are listed once
			// each): find which, without a set of 10,000 ids on every run.
			seen := make(map[string]bool, len(ch.Items))
			for _, it := range ch.Items {
				if !it.Deleted {
					seen[it.ID] = true
				}
			}
			for id := range s.versions {
				if !seen[id] {
					s.deleted = append(s.deleted, id)
				}
			}
			sort.Strings(s.deleted)
		}
	} else {
		s.mappedCnt = -1
		var ids []string
		for _, it := range ch.Items {
			if it.Deleted {
				s.deleted = append(s.deleted, it.ID)
			} else {
				ids = append(ids, it.ID)
			}
		}
		known, err = r.sideMappings(s, ids)
		if err != nil {
			return err
		}
		for _, it := range ch.Items {
			if it.Deleted {
				continue
			}
			if m := known[it.ID]; m != nil && it.Version != "" && sideVersion(m, s.idx) == it.Version {
				continue // our own write, or nothing new
			}
			need = append(need, it)
		}
	}
	var toGet []string
	var listed []*connector.Record // read with the listing
	for _, it := range need {
		if it.Record != nil {
			listed = append(listed, it.Record)
		} else {
			toGet = append(toGet, it.ID)
		}
	}
	for k, rc := range r.convertAll(s, listed) {
		s.recs[listed[k].ID] = rc
	}
	got, err := r.get(s, toGet)
	if err != nil {
		return err
	}
	trace.Mark("fetch %s: read %d records", s.name, len(toGet))
	for _, id := range toGet {
		if rc := got[id]; rc != nil {
			s.recs[id] = rc
		} else {
			// Listed but gone before we could read it: decide next run.
			s.held = true
		}
	}
	// classify needs the rows of the records and deletions next: look up
	// those not known yet now, while the other side may still be listing
	// (an incremental side read its listed records' rows above).
	lookup := make([]string, 0, len(s.recs)+len(s.deleted))
	if known == nil {
		for id := range s.recs {
			lookup = append(lookup, id)
		}
	}
	s.rows, err = r.sideMappings(s, append(lookup, s.deleted...))
	if err != nil {
		return err
	}
	for id, m := range known {
		s.rows[id] = m
	}
	return nil
}

// get reads records by id in batches and converts them.
func (r *runner) get(s *sideState, ids []string) (map[string]*rec, error) {
	out := make(map[string]*rec, len(ids))
	for start := 0; start < len(ids); start += getBatch {
		end := min(start+getBatch, len(ids))
		recs, err := s.conn.Get(r.ctx, ids[start:end])
		if err != nil {
			return nil, sideErr(s, "read records", err)
		}
		for _, cr := range recs {
			out[cr.ID] = r.convert(s, cr)
		}
	}
	return out, nil
}

// convertAll converts records, on every core when there are many (a first
// sync's 10,000, read with the listing: ~16 ms on one core). convert only
// reads the runner and the side.
func (r *runner) convertAll(s *sideState, recs []*connector.Record) []*rec {
	out := make([]*rec, len(recs))
	forChunks(len(recs), func(lo, hi int) {
		for k := lo; k < hi; k++ {
			out[k] = r.convert(s, *recs[k])
		}
	})
	return out
}

// forChunks calls fn on consecutive chunks of [0, n) of parallelChunk
// items, on as many goroutines as there are cores and at least a chunk for
// each, or on this one for fewer.
func forChunks(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/parallelChunk)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(parallelChunk)) - parallelChunk
				if lo >= n {
					return
				}
				fn(lo, min(lo+parallelChunk, n))
			}
		}()
	}
	wg.Wait()
}

// parallelChunk: items a goroutine of forChunks takes at a time.
const parallelChunk = 512

// convert turns a native record into canonical values.
func (r *runner) convert(s *sideState, cr connector.Record) *rec {
	rc := &rec{id: cr.ID, version: cr.Version, modified: cr.Modified}
	if cr.Err != nil {
		// The connector's error already names the record and what is wrong.
		rc.err = fmt.Errorf("%s: %v", s.label, cr.Err)
		return rc
	}
	rc.vals = make(map[string]string, len(r.pair.Fields))
	for _, f := range r.pair.Fields {
		v, err := s.toC[f.Name].ToCanonical(cr.Fields[s.native[f.Name]])
		if err != nil {
			rc.err = fmt.Errorf("record %s of %s, field %q (%s): %v", cr.ID, s.label, f.Name, s.native[f.Name], err)
			return rc
		}
		rc.vals[f.Name] = v
	}
	rc.key = normKey(rc.vals[r.pair.Key])
	if rc.key == "" {
		rc.key = contentKey(r.pair.Fields, rc.vals)
	}
	return rc
}

// contentPrefix marks a key made from a record's content.
const contentPrefix = "content:"

// contentKey stands in for an empty key: a digest of the values of the
// fields that are written both ways (the ones a created copy carries). Two
// records with no key but the same content match, and a pending create of
// a keyless record can still be found after a crash, so it is never made
// twice. A record with no such values at all has no key.
func contentKey(fields []models.Field, vals map[string]string) string {
	h := sha256.New()
	empty := true
	for _, f := range fields {
		if f.Direction != "" && f.Direction != models.DirBoth {
			continue
		}
		v := strings.TrimSpace(vals[f.Name])
		empty = empty && v == ""
		fmt.Fprintf(h, "%s\x00%s\x00", f.Name, v)
	}
	if empty {
		return ""
	}
	return contentPrefix + hex.EncodeToString(h.Sum(nil))[:16]
}

// describeKey names a key in messages.
func describeKey(k string) string {
	if strings.HasPrefix(k, contentPrefix) {
		return "content (and no key value)"
	}
	return fmt.Sprintf("key %q", k)
}

func normKey(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

func sideID(m *models.Mapping, i int) string {
	if i == sb {
		return m.BID
	}
	return m.AID
}

func setSideID(m *models.Mapping, i int, id string) {
	if i == sb {
		m.BID = id
	} else {
		m.AID = id
	}
}

func sideVersion(m *models.Mapping, i int) string {
	if i == sb {
		return m.BVersion
	}
	return m.AVersion
}

func setSideVersion(m *models.Mapping, i int, v string) {
	if i == sb {
		m.BVersion = v
	} else {
		m.AVersion = v
	}
}

func sideIndex(name string) int {
	if name == models.SideB {
		return sb
	}
	return sa
}

// emptyBrake refuses a run where a side listed nothing while it has mapped records.
func (r *runner) emptyBrake() error {
	if r.opt.ForceDelete {
		return nil
	}
	for _, s := range r.s {
		if s.ch.Full && len(s.ch.Items) == 0 && len(s.versions) > 0 {
			ids := make([]string, 0, len(s.versions))
			for id := range s.versions {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			return &BrakeError{
				Reason: fmt.Sprintf("%s came back empty while %s mapped; nothing was deleted. Run with --force-delete (or allow it in the app) if that is intended.",
					s.label, records(len(s.versions))),
				Side: r.s[1-s.idx].name, WouldDelete: nil,
			}
		}
	}
	return nil
}

// shareBrake refuses a plan that deletes too large a share of a side.
func (r *runner) shareBrake() error {
	if r.opt.ForceDelete {
		return nil
	}
	share := r.pair.BrakeShare
	if share <= 0 {
		share = 0.25
	}
	for _, s := range r.s {
		var ids []string
		for _, u := range r.units {
			if u.kind == kindDelete && u.side == s.idx {
				ids = append(ids, sideID(u.row, s.idx))
			}
		}
		if len(ids) == 0 {
			continue
		}
		total := s.mappedCnt
		if total < 0 {
			n, err := r.store.CountSide(r.pair.ID, s.name)
			if err != nil {
				return err
			}
			total = n
		}
		if float64(len(ids)) > share*float64(total) {
			sort.Strings(ids)
			return &BrakeError{
				Reason: fmt.Sprintf("The run would delete %s of %s records in %s (more than %s%%); nothing was deleted. Run with --force-delete (or allow it in the app) if that is intended.",
					thousands(len(ids)), thousands(total), s.label, strconv.FormatFloat(share*100, 'f', -1, 64)),
				Side: s.name, WouldDelete: ids,
			}
		}
	}
	return nil
}

func records(n int) string {
	if n == 1 {
		return "1 record is"
	}
	return thousands(n) + " records are"
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// saveCursors advances the cursors once everything else is committed.
func (r *runner) saveCursors() error {
	cur := [2]string{r.pair.CursorA, r.pair.CursorB}
	for i, s := range r.s {
		if s.held && s.caps.Incremental {
			continue
		}
		cur[i] = s.ch.Cursor
		// Past our own writes, so the next run does not list them back; only
		// after a run without record errors (a failed unit must be listed
		// again to be retried).
		if adv, ok := s.conn.(connector.CursorAdvancer); ok && r.res.Errors == 0 && cur[i] != "" {
			cur[i] = adv.AdvanceCursor(r.ctx, cur[i])
		}
	}
	if err := r.store.SaveCursors(r.pair.ID, cur[0], cur[1]); err != nil {
		return err
	}
	r.pair.CursorA, r.pair.CursorB = cur[0], cur[1]
	return nil
}

// isStop tells whether an error stops the whole run.
func isStop(err error) bool {
	return errors.Is(err, connector.ErrAuth) || errors.Is(err, connector.ErrUnreachable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func timeNow() time.Time { return time.Now() }
