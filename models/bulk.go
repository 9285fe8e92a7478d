package models

// Bulk writes on the sync engine's hot path (a first sync of 10,000 records
// writes 10,000 mapping rows and 10,000 events).
//
// The driver compiles every statement anew and binds parameters in time
// quadratic in their number, and gorm's reflection costs more than SQLite
// itself. So a batch is one short statement with one parameter: the rows as
// a JSON array of arrays, which SQLite unpacks with jsonb_each (C code, no
// per-value binding). A batch holding a string that is not valid UTF-8
// (JSON cannot carry it unchanged; a file name may be anything) goes the
// slower way: a multi-row INSERT with bound parameters.
//
// "OR ROLLBACK": a constraint failure aborts the whole transaction (Write
// rolls back anyway), which spares SQLite a statement journal per statement.

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"gorm.io/gorm"
)

// jsonBatch rows go in one statement; boundBatch rows in the fallback (its
// parameter binding is quadratic, so it stays small).
const (
	jsonBatch  = 500
	boundBatch = 100
)

// mappingColumns are the columns SaveMappings writes, in order.
const mappingColumns = "pair_id, a_id, b_id, a_version, b_version, key, base, state, last_error, pending_side, synced_at"

// sqliteTime is how the driver writes a time.Time (its default format):
// rows written as JSON must read back the same.
const sqliteTime = "2006-01-02 15:04:05.999999999-07:00"

// SaveMappings inserts or updates mappings in batches inside tx. New rows
// (ID 0) get their ids back.
func SaveMappings(tx *gorm.DB, ms []*Mapping) error {
	var fresh, old []*Mapping
	for _, m := range ms {
		if m.ID == 0 {
			if m.AID == "" && m.BID == "" {
				return errors.New("a mapping needs at least one record id")
			}
			fresh = append(fresh, m)
		} else {
			old = append(old, m)
		}
	}
	skipped := map[*Mapping]bool{}
	for _, run := range byChange(old) {
		if err := inBatches(run.rows, func(b []*Mapping) error {
			left, err := updateMappings(tx, b, run.cols)
			for _, m := range left {
				skipped[m] = true
			}
			return err
		}); err != nil {
			return err
		}
	}
	if err := inBatches(fresh, func(b []*Mapping) error { return insertMappings(tx, b) }); err != nil {
		return err
	}
	// The indexed columns as written, once the transaction holds: a rolled
	// back save must leave the snapshot of what the database still has.
	now := make([]*indexedCols, len(ms))
	for i, m := range ms {
		now[i] = m.indexed()
	}
	afterCommit(tx, func() {
		for i, m := range ms {
			if !skipped[m] { // a skipped row keeps what was read
				m.stored = now[i]
			}
		}
	})
	return nil
}

// changeRun is a stretch of rows, in the caller's order, whose indexed
// columns changed alike: they get an update of the plain columns and of
// cols only, so SQLite leaves the other index entries alone (an upsert of
// every column rewrites every index entry: a 1% sync of 10,000 cards spent
// 34 ms storing 100 rows, and its checkpoint as long again). A row whose
// stored columns are unknown (not read by this process) updates them all.
type changeRun struct {
	cols []string // indexed columns that changed
	rows []*Mapping
}

func byChange(ms []*Mapping) []changeRun {
	var out []changeRun
	sig := ""
	for _, m := range ms {
		cols := indexedNames
		if m.stored != nil {
			now := m.indexed()
			cols = nil
			for i, changed := range []bool{now.aID != m.stored.aID, now.bID != m.stored.bID, now.key != m.stored.key, now.state != m.stored.state} {
				if changed {
					cols = append(cols, indexedNames[i])
				}
			}
		}
		s := strings.Join(cols, ",")
		if len(out) > 0 && s == sig {
			out[len(out)-1].rows = append(out[len(out)-1].rows, m)
			continue
		}
		sig = s
		out = append(out, changeRun{cols: cols, rows: []*Mapping{m}})
	}
	return out
}

