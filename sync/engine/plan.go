package engine

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"tandem/models"
	"tandem/sync/connector"
)

// Unit kinds: what a run does with one mapping row.
const (
	kindSync     = "sync"     // update either side (or nothing but bookkeeping)
	kindCreate   = "create"   // create on side
	kindDelete   = "delete"   // delete on side, drop the row
	kindUnlink   = "unlink"   // keep the survivor, one-sided row
	kindRemove   = "remove"   // drop the row (gone from both sides)
	kindConflict = "conflict" // manual policy
	kindError    = "error"    // per-record error
	kindConfirm  = "confirm"  // delete waits for a person
	kindSkip     = "skip"     // nothing at all
	kindTouch    = "touch"    // bookkeeping only (unlinked survivor's version)
)

// Write states per side.
const (
	wNone = iota
	wPending
	wDone
)

type unit struct {
	row   *models.Mapping
	drop  []*models.Mapping // rows merged into row, deleted when it is saved
	rec   [2]*rec
	gone  [2]bool
	first bool // first contact: merge against an empty base

	kind      string
	side      int // create/delete: the side written
	src       int // create: the side the values come from
	detail    string
	conflicts []string
	newBase   map[string]string
	w         [2]*connector.Write
	wf        [2][]string // canonical fields written per side
	ws        [2]int
	ver       [2]string // versions after the run
	err       error
	errSides  [2]bool
	retry     bool   // 412: read again and merge again
	exists    string // AlreadyExists: link to this id
	retried   bool
	committed bool
	intent    int               // the Intent (batch) this create was recorded in, 0 if none
	choice    map[string]string // Resolve: canonical field -> "a" or "b"
}

func (u *unit) fail(err error, sides ...int) {
	u.kind = kindError
	u.err = err
	for _, s := range sides {
		u.errSides[s] = true
	}
}

// addRow registers a row once, so two sides share one pointer.
func (r *runner) addRow(m *models.Mapping) *models.Mapping {
	if m == nil || m.ID == 0 {
		return m
	}
	if old := r.rows[m.ID]; old != nil {
		return old
	}
	r.rows[m.ID] = m
	return m
}

func (r *runner) unitFor(m *models.Mapping) *unit {
	if u := r.byRow[m.ID]; u != nil {
		return u
	}
	u := &unit{row: m, side: -1}
	r.byRow[m.ID] = u
	r.units = append(r.units, u)
	return u
}

func (r *runner) newUnit(m *models.Mapping) *unit {
	u := &unit{row: m, side: -1}
	if m != nil && m.ID != 0 {
		r.byRow[m.ID] = u
	}
	r.units = append(r.units, u)
	return u
}

func isLinked(m *models.Mapping) bool { return m.AID != "" && m.BID != "" }

// classify attaches this run's records and deletions to their mapping rows
// (looked up by fetch), resolves pending rows, and matches unmapped records
// by key.
func (r *runner) classify() error {
	pendingSrc := map[uint]*rec{}
	for _, s := range r.s {
		rows := s.rows // looked up by fetch
		recIDs := make([]string, 0, len(s.recs))
		for id := range s.recs {
			recIDs = append(recIDs, id)
		}
		sort.Strings(recIDs)
		for _, id := range recIDs {
			rc := s.recs[id]
			m := r.addRow(rows[id])
			switch {
			case m == nil:
				s.unmapped = append(s.unmapped, rc)
			case m.State == models.StatePending && !isLinked(m):
				pendingSrc[m.ID] = rc
			case isLinked(m):
				u := r.unitFor(m)
				u.rec[s.idx] = rc
			case m.State == models.StateOK:
				// An unlinked survivor (readable or not): remember its
				// version, nothing else.
				u := r.unitFor(m)
				u.rec[s.idx] = rc
				u.kind = kindTouch
			default: // one-sided error row: unmapped again, reusing the row
				rc.row = m
				s.unmapped = append(s.unmapped, rc)
			}
		}
		for _, id := range s.deleted {
			m := r.addRow(rows[id])
			if m == nil {
				continue
			}
			if m.State == models.StatePending && !isLinked(m) {
				continue // resolved below: its source is gone
			}
			u := r.unitFor(m)
			u.gone[s.idx] = true
			if !isLinked(m) {
				u.gone[1-s.idx] = true
			}
		}
	}
	if err := r.resolvePending(pendingSrc); err != nil {
		return err
	}
	if err := r.matchUnmapped(); err != nil {
		return err
	}
	return r.fetchOthers()
}

