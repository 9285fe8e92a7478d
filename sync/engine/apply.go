package engine

import (
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/sync/trace"
)

// apply carries out the plan: bookkeeping-only units first, then each
// side's creates (intent committed before each batch) and updates/deletes,
// in batches, committing every unit as soon as its last write returned.
func (r *runner) apply() error {
	total := 0
	var quiet []*unit
	for _, u := range r.units {
		n := 0
		for i := range u.ws {
			if u.ws[i] == wPending {
				n++
			}
		}
		if n == 0 {
			quiet = append(quiet, u)
		}
		total += n
	}
	if err := r.commitAll(quiet); err != nil {
		return err
	}
	var batches []batch
	for i, s := range r.s {
		size := s.caps.MaxBatch
		if size <= 0 {
			size = defaultBatch
		}
		var creates, others []*unit
		for _, u := range r.units {
			if u.ws[i] != wPending || u.err != nil || u.retry {
				continue
			}
			if u.w[i].Op == connector.OpCreate {
				creates = append(creates, u)
			} else {
				others = append(others, u)
			}
		}
		for _, list := range [][]*unit{creates, others} {
			for start := 0; start < len(list); start += size {
				batches = append(batches, batch{s, list[start:min(start+size, len(list))]})
			}
		}
	}
	// The last batch's rows are stored after its writes, with nothing
	// left to overlap: a quarter of a batch keeps that short.
	if k := len(batches) - 1; k > 0 && len(batches[k].us) >= 4*minTailBatch {
		last := batches[k]
		cut := len(last.us) - len(last.us)/4
		batches = append(batches[:k], batch{last.s, last.us[:cut]}, batch{last.s, last.us[cut:]})
	}
	r.progress("apply", 0, total)
	if err := r.pipeline(batches, total); err != nil {
		return err
	}
	for _, u := range r.units {
		if !u.retry {
			continue
		}
		if err := r.retryUnit(u); err != nil {
			return err
		}
		if err := r.commitAll([]*unit{u}); err != nil {
			return err
		}
	}
	var rest []*unit
	for _, u := range r.units {
		if !u.committed {
			rest = append(rest, u)
		}
	}
	return r.commitAll(rest)
}

// minTailBatch: a last batch is split (see apply) only when its last
// quarter would hold at least this many units.
const minTailBatch = 64

// batch is one Apply call's worth of units for one side.
type batch struct {
	s  *sideState
	us []*unit
}

func (b batch) creates() bool { return b.us[0].w[b.s.idx].Op == connector.OpCreate }

// pipeline writes the batches in order while the store records, in the
// background, the previous batch's outcome and the next batch's intent:
// one batch's file or network writes overlap its neighbours' SQLite work
// (two cores both busy instead of taking turns).
//
// Crash safety is unchanged: a batch of creates is written only after its
// intent is committed (it is committed one batch ahead), and a unit's
// outcome is committed after its writes returned. A kill leaves at worst
// intents, which the next run turns into pending rows and resolves by key.
//
// Everything that touches units and rows runs on this goroutine; the
// background goroutine only hands prepared rows to the store, while this
// one only waits on the connector.
func (r *runner) pipeline(batches []batch, total int) error {
	if len(batches) == 0 {
		return nil
	}
	if tx := r.intentTx(batches[0]); tx != nil {
		if err := r.store.Write(tx); err != nil {
			return err
		}
	}
	done := 0
	var finished []*unit // the previous batch's, not yet committed
	for n, b := range batches {
		var txs []func(*gorm.DB) error
		if tx := r.commitTx(finished); tx != nil {
			txs = append(txs, tx)
		}
		if n+1 < len(batches) {
			if tx := r.intentTx(batches[n+1]); tx != nil {
				txs = append(txs, tx)
			}
		}
		// Beside the writes of the last batch but one, the version
		// snapshots are brought up to date: the triggers then log the rows
		// of the last two batches, and the refresh after the run finds
		// little to do. A first sync of 10,000 cards rebuilt both sides'
		// at its very end: its tail after the last writes went ~57 ->
		// ~25 ms; the next run looks up the 1,000 logged ids per side
		// instead (a no-change sync ~33 -> ~41 ms).
		snapshots := n > 0 && n == len(batches)-2
		bg := make(chan error, 1)
		go func() {
			for _, tx := range txs {
				if err := r.store.Write(tx); err != nil {
					bg <- err
					return
				}
			}
			if snapshots {
				r.refreshVersionSnapshots()
			}
			bg <- nil
		}()
		i := b.s.idx
		// A unit that failed or must retry on an earlier batch's side
		// (an update of both sides) is no longer written here.
		us := b.us[:0:0]
		for _, u := range b.us {
			if u.ws[i] == wPending && u.err == nil && !u.retry {
				us = append(us, u)
			}
		}
		writes := make([]connector.Write, len(us))
		for k, u := range us {
			writes[k] = *u.w[i]
		}
		trace.Mark("apply %s: write %d", b.s.name, len(writes))
		var results []connector.Result
		var err error
		if len(writes) > 0 {
			results, err = b.s.conn.Apply(r.ctx, writes)
		}
		trace.Mark("apply %s: written", b.s.name)
		if bgErr := <-bg; bgErr != nil {
			return bgErr
		}
		if err != nil {
			return sideErr(b.s, "write", err)
		}
		if len(results) != len(writes) {
			return sideErr(b.s, "write", fmt.Errorf("%d results for %d writes", len(results), len(writes)))
		}
		finished = finished[:0:0]
		for k, u := range us {
			r.handleResult(b.s, u, results[k])
			if u.finished() {
				finished = append(finished, u)
			}
		}
		done += len(b.us)
		r.progress("apply", done, total)
	}
	defer trace.Mark("apply: last batch stored")
	return r.commitAll(finished)
}