// plainCols are the Mapping columns no index covers; indexedNames those
// an index covers (pair_id aside: it never changes).
var (
	plainCols    = []string{"a_version", "b_version", "base", "last_error", "pending_side", "synced_at"}
	indexedNames = []string{"a_id", "b_id", "key", "state"}
)

// updateMappings updates existing rows' plain columns and the indexed
// columns in cols, and returns the rows it left alone.
//
// An upsert rather than UPDATE ... FROM: SQLite applies an UPDATE ... FROM
// in row-id order, an INSERT ... SELECT in the caller's (a row releasing a
// unique id must go before the row taking it); DO UPDATE rewrites only the
// indexes of the columns it sets. Its WHERE skips a row whose other indexed
// columns no longer hold what this process read: a person edited the row
// (the grid) meanwhile, and that edit wins over the run's bookkeeping instead
// of leaving the edited ids beside the old record's versions.
func updateMappings(tx *gorm.DB, ms []*Mapping, cols []string) (skipped []*Mapping, err error) {
	rows := make([][]any, len(ms))
	for i, m := range ms {
		if rows[i], err = mappingValues(m, true); err != nil {
			return nil, err
		}
	}
	var sb strings.Builder
	sb.WriteString(" ON CONFLICT(id) DO UPDATE SET ")
	for i, c := range plainCols {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(c + "=excluded." + c)
	}
	for _, c := range cols {
		sb.WriteString("," + c + "=excluded." + c)
	}
	sb.WriteString(" WHERE true")
	for _, c := range indexedNames {
		if !slices.Contains(cols, c) {
			sb.WriteString(" AND coalesce(mappings." + c + ", '') = excluded." + c)
		}
	}
	sb.WriteString(" RETURNING id")
	written := make(map[uint]bool, len(ms))
	err = queryRows(tx, rows, "INSERT OR ROLLBACK INTO mappings (id, "+mappingColumns+") ", sb.String(), func(res *sql.Rows) error {
		var id uint
		err := res.Scan(&id)
		written[id] = true
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if !written[m.ID] {
			skipped = append(skipped, m)
		}
	}
	return skipped, nil
}

func inBatches[T any](all []T, fn func([]T) error) error {
	for start := 0; start < len(all); start += jsonBatch {
		if err := fn(all[start:min(start+jsonBatch, len(all))]); err != nil {
			return err
		}
	}
	return nil
}

// mappingValues are a row's values in mappingColumns order (id first when
// withID).
func mappingValues(m *Mapping, withID bool) ([]any, error) {
	base, err := baseJSON(m.Base)
	if err != nil {
		return nil, err
	}
	state := m.State
	if state == "" {
		state = StateOK
	}
	vals := make([]any, 0, 12)
	if withID {
		vals = append(vals, m.ID)
	}
	return append(vals, m.PairID, m.AID, m.BID, m.AVersion, m.BVersion, m.Key, base, state, m.LastError, m.PendingSide, m.SyncedAt), nil
}

// insertMappings inserts new rows and sets their ids.
//
// SQLite gives a row inserted without an id the table's largest id plus
// one (https://www.sqlite.org/autoinc.html), and an INSERT ... SELECT
// inserts in the order its SELECT yields, which for jsonb_each is the
// array's: inside the write transaction, a batch's rows get the ids after
// the largest one before it, in order. That is checked (the count, and the
// record ids of the first and the last row) and the ids are matched back by
// record id when it does not hold. A RETURNING clause instead makes SQLite
// keep every inserted row aside and hand it back one by one (a first sync
// of 10,000 rows: ~15% of storing them).
func insertMappings(tx *gorm.DB, ms []*Mapping) error {
	rows := make([][]any, len(ms))
	for i, m := range ms {
		var err error
		if rows[i], err = mappingValues(m, false); err != nil {
			return err
		}
	}
	done := 0
	for _, part := range split(rows) {
		batch := ms[done : done+len(part)]
		done += len(part)
		var before int64
		if err := tx.Raw("SELECT coalesce(max(id), 0) FROM mappings").Row().Scan(&before); err != nil {
			return err
		}
		if err := execRows(tx, part, "INSERT OR ROLLBACK INTO mappings ("+mappingColumns+") ", ""); err != nil {
			return err
		}
		ok, err := idsFollow(tx, batch, before)
		if err != nil {
			return err
		}
		if ok {
			for i, m := range batch {
				m.ID = uint(before) + uint(i) + 1
			}
			continue
		}
		if err := matchIDs(tx, batch); err != nil {
			return err
		}
	}
	return nil
}

// idsFollow tells whether the rows of batch, just inserted, hold the ids
// before+1 ... before+len(batch) in order.
func idsFollow(tx *gorm.DB, batch []*Mapping, before int64) (bool, error) {
	var n, last int64
	if err := tx.Raw("SELECT count(*), coalesce(max(id), 0) FROM mappings WHERE id > ?", before).Row().Scan(&n, &last); err != nil {
		return false, err
	}
	if n != int64(len(batch)) || last != before+n {
		return false, nil
	}
	for _, k := range []int{0, len(batch) - 1} {
		var aID, bID string
		if err := tx.Raw("SELECT a_id, b_id FROM mappings WHERE id = ?", before+int64(k)+1).Row().Scan(&aID, &bID); err != nil {
			return false, err
		}
		if aID != batch[k].AID || bID != batch[k].BID {
			return false, nil
		}
	}
	return true, nil
}

// matchIDs sets the ids of batch, just inserted, by record id (every row
// carries at least one, unique per side in its pair): one lookup a row, for
// the case idsFollow does not hold (SQLite picks ids at random once the
// largest possible one is taken).
func matchIDs(tx *gorm.DB, batch []*Mapping) error {
	for _, m := range batch {
		col, id := "a_id", m.AID
		if id == "" {
			col, id = "b_id", m.BID
		}
		if err := tx.Raw("SELECT id FROM mappings WHERE pair_id = ? AND "+col+" = ?", m.PairID, id).Row().Scan(&m.ID); err != nil {
			return fmt.Errorf("the new mapping of %s: %w", id, err)
		}
	}
	return nil
}

// queryRows runs an INSERT ... RETURNING of rows and hands each returned
// row to scan.
func queryRows(tx *gorm.DB, rows [][]any, head, tail string, scan func(*sql.Rows) error) error {
	for _, part := range split(rows) {
		query, args := statement(part, head, tail)
		res, err := tx.Raw(query, args...).Rows()
		if err != nil {
			return err
		}
		for err == nil && res.Next() {
			err = scan(res)
		}
		if err == nil {
			err = res.Err()
		}
		res.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// execRows runs an INSERT of rows (one statement per JSON batch, or small
// bound statements for rows JSON cannot carry).
func execRows(tx *gorm.DB, rows [][]any, head, tail string) error {
	for _, part := range split(rows) {
		query, args := statement(part, head, tail)
		if err := tx.Exec(query, args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// split returns rows as one part, or in boundBatch parts when some value
// is not valid UTF-8.
func split(rows [][]any) [][][]any {
	if jsonSafe(rows) {
		return [][][]any{rows}
	}
	var out [][][]any
	for start := 0; start < len(rows); start += boundBatch {
		out = append(out, rows[start:min(start+boundBatch, len(rows))])
	}
	return out
}

func jsonSafe(rows [][]any) bool {
	for _, r := range rows {
		for _, v := range r {
			if s, ok := v.(string); ok && !utf8.ValidString(s) {
				return false
			}
		}
	}
	return true
}

// statement builds the INSERT for rows: "SELECT ... FROM jsonb_each(?)" with
// one JSON parameter, or a bound VALUES list when a value is not UTF-8. The
// SELECT form needs its "WHERE true" before an ON CONFLICT clause (SQLite's
// parsing rule for upserts from a SELECT).
//
// A column that holds the same value in every row (the pair, the run, a
// first sync's state and time) is one bound parameter instead: each "->>"
// walks the row's array from its start, and a first sync's rows are mostly
// such columns (storing 10,000 mappings and events: ~15% less time).
func statement(rows [][]any, head, tail string) (string, []any) {
	n := len(rows[0])
	var sb strings.Builder
	sb.WriteString(head)
	if !jsonSafe(rows) {
		args := make([]any, 0, len(rows)*n)
		sb.WriteString("VALUES ")
		for i, r := range rows {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?" + strings.Repeat(",?", n-1) + ")")
			args = append(args, r...)
		}
		sb.WriteString(tail)
		return sb.String(), args
	}
	sb.WriteString("SELECT ")
	var args []any
	varying := make([]int, 0, n)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		if len(rows) > 1 && sameInAll(rows, i) {
			sb.WriteByte('?')
			args = append(args, rows[0][i])
			continue
		}
		sb.WriteString("j.value->>" + strconv.Itoa(len(varying)))
		varying = append(varying, i)
	}
	// jsonb_each, not json_each: each row then comes as binary JSON, which
	// "->>" reads directly; json_each's rows are text that every one of
	// the row's "->>" turned back into binary (inserting 10,000 mappings:
	// 0.40 s -> 0.30 s).
	sb.WriteString(" FROM jsonb_each(?) AS j WHERE true")
	sb.WriteString(tail)
	// One buffer of about the final size, read as a string in place: grown
	// by doubling and then copied, the JSON of a first sync's rows cost
	// three times its ~7 MB in allocations. Nothing writes to it after.
	js := appendJSONRows(make([]byte, 0, jsonRowsSize(rows, varying)), rows, varying)
	return sb.String(), append(args, unsafe.String(unsafe.SliceData(js), len(js)))
}

// sameInAll tells whether column col holds one value in every row.
func sameInAll(rows [][]any, col int) bool {
	first := rows[0][col]
	for _, r := range rows[1:] {
		if r[col] != first {
			return false
		}
	}
	return true
}

// jsonRowsSize is about how long appendJSONRows makes rows (a little more
// when few strings need escapes).
func jsonRowsSize(rows [][]any, cols []int) int {
	n := 2
	for _, r := range rows {
		n += 3
		for _, c := range cols {
			switch v := r[c].(type) {
			case string:
				n += len(v) + len(v)/16 + 3
			case time.Time:
				n += len(sqliteTime) + 3
			default:
				n += 21
			}
		}
	}
	return n
}

// appendJSONRows writes the columns cols of rows as a JSON array of arrays.
// Values are the types the bulk writers use: strings, unsigned ids, times.
func appendJSONRows(b []byte, rows [][]any, cols []int) []byte {
	b = append(b, '[')
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for k, c := range cols {
			if k > 0 {
				b = append(b, ',')
			}
			switch v := r[c].(type) {
			case string:
				b = appendJSONString(b, v)
			case uint:
				b = strconv.AppendUint(b, uint64(v), 10)
			case time.Time:
				b = appendJSONString(b, v.Format(sqliteTime))
			default:
				panic("models: no JSON form for a bulk value of this type")
			}
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendJSONString quotes s (valid UTF-8) for JSON.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// baseJSON is json.Marshal(base) as a string, written directly when no key
// or value needs more than plain quoting (json.Marshal sorts the keys by
// reflection, ~25 allocations a mapping row); the text is the same.
func baseJSON(base map[string]string) (string, error) {
	if base == nil {
		return "null", nil
	}
	keys := make([]string, 0, len(base))
	n := 2
	for k, v := range base {
		if !plainJSON(k) || !plainJSON(v) {
			b, err := json.Marshal(base)
			return string(b), err
		}
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, base[k])
	}
	b = append(b, '}')
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// plainJSON tells whether encoding/json writes s as appendJSONString does:
// printable ASCII other than the HTML characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// AddEvents appends history events inside tx.
func AddEvents(tx *gorm.DB, es []Event) error {
	return inBatches(es, func(batch []Event) error {
		rows := make([][]any, len(batch))
		for i, e := range batch {
			rows[i] = []any{e.RunID, e.PairID, e.At, e.AID, e.BID, e.Side, e.Action, e.Fields, e.Error}
		}
		return execRows(tx, rows, "INSERT INTO events (run_id, pair_id, at, a_id, b_id, side, action, fields, error) ", "")
	})
}
