// Package memory is an in-memory connector for tests of the sync engine, the
// UI and the CLI. It is not registered as a kind: tests build it with New.
//
// It keeps a thread-safe map of records (id -> native fields, a version and
// a modification time), lists changes since a cursor (a position in its
// change log; deletions are reported as Deleted items), honours conditional
// writes when asked to, finds records by field value, and offers fault
// injection (failing record ids, failing whole calls, a hook run before each
// Apply) and write counters.
package memory

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem/sync/connector"
)

// Options configure a memory connector.
type Options struct {
	Name        string // used in ids ("<name>-1"); default "m"
	Incremental bool   // Changes honours a cursor; otherwise every listing is Full
	Conditional bool   // Apply honours Write.Version
	MaxBatch    int    // reported in Capabilities
	// IDsOnly makes Changes list ids and versions without records, so the
	// engine has to call Get.
	IDsOnly bool
	// UniqueField, if set, makes a create fail with AlreadyExistsError when
	// a record with the same (case-insensitive, trimmed) value exists.
	UniqueField string
	// Now is the clock for Modified; nil = time.Now.
	Now func() time.Time
}

type rec struct {
	fields    map[string]string
	version   int64
	modified  time.Time
	malformed bool
}

type change struct {
	id      string
	deleted bool
}

// Conn is an in-memory system. All methods are safe for concurrent use.
type Conn struct {
	mu     sync.Mutex
	opts   Options
	recs   map[string]*rec
	log    []change // change log; a cursor is a position in it
	seq    int64
	nextID int

	failIDs     map[string]error
	failCalls   error
	failApply   error
	beforeApply func(writes []connector.Write)

	writes  map[connector.Op]int
	changes int
	gets    int
	applies int
	closed  bool
}

var _ connector.Connector = (*Conn)(nil)
var _ connector.KeyFinder = (*Conn)(nil)

// New returns an empty memory connector.
func New(opts Options) *Conn {
	if opts.Name == "" {
		opts.Name = "m"
	}
	return &Conn{opts: opts, recs: map[string]*rec{}, failIDs: map[string]error{}, writes: map[connector.Op]int{}}
}

func (c *Conn) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

// --- test helpers (they do not count as writes) ---

func (c *Conn) touch(id string, deleted bool) {
	c.seq++
	c.log = append(c.log, change{id: id, deleted: deleted})
	if r := c.recs[id]; r != nil && !deleted {
		r.version = c.seq
		r.modified = c.now()
	}
}

func copyFields(f map[string]string) map[string]string {
	out := make(map[string]string, len(f))
	for k, v := range f {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// Put creates or replaces the record id with fields.
func (c *Conn) Put(id string, fields map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs[id] = &rec{fields: copyFields(fields)}
	c.touch(id, false)
}

// Add creates a record with a fresh id and returns the id.
func (c *Conn) Add(fields map[string]string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.newID()
	c.recs[id] = &rec{fields: copyFields(fields)}
	c.touch(id, false)
	return id
}

// Set changes some fields of an existing record ("" clears); false if absent.
func (c *Conn) Set(id string, fields map[string]string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.recs[id]
	if r == nil {
		return false
	}
	for k, v := range fields {
		if v == "" {
			delete(r.fields, k)
		} else {
			r.fields[k] = v
		}
	}
	c.touch(id, false)
	return true
}

// SetModified overrides a record's modification time (for "newest" tests).
func (c *Conn) SetModified(id string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.recs[id]; r != nil {
		r.modified = t
	}
}

// SetMalformed marks a record unreadable: listings and Get return it with Err.
func (c *Conn) SetMalformed(id string, bad bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.recs[id]; r != nil {
		r.malformed = bad
		c.touch(id, false)
	}
}

// Remove deletes a record behind the engine's back.
func (c *Conn) Remove(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.recs[id]; !ok {
		return false
	}
	delete(c.recs, id)
	c.touch(id, true)
	return true
}

// Clear deletes every record.
func (c *Conn) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.recs {
		delete(c.recs, id)
		c.touch(id, true)
	}
}

// Record returns a copy of one record.
func (c *Conn) Record(id string) (connector.Record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.recs[id]
	if r == nil {
		return connector.Record{}, false
	}
	return c.record(id, r), true
}

// Fields returns a copy of one record's fields (nil if absent).
func (c *Conn) Fields(id string) map[string]string {
	r, ok := c.Record(id)
	if !ok {
		return nil
	}
	return r.Fields
}

// IDs lists the record ids, sorted.
func (c *Conn) IDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.recs))
	for id := range c.recs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Cursor returns the cursor Changes would return now (for seeding tests
// that start from an already synced state).
func (c *Conn) Cursor() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strconv.Itoa(len(c.log))
}