// intentTx records, before a batch of creates is written, what the batch
// will create: one Intent row listing the new records' source ids and keys
// (a reused row, an earlier error's, is marked pending instead). A crash
// after the writes then cannot cause a duplicate: the next run turns the
// intent into pending rows and finds the records by key. nil for other
// batches.
func (r *runner) intentTx(b batch) func(*gorm.DB) error {
	if !b.creates() {
		return nil
	}
	r.intentSeq++
	seq := r.intentSeq
	var entries []models.IntentEntry
	var reused []*models.Mapping
	for _, u := range b.us {
		m := u.row
		m.State = models.StatePending
		m.PendingSide = b.s.name
		m.Key = u.rec[u.src].key
		if m.ID != 0 {
			reused = append(reused, m)
			continue
		}
		entries = append(entries, models.IntentEntry{SourceID: sideID(m, u.src), Key: m.Key})
		u.intent = seq
	}
	if len(entries) > 0 {
		r.intentLeft[seq] = len(entries)
	}
	runID, pairID, side := r.runID(), r.pair.ID, b.s.name
	return func(tx *gorm.DB) error {
		if len(entries) > 0 {
			if err := models.AddIntent(tx, runID, seq, pairID, side, entries); err != nil {
				return err
			}
		}
		return saveRows(tx, reused)
	}
}

// runID is the run's row id (0 for Resolve, which records no run).
func (r *runner) runID() uint {
	if r.run == nil {
		return 0
	}
	return r.run.ID
}

func (u *unit) finished() bool {
	if u.retry {
		return false
	}
	return u.ws[sa] != wPending && u.ws[sb] != wPending
}

func (r *runner) handleResult(s *sideState, u *unit, res connector.Result) {
	i := s.idx
	w := u.w[i]
	if res.Err == nil && w.Op == connector.OpCreate && res.Record.ID == "" {
		res.Err = fmt.Errorf("%s returned no id for the new record", s.label)
	}
	if res.Err == nil {
		u.ws[i] = wDone
		u.ver[i] = res.Record.Version
		if w.Op == connector.OpCreate {
			setSideID(u.row, i, res.Record.ID)
		}
		return
	}
	var exists *connector.AlreadyExistsError
	switch {
	case w.Op == connector.OpCreate && errors.As(res.Err, &exists) && exists.ExistingID != "" && !u.retried:
		u.exists = exists.ExistingID
		u.retry = true
	case w.Op == connector.OpUpdate && errors.Is(res.Err, connector.ErrVersionMismatch) && !u.retried:
		u.retry = true
	case w.Op == connector.OpDelete && errors.Is(res.Err, connector.ErrNotFound):
		u.ws[i] = wDone
		return
	default:
		var sides []int
		switch u.kind {
		case kindCreate:
			sides = []int{u.src}
		case kindDelete:
			sides = []int{1 - i}
		default:
			for j := range u.rec {
				if u.rec[j] != nil {
					sides = append(sides, j)
				}
			}
		}
		u.fail(fmt.Errorf("%s %s on %s: %v", w.Op, orNew(w.ID), s.label, res.Err), sides...)
	}
	u.ws[i] = wNone
	for j := range u.ws {
		if u.ws[j] == wPending {
			u.ws[j] = wNone
		}
	}
}

func orNew(id string) string {
	if id == "" {
		return "of a new record"
	}
	return "of " + id
}