// sideMappings looks up the rows of a side's records by id (none to look
// for when the pair had no rows).
func (r *runner) sideMappings(s *sideState, ids []string) (map[string]*models.Mapping, error) {
	if r.noRows {
		return map[string]*models.Mapping{}, nil
	}
	return r.store.SideMappings(r.pair.ID, s.name, ids)
}

// resolvePending settles rows left pending by a crash: the record being
// created is looked for on its side by key; found -> link, else create again.
func (r *runner) resolvePending(pendingSrc map[uint]*rec) error {
	pend, err := r.store.PendingMappings(r.pair.ID, models.StatePending)
	if err != nil {
		return err
	}
	var rows []*models.Mapping
	var missing [2][]string
	for _, p := range pend {
		p = r.addRow(p)
		if isLinked(p) || r.byRow[p.ID] != nil {
			continue
		}
		t := sideIndex(p.PendingSide)
		sid := sideID(p, 1-t)
		if sid == "" || p.PendingSide == "" {
			u := r.unitFor(p)
			u.kind = kindRemove
			u.detail = "stale pending row"
			continue
		}
		rows = append(rows, p)
		if pendingSrc[p.ID] == nil && !contains(r.s[1-t].deleted, sid) {
			missing[1-t] = append(missing[1-t], sid)
		}
	}
	var got [2]map[string]*rec
	for i := range r.s {
		g, err := r.get(r.s[i], missing[i])
		if err != nil {
			return err
		}
		got[i] = g
	}
	for _, p := range rows {
		t := sideIndex(p.PendingSide)
		src := pendingSrc[p.ID]
		if src == nil {
			src = got[1-t][sideID(p, 1-t)]
		}
		found, err := r.findByKey(r.s[t], p.Key, p)
		if err != nil {
			return err
		}
		u := r.newUnit(p)
		switch {
		case src == nil:
			// The source is gone. A record created from it stays as an
			// unmapped record of its side (so nothing is lost).
			u.kind = kindRemove
			u.detail = "pending create whose source is gone"
			if found != nil && !r.isUnmapped(r.s[t], found.id) {
				r.s[t].unmapped = append(r.s[t].unmapped, found)
			}
		case found != nil:
			r.taken[t][found.id] = true
			r.consume(r.s[t], found, u)
			setSideID(p, t, found.id)
			u.rec[1-t], u.rec[t] = src, found
			u.first = true
		default:
			u.rec[1-t] = src
			u.kind = kindCreate
			u.side, u.src = t, 1-t
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r *runner) isUnmapped(s *sideState, id string) bool {
	for _, rc := range s.unmapped {
		if rc.id == id {
			return true
		}
	}
	return false
}

// consume takes an unmapped record of this run out of the unmapped list
// (it joins unit u); its own one-sided row is merged into u's row.
func (r *runner) consume(s *sideState, rc *rec, u *unit) {
	for i, x := range s.unmapped {
		if x.id == rc.id {
			s.unmapped = append(s.unmapped[:i], s.unmapped[i+1:]...)
			break
		}
	}
	if rc.row != nil && rc.row != u.row {
		u.drop = append(u.drop, rc.row)
		rc.row = nil
	}
}

// findByKey looks for an unmapped record with key on side s: through
// KeyFinder when the connector has it, else in this run's listing.
func (r *runner) findByKey(s *sideState, key string, self *models.Mapping) (*rec, error) {
	if key == "" {
		return nil, nil
	}
	for _, rc := range s.unmapped {
		if rc.key == key && rc.err == nil {
			return rc, nil
		}
	}
	// A full listing already read every unmapped record: a lookup would
	// find nothing more, at the price of reading the whole side again for
	// each pending row (after a crash, hundreds).
	if s.ch.Full {
		return nil, nil
	}
	kf, ok := s.conn.(connector.KeyFinder)
	if !ok || strings.HasPrefix(key, contentPrefix) { // a content key is no field value to look up
		return nil, nil
	}
	native, err := s.fromC[r.pair.Key].FromCanonical(key)
	if err != nil {
		return nil, nil
	}
	recs, err := kf.FindByField(r.ctx, s.native[r.pair.Key], native)
	if err != nil {
		if isStop(err) {
			return nil, sideErr(s, "find by key", err)
		}
		return nil, nil
	}
	ids := make([]string, 0, len(recs))
	for _, cr := range recs {
		ids = append(ids, cr.ID)
	}
	mapped, err := r.store.SideMappings(r.pair.ID, s.name, ids)
	if err != nil {
		return nil, err
	}
	for _, cr := range recs {
		if m := mapped[cr.ID]; m != nil && m.ID != self.ID || r.taken[s.idx][cr.ID] {
			continue
		}
		rc := r.convert(s, cr)
		if rc.err == nil && rc.key == key {
			return rc, nil
		}
	}
	return nil, nil
}

// matchUnmapped links unmapped records by key, reports duplicate keys and
// plans creates for the rest.
func (r *runner) matchUnmapped() error {
	first := [2]map[string]*rec{{}, {}}
	var rest [2][]*rec
	for i, s := range r.s {
		sort.Slice(s.unmapped, func(a, b int) bool { return s.unmapped[a].id < s.unmapped[b].id })
		for _, rc := range s.unmapped {
			switch {
			case rc.err != nil:
				u := r.newUnit(r.oneSided(i, rc))
				u.rec[i] = rc
				u.fail(rc.err, i)
			case rc.key == "":
				rest[i] = append(rest[i], rc)
			case first[i][rc.key] != nil:
				u := r.newUnit(r.oneSided(i, rc))
				u.rec[i] = rc
				u.fail(fmt.Errorf("duplicate: record %s of %s has the same %s as %s; it was not synced", rc.id, s.label, describeKey(rc.key), first[i][rc.key].id), i)
			default:
				first[i][rc.key] = rc
				rest[i] = append(rest[i], rc)
			}
		}
	}
	// Same key on both sides in this run: link.
	var left [2][]*rec
	for i := range r.s {
		for _, rc := range rest[i] {
			if rc.key == "" {
				left[i] = append(left[i], rc)
				continue
			}
			if i == sa {
				if other := first[sb][rc.key]; other != nil {
					r.link(rc, other, nil)
					delete(first[sb], rc.key)
					continue
				}
			} else if first[sb][rc.key] == nil {
				continue // linked above
			}
			left[i] = append(left[i], rc)
		}
	}
	// Against rows of earlier runs: unlinked survivors, error rows, rows
	// already mapped under that key.
	var keys []string
	for i := range left {
		for _, rc := range left[i] {
			if rc.key != "" {
				keys = append(keys, rc.key)
			}
		}
	}
	byKey := map[string][]*models.Mapping{}
	if len(keys) > 0 && !r.noRows {
		ms, err := r.store.MappingsByKey(r.pair.ID, keys)
		if err != nil {
			return err
		}
		for _, m := range ms {
			m = r.addRow(m)
			byKey[m.Key] = append(byKey[m.Key], m)
		}
	}
	type relink struct {
		rc *rec
		m  *models.Mapping
	}
	var relinks [2][]relink
	var getIDs [2][]string
	for i := range left {
		for _, rc := range left[i] {
			decided := false
			for _, m := range byKey[rc.key] {
				if m == rc.row || r.byRow[m.ID] != nil && r.byRow[m.ID].kind != kindTouch || m.State == models.StatePending {
					continue
				}
				if isLinked(m) {
					u := r.newUnit(r.oneSided(i, rc))
					u.rec[i] = rc
					u.fail(fmt.Errorf("duplicate: record %s of %s has the same %s as a mapped record (A %s, B %s); it was not synced", rc.id, r.s[i].label, describeKey(rc.key), m.AID, m.BID), i)
					decided = true
					break
				}
				if oid := sideID(m, 1-i); oid != "" && sideID(m, i) == "" {
					relinks[i] = append(relinks[i], relink{rc, m})
					getIDs[1-i] = append(getIDs[1-i], oid)
					decided = true
					break
				}
			}
			if !decided {
				u := r.newUnit(rc.row)
				u.rec[i] = rc
				u.kind = kindCreate
				u.side, u.src = 1-i, i
				if rc.key == "" {
					u.detail = "empty key: created without looking for a match"
				}
			}
		}
	}
	var got [2]map[string]*rec
	for i := range r.s {
		g, err := r.get(r.s[i], getIDs[i])
		if err != nil {
			return err
		}
		got[i] = g
	}
	for i := range relinks {
		for _, rl := range relinks[i] {
			other := got[1-i][sideID(rl.m, 1-i)]
			if other == nil || other.err != nil {
				u := r.newUnit(rl.rc.row)
				u.rec[i] = rl.rc
				u.kind = kindCreate
				u.side, u.src = 1-i, i
				continue
			}
			if u := r.byRow[rl.m.ID]; u != nil { // was a "touch" of the survivor
				u.kind = kindSkip
				delete(r.byRow, rl.m.ID)
			}
			other.row = rl.m
			if i == sa {
				r.link(rl.rc, other, rl.m)
			} else {
				r.link(other, rl.rc, rl.m)
			}
		}
	}
	return nil
}

// oneSided returns the row for a per-record error of an unmapped record.
func (r *runner) oneSided(i int, rc *rec) *models.Mapping {
	if rc.row != nil {
		return rc.row
	}
	m := &models.Mapping{PairID: r.pair.ID, Key: rc.key}
	setSideID(m, i, rc.id)
	rc.row = m
	return m
}

// link makes a first-contact unit of an A and a B record.
func (r *runner) link(ra, rb *rec, m *models.Mapping) {
	if m == nil {
		m = ra.row
	}
	if m == nil {
		m = rb.row
	}
	if m == nil {
		m = &models.Mapping{PairID: r.pair.ID}
	}
	u := r.newUnit(m)
	for _, rc := range []*rec{ra, rb} {
		if rc.row != nil && rc.row != m {
			u.drop = append(u.drop, rc.row)
		}
	}
	m.AID, m.BID = ra.id, rb.id
	m.Key = ra.key
	u.rec[sa], u.rec[sb] = ra, rb
	u.first = true
}

// fetchOthers reads the unchanged side of rows whose base cannot stand for
// it (conflict, error), and notes delete-pending rows' missing side.
func (r *runner) fetchOthers() error {
	var ids [2][]string
	var us [2][]*unit
	for _, u := range r.units {
		if u.kind != "" || u.row == nil || !isLinked(u.row) {
			continue
		}
		if u.row.State == models.StateDeletePending {
			u.gone[sideIndex(u.row.PendingSide)] = true
		}
		if u.row.State == models.StateOK || u.row.State == "" {
			continue
		}
		for i := range r.s {
			// Read the side the run has no record of: its values may differ
			// from the base (an unsettled conflict, a failed write), which
			// matters for a merge and for "edit beats delete".
			if u.rec[i] == nil && !u.gone[i] && (u.rec[1-i] != nil || u.gone[1-i]) {
				ids[i] = append(ids[i], sideID(u.row, i))
				us[i] = append(us[i], u)
			}
		}
	}
	for i := range r.s {
		got, err := r.get(r.s[i], ids[i])
		if err != nil {
			return err
		}
		for _, u := range us[i] {
			if rc := got[sideID(u.row, i)]; rc != nil {
				u.rec[i] = rc
			} else {
				u.gone[i] = true
			}
		}
	}
	return nil
}

// planAll decides every unit.
// planAll plans every unit. plan touches nothing but its unit (the
// runner's pair, sides and converters are only read), so a big run plans
// on every core, a chunk at a time: a first sync of 10,000 creates spent
// ~10-20 ms here on one.
func (r *runner) planAll() error {
	n := len(r.units)
	forChunks(n, func(lo, hi int) {
		for _, u := range r.units[lo:hi] {
			r.plan(u)
		}
	})
	r.progress("plan", n, n)
	return nil
}

func (r *runner) plan(u *unit) {
	switch u.kind {
	case kindError, kindRemove, kindSkip, kindTouch:
		return
	}
	for i := range u.rec {
		if u.rec[i] != nil && u.rec[i].err != nil {
			u.fail(u.rec[i].err, i)
			return
		}
	}
	if u.kind == kindCreate {
		r.planCreate(u, u.side, u.rec[u.src])
		return
	}
	if u.gone[sa] && u.gone[sb] {
		u.kind = kindRemove
		u.detail = "gone from both sides"
		return
	}
	for x := range u.gone {
		if !u.gone[x] {
			continue
		}
		y := 1 - x
		if u.rec[y] != nil && editedToward(r.pair.Fields, u.rec[y].vals, u.row.Base, x) {
			u.detail = "edited on " + r.s[y].label + " after it was deleted on " + r.s[x].label + ": the edit wins"
			r.planCreate(u, x, u.rec[y])
			return
		}
		if u.row.State == models.StateDeletePending && u.row.PendingSide == sideNames[x] {
			u.kind = kindSkip
			return
		}
		switch r.pair.Deletes {
		case models.DeleteIgnore:
			u.kind = kindUnlink
			u.side = x
		case models.DeleteConfirm:
			u.kind = kindConfirm
			u.side = x
		default:
			u.kind = kindDelete
			u.side = y
			u.w[y] = &connector.Write{Op: connector.OpDelete, ID: sideID(u.row, y), Version: r.version(u, y)}
			u.ws[y] = wPending
		}
		return
	}
	r.planSync(u)
}

func (r *runner) version(u *unit, i int) string {
	if u.rec[i] != nil {
		return u.rec[i].version
	}
	return sideVersion(u.row, i)
}

// editedToward reports whether vals differ from base in a field that may
// flow to side t. A survivor's local value of a one-way field it does not own
// (B's copy of an a-to-b field) is not an edit that should undo a delete.
func editedToward(fields []models.Field, vals, base map[string]string, t int) bool {
	for _, f := range fields {
		if canWrite(f, t) && vals[f.Name] != base[f.Name] {
			return true
		}
	}
	return false
}

func canWrite(f models.Field, side int) bool {
	switch f.Direction {
	case models.DirAToB:
		return side == sb
	case models.DirBToA:
		return side == sa
	}
	return true
}

// planCreate plans creating the record src on side t.
func (r *runner) planCreate(u *unit, t int, src *rec) {
	u.kind = kindCreate
	u.side, u.src = t, 1-t
	u.rec[1-t] = src
	u.rec[t] = nil
	s := r.s[t]
	fields := map[string]string{}
	base := map[string]string{}
	var wf []string
	for _, f := range r.pair.Fields {
		v := src.vals[f.Name]
		if !canWrite(f, t) {
			base[f.Name] = ""
			continue
		}
		base[f.Name] = v
		if v == "" {
			continue
		}
		nv, err := s.fromC[f.Name].FromCanonical(v)
		if err != nil {
			u.fail(fmt.Errorf("field %q for %s: %v", f.Name, s.label, err), 1-t)
			return
		}
		fields[s.native[f.Name]] = nv
		wf = append(wf, f.Name)
	}
	if u.row == nil {
		u.row = &models.Mapping{PairID: r.pair.ID}
	}
	setSideID(u.row, 1-t, src.id)
	setSideID(u.row, t, "")
	u.newBase = base
	u.w[t] = &connector.Write{Op: connector.OpCreate, Fields: fields}
	u.ws[t] = wPending
	u.wf[t] = wf
}

// merge is the three-way, field-level merge. It returns the new base, the
// canonical values to write per side, and the fields in conflict that the
// policy could not settle (manual).
func merge(fields []models.Field, policy string, base map[string]string, va, vb map[string]string, ra, rb *rec, choice map[string]string) (newBase map[string]string, write [2]map[string]string, conflicts []string, settled []string) {
	newBase = make(map[string]string, len(fields))
	write = [2]map[string]string{{}, {}}
	for _, f := range fields {
		n := f.Name
		b, x, y := base[n], va[n], vb[n]
		switch f.Direction {
		case models.DirAToB:
			newBase[n] = x
			if x != b && y != x {
				write[sb][n] = x
			}
			continue
		case models.DirBToA:
			newBase[n] = y
			if y != b && x != y {
				write[sa][n] = y
			}
			continue
		}
		ca, cb := x != b, y != b
		m := b
		switch {
		case ca && cb && x != y:
			pick := policy
			if c := choice[n]; c != "" {
				pick = map[string]string{models.SideA: models.ConflictAWins, models.SideB: models.ConflictBWins}[c]
			}
			switch pick {
			case models.ConflictAWins:
				m = x
			case models.ConflictBWins:
				m = y
			case models.ConflictNewest:
				// Newer modification wins; a tie or an unknown time: A wins.
				m = x
				if ra != nil && rb != nil && !ra.modified.IsZero() && !rb.modified.IsZero() && rb.modified.After(ra.modified) {
					m = y
				}
			default:
				conflicts = append(conflicts, n)
				newBase[n] = b
				continue
			}
			settled = append(settled, n)
		case ca:
			m = x
		case cb:
			m = y
		}
		newBase[n] = m
		if m != x {
			write[sa][n] = m
		}
		if m != y {
			write[sb][n] = m
		}
	}
	return newBase, write, conflicts, settled
}

// planSync merges a mapped (or first-contact) unit and plans its updates.
func (r *runner) planSync(u *unit) {
	base := u.row.Base
	if u.first {
		base = map[string]string{}
	}
	var vals [2]map[string]string
	for i := range vals {
		vals[i] = base
		if u.rec[i] != nil {
			vals[i] = u.rec[i].vals
		}
	}
	newBase, write, conflicts, settled := merge(r.pair.Fields, r.policy, base, vals[sa], vals[sb], u.rec[sa], u.rec[sb], u.choice)
	if len(conflicts) > 0 {
		u.kind = kindConflict
		u.conflicts = conflicts
		u.detail = "changed differently on both sides: " + strings.Join(conflicts, ", ")
		return
	}
	if len(settled) > 0 {
		u.detail = "conflict settled by policy " + r.policy + ": " + strings.Join(settled, ", ")
	}
	u.kind = kindSync
	u.newBase = newBase
	for i := range r.s {
		if len(write[i]) == 0 {
			continue
		}
		fields, wf, err := r.nativeWrite(r.s[i], write[i])
		if err != nil {
			u.fail(err, 1-i)
			return
		}
		u.w[i] = &connector.Write{Op: connector.OpUpdate, ID: sideID(u.row, i), Version: r.version(u, i), Fields: fields}
		u.ws[i] = wPending
		u.wf[i] = wf
	}
}

func (r *runner) nativeWrite(s *sideState, vals map[string]string) (map[string]string, []string, error) {
	fields := make(map[string]string, len(vals))
	var wf []string
	for _, f := range r.pair.Fields {
		v, ok := vals[f.Name]
		if !ok {
			continue
		}
		nv, err := s.fromC[f.Name].FromCanonical(v)
		if err != nil {
			return nil, nil, fmt.Errorf("field %q for %s: %v", f.Name, s.label, err)
		}
		fields[s.native[f.Name]] = nv
		wf = append(wf, f.Name)
	}
	return fields, wf, nil
}

var errVanished = errors.New("the record is gone from its side")