// Len counts the records.
func (c *Conn) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

// FindAll returns the ids whose field equals value (trimmed, case-insensitive).
func (c *Conn) FindAll(field, value string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id, r := range c.recs {
		if same(r.fields[field], value) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// --- fault injection and counters ---

// FailRecord makes every update or delete of id fail with err; nil clears.
// FailRecord("value:"+v, err) makes creates carrying the field value v fail.
func (c *Conn) FailRecord(id string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		delete(c.failIDs, id)
	} else {
		c.failIDs[id] = err
	}
}

// FailCalls makes Changes, Get, Apply, FindByField and Test fail with err
// (e.g. connector.ErrAuth, connector.ErrUnreachable); nil clears.
func (c *Conn) FailCalls(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failCalls = err
}

// FailApply makes only Apply fail as a whole with err; nil clears.
func (c *Conn) FailApply(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failApply = err
}

// BeforeApply sets a hook called (without the lock held) before each Apply,
// so a test can edit records behind the engine's back.
func (c *Conn) BeforeApply(fn func(writes []connector.Write)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.beforeApply = fn
}

// Writes returns how many writes of op succeeded.
func (c *Conn) Writes(op connector.Op) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[op]
}

// TotalWrites counts every successful write.
func (c *Conn) TotalWrites() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[connector.OpCreate] + c.writes[connector.OpUpdate] + c.writes[connector.OpDelete]
}

// Calls reports how many Changes, Get and Apply calls were made.
func (c *Conn) Calls() (changes, gets, applies int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changes, c.gets, c.applies
}

// ResetCounters zeroes the write and call counters.
func (c *Conn) ResetCounters() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = map[connector.Op]int{}
	c.changes, c.gets, c.applies = 0, 0, 0
}

// --- connector.Connector ---

// Capabilities reports the configured capabilities.
func (c *Conn) Capabilities() connector.Capabilities {
	return connector.Capabilities{Incremental: c.opts.Incremental, Conditional: c.opts.Conditional, MaxBatch: c.opts.MaxBatch}
}

func (c *Conn) newID() string {
	for {
		c.nextID++
		id := c.opts.Name + "-" + strconv.Itoa(c.nextID)
		if _, taken := c.recs[id]; !taken {
			return id
		}
	}
}

func (c *Conn) record(id string, r *rec) connector.Record {
	out := connector.Record{ID: id, Version: "v" + strconv.FormatInt(r.version, 10), Modified: r.modified}
	if r.malformed {
		out.Err = fmt.Errorf("%s: %w", id, connector.ErrInvalidRecord)
		return out
	}
	out.Fields = copyFields(r.fields)
	return out
}

func (c *Conn) item(id string, r *rec) connector.Item {
	rc := c.record(id, r)
	it := connector.Item{ID: id, Version: rc.Version}
	if !c.opts.IDsOnly {
		it.Record = &rc
	}
	return it
}