// retryUnit handles a 412 (read both sides again, merge again, write once
// more) or an AlreadyExists on create (link to the existing record).
func (r *runner) retryUnit(u *unit) error {
	// A side already written in this unit now holds the merged values of
	// the fields written to it. Merge again against those values, or they
	// would look like that side's own edits and fight the newest change
	// that made the other side's write fail.
	for i := range u.ws {
		if u.ws[i] != wDone || u.w[i] == nil || u.w[i].Op != connector.OpUpdate {
			continue
		}
		base := make(map[string]string, len(u.row.Base)+len(u.wf[i]))
		for k, v := range u.row.Base {
			base[k] = v
		}
		for _, f := range u.wf[i] {
			base[f] = u.newBase[f]
		}
		u.row.Base = base
		setSideVersion(u.row, i, u.ver[i])
	}
	u.retry, u.retried = false, true
	u.w, u.ws, u.wf, u.ver = [2]*connector.Write{}, [2]int{}, [2][]string{}, [2]string{}
	if u.exists != "" {
		t := u.side
		s := r.s[t]
		got, err := r.get(s, []string{u.exists})
		if err != nil {
			return err
		}
		ex := got[u.exists]
		if ex == nil || ex.err != nil {
			u.fail(fmt.Errorf("%s says the record already exists as %s, which cannot be read", s.label, u.exists), u.src)
			return nil
		}
		other, err := r.store.SideMappings(r.pair.ID, s.name, []string{u.exists})
		if err != nil {
			return err
		}
		if m := other[u.exists]; m != nil && m.ID != u.row.ID {
			u.fail(fmt.Errorf("%s says the record already exists as %s, which is mapped to another record", s.label, u.exists), u.src)
			return nil
		}
		setSideID(u.row, t, ex.id)
		u.rec[t] = ex
		u.gone[t] = false // it exists after all: link, do not plan the create again
		u.first = true
		u.detail = "already existed on " + s.label + ": linked"
	} else {
		for i, s := range r.s {
			id := sideID(u.row, i)
			got, err := r.get(s, []string{id})
			if err != nil {
				return err
			}
			rc := got[id]
			if rc == nil {
				u.fail(fmt.Errorf("record %s of %s: %w", id, s.label, errVanished), i)
				return nil
			}
			u.rec[i] = rc
		}
	}
	u.kind = ""
	r.plan(u)
	if u.kind != kindSync {
		return nil
	}
	for i, s := range r.s {
		if u.ws[i] != wPending {
			continue
		}
		res, err := s.conn.Apply(r.ctx, []connector.Write{*u.w[i]})
		if err != nil {
			return sideErr(s, "write", err)
		}
		if len(res) != 1 {
			return sideErr(s, "write", fmt.Errorf("%d results for 1 write", len(res)))
		}
		r.handleResult(s, u, res[0])
		if u.err != nil {
			return nil
		}
		if u.retry { // a second mismatch: give up on this record for now
			u.retry = false
			u.fail(fmt.Errorf("update of %s on %s: %w (changed again while syncing)", sideID(u.row, i), s.label, connector.ErrVersionMismatch), i, 1-i)
			return nil
		}
	}
	return nil
}

// saveRows inserts new rows and updates existing ones.
func saveRows(tx *gorm.DB, rows []*models.Mapping) error {
	var fresh, old []*models.Mapping
	for _, m := range rows {
		if m.ID == 0 {
			fresh = append(fresh, m)
		} else {
			old = append(old, m)
		}
	}
	if err := models.SaveMappings(tx, old); err != nil {
		return err
	}
	return models.SaveMappings(tx, fresh)
}

// commitAll records the outcome of finished units in transactions of
// commitChunk units.
func (r *runner) commitAll(us []*unit) error {
	for start := 0; start < len(us); start += commitChunk {
		if tx := r.commitTx(us[start:min(start+commitChunk, len(us))]); tx != nil {
			if err := r.store.Write(tx); err != nil {
				return err
			}
		}
	}
	return nil
}

// commitTx works out the finished units' outcome now (counts, rows,
// events) and returns the transaction that stores it, or nil when there is
// nothing to store.
func (r *runner) commitTx(us []*unit) func(*gorm.DB) error {
	var saves []*models.Mapping
	var dels []uint
	var events []models.Event
	var intents []int // recorded in full by this transaction
	for _, u := range us {
		if u.committed {
			continue
		}
		u.committed = true
		if u.intent != 0 {
			if r.intentLeft[u.intent]--; r.intentLeft[u.intent] == 0 {
				intents = append(intents, u.intent)
			}
		}
		sv, dl, ev := r.outcome(u, r.run)
		saves = append(saves, sv...)
		dels = append(dels, dl...)
		events = append(events, ev...)
	}
	if len(saves) == 0 && len(dels) == 0 && len(events) == 0 && len(intents) == 0 {
		return nil
	}
	runID := r.runID()
	return func(tx *gorm.DB) error {
		if err := models.DeleteMappings(tx, dels); err != nil {
			return err
		}
		if err := saveRows(tx, saves); err != nil {
			return err
		}
		if err := models.AddEvents(tx, events); err != nil {
			return err
		}
		return models.DeleteIntents(tx, runID, intents)
	}
}