// Changes lists every record (cursor "" or not incremental) or what
// changed since the cursor, deletions included.
func (c *Conn) Changes(ctx context.Context, cursor string) (connector.Changes, error) {
	if err := ctx.Err(); err != nil {
		return connector.Changes{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changes++
	if c.failCalls != nil {
		return connector.Changes{}, c.failCalls
	}
	next := strconv.Itoa(len(c.log))
	pos, err := strconv.Atoi(cursor)
	if cursor == "" || !c.opts.Incremental || err != nil || pos > len(c.log) {
		ids := make([]string, 0, len(c.recs))
		for id := range c.recs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		out := connector.Changes{Full: true, Cursor: next, Items: make([]connector.Item, 0, len(ids))}
		for _, id := range ids {
			out.Items = append(out.Items, c.item(id, c.recs[id]))
		}
		return out, nil
	}
	out := connector.Changes{Cursor: next}
	seen := map[string]bool{}
	for i := len(c.log) - 1; i >= pos; i-- {
		id := c.log[i].id
		if seen[id] {
			continue
		}
		seen[id] = true
		if r := c.recs[id]; r != nil {
			out.Items = append(out.Items, c.item(id, r))
		} else {
			out.Items = append(out.Items, connector.Item{ID: id, Deleted: true})
		}
	}
	sort.Slice(out.Items, func(i, j int) bool { return out.Items[i].ID < out.Items[j].ID })
	return out, nil
}

// Get returns the records that exist among ids.
func (c *Conn) Get(ctx context.Context, ids []string) ([]connector.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	if c.failCalls != nil {
		return nil, c.failCalls
	}
	var out []connector.Record
	for _, id := range ids {
		if r := c.recs[id]; r != nil {
			out = append(out, c.record(id, r))
		}
	}
	return out, nil
}

// Apply performs writes; per-record failures are in the results.
func (c *Conn) Apply(ctx context.Context, writes []connector.Write) ([]connector.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	hook := c.beforeApply
	c.mu.Unlock()
	if hook != nil {
		hook(writes)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applies++
	if c.failCalls != nil {
		return nil, c.failCalls
	}
	if c.failApply != nil {
		return nil, c.failApply
	}
	out := make([]connector.Result, len(writes))
	for i, w := range writes {
		out[i] = c.apply(w)
		if out[i].Err == nil {
			c.writes[w.Op]++
		}
	}
	return out, nil
}

func (c *Conn) apply(w connector.Write) connector.Result {
	if w.Op != connector.OpCreate {
		if err := c.failIDs[w.ID]; err != nil {
			return connector.Result{Err: err}
		}
	}
	switch w.Op {
	case connector.OpCreate:
		if f := c.opts.UniqueField; f != "" && w.Fields[f] != "" {
			for id, r := range c.recs {
				if same(r.fields[f], w.Fields[f]) {
					return connector.Result{Err: &connector.AlreadyExistsError{ExistingID: id}}
				}
			}
		}
		for _, v := range w.Fields {
			if err := c.failIDs["value:"+v]; err != nil {
				return connector.Result{Err: err}
			}
		}
		id := c.newID()
		c.recs[id] = &rec{fields: copyFields(w.Fields)}
		c.touch(id, false)
		return connector.Result{Record: c.record(id, c.recs[id])}
	case connector.OpUpdate, connector.OpDelete:
		r := c.recs[w.ID]
		if r == nil {
			return connector.Result{Err: fmt.Errorf("%s: %w", w.ID, connector.ErrNotFound)}
		}
		if c.opts.Conditional && w.Version != "" && w.Version != "v"+strconv.FormatInt(r.version, 10) {
			return connector.Result{Err: fmt.Errorf("%s: %w", w.ID, connector.ErrVersionMismatch)}
		}
		if w.Op == connector.OpDelete {
			delete(c.recs, w.ID)
			c.touch(w.ID, true)
			return connector.Result{Record: connector.Record{ID: w.ID}}
		}
		for k, v := range w.Fields {
			if v == "" {
				delete(r.fields, k)
			} else {
				r.fields[k] = v
			}
		}
		c.touch(w.ID, false)
		return connector.Result{Record: c.record(w.ID, r)}
	}
	return connector.Result{Err: fmt.Errorf("unknown write op %d", w.Op)}
}

// FindByField returns the records whose field equals value (trimmed, case-insensitive).
func (c *Conn) FindByField(ctx context.Context, field, value string) ([]connector.Record, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failCalls != nil {
		return nil, c.failCalls
	}
	var out []connector.Record
	for id, r := range c.recs {
		if same(r.fields[field], value) {
			out = append(out, c.record(id, r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Test fails with the injected call error, if any.
func (c *Conn) Test(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failCalls
}

// Close marks the connector closed.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func same(a, b string) bool {
	return a != "" && strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}