// outcome turns a decided (and, unless dry, applied) unit into actions,
// counts, row changes and events.
func (r *runner) outcome(u *unit, run *models.Run) (saves []*models.Mapping, dels []uint, events []models.Event) {
	dry := r.opt.DryRun
	m := u.row
	act := func(a Action) {
		if a.AID == "" && m != nil {
			a.AID = m.AID
		}
		if a.BID == "" && m != nil {
			a.BID = m.BID
		}
		r.res.Actions = append(r.res.Actions, a)
		if !dry {
			var runID uint
			if run != nil {
				runID = run.ID
			}
			e := models.Event{RunID: runID, PairID: r.pair.ID, At: r.now, AID: a.AID, BID: a.BID, Side: a.Side,
				Action: a.Kind, Fields: strings.Join(a.Fields, ",")}
			if a.Kind == "error" {
				e.Error = a.Detail
			}
			events = append(events, e)
		}
	}
	dropRow := func(x *models.Mapping) {
		if x != nil && x.ID != 0 {
			dels = append(dels, x.ID)
		}
	}
	for _, d := range u.drop {
		dropRow(d)
	}
	written := func(i int) bool { return u.ws[i] == wDone || dry && u.ws[i] == wPending }
	keepVersions := func() {
		for i := range u.rec {
			if written(i) && u.ver[i] != "" {
				setSideVersion(m, i, u.ver[i])
			} else if written(i) && dry {
				continue
			} else if u.rec[i] != nil {
				setSideVersion(m, i, u.rec[i].version)
			}
		}
	}
	ok := func() {
		m.State = models.StateOK
		m.LastError = ""
		m.PendingSide = ""
		m.SyncedAt = r.now
		m.Base = u.newBase
		// A content key only serves until the record is mapped.
		if k := normKey(u.newBase[r.pair.Key]); k != "" || strings.HasPrefix(m.Key, contentPrefix) {
			m.Key = k
		}
		saves = append(saves, m)
	}
	switch u.kind {
	case kindSync:
		if u.first {
			act(Action{Kind: "link", Detail: u.detail})
		}
		for i := range r.s {
			if written(i) {
				r.res.Updated++
				act(Action{Kind: "update", Side: sideNames[i], Fields: u.wf[i], Detail: u.detail})
			}
		}
		keepVersions()
		ok()
	case kindCreate:
		t := u.side
		if !dry {
			setSideVersion(m, t, u.ver[t])
		}
		setSideVersion(m, u.src, u.rec[u.src].version)
		r.res.Created++
		act(Action{Kind: "create", Side: sideNames[t], Fields: u.wf[t], Detail: u.detail})
		ok()
	case kindDelete:
		r.res.Deleted++
		act(Action{Kind: "delete", Side: sideNames[u.side]})
		dropRow(m)
	case kindUnlink:
		x := u.side
		act(Action{Kind: "unlink", Detail: "deleted on " + r.s[x].label + "; the record on " + r.s[1-x].label + " is kept"})
		setSideID(m, x, "")
		setSideVersion(m, x, "")
		m.State, m.PendingSide, m.LastError = models.StateOK, "", ""
		saves = append(saves, m)
	case kindRemove:
		if m != nil && m.ID != 0 {
			act(Action{Kind: "unlink", Detail: u.detail})
			dropRow(m)
		}
	case kindConflict:
		r.res.Conflicts++
		act(Action{Kind: "conflict", Fields: u.conflicts, Detail: u.detail})
		keepVersions()
		if u.first && m.Base == nil {
			m.Base = map[string]string{}
		}
		m.State, m.LastError, m.PendingSide = models.StateConflict, u.detail, ""
		saves = append(saves, m)
	case kindError:
		r.res.Errors++
		held := false
		for i, h := range u.errSides {
			if h {
				r.s[i].held = true
				held = true
			}
		}
		if !held {
			for i := range u.rec {
				if u.rec[i] != nil {
					r.s[i].held = true
				}
			}
		}
		msg := u.err.Error()
		act(Action{Kind: "error", Detail: msg})
		if m != nil {
			m.State, m.LastError, m.PendingSide = models.StateError, msg, ""
			saves = append(saves, m)
		}
	case kindConfirm:
		x := u.side
		act(Action{Kind: "confirm-delete", Side: sideNames[1-x], Detail: "deleted on " + r.s[x].label + "; waiting for a person to allow the delete on " + r.s[1-x].label})
		m.State, m.PendingSide, m.LastError = models.StateDeletePending, sideNames[x], ""
		saves = append(saves, m)
	case kindTouch:
		keepVersions()
		saves = append(saves, m)
	}
	if dry {
		return nil, nil, nil
	}
	return saves, dels, events
}
