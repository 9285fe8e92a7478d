package models

import (
	"bufio"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Side names a side of a pair.
const (
	SideA = "a"
	SideB = "b"
)

func idColumn(side string) string {
	if side == SideB {
		return "b_id"
	}
	return "a_id"
}

// readSideVersions reads id -> version for every mapped record on one side
// from the mappings themselves (SideVersions reads a snapshot when there
// is one: versions.go). Only the two narrow columns are read, each as one string with NUL
// between the values (row by row through database/sql cost more than the
// scan itself: a no-change sync of 10,000 cards spent 19% of its CPU here).
// Two aggregates of one scan see the rows in the same order, so the i-th
// id goes with the i-th version. An id or version holding a NUL (no file
// name or URL does) makes the counts disagree; then they come again,
// length-prefixed.
func readSideVersions(db *gorm.DB, pairID uint, side string) (map[string]string, error) {
	col := idColumn(side)
	ver := col[:1] + "_version"
	var n int
	var ids, vers sql.NullString
	err := db.Raw("SELECT count(*), group_concat("+col+", char(0)), group_concat(coalesce("+ver+", ''), char(0)) FROM mappings WHERE pair_id = ? AND "+col+" <> ''", pairID).Row().Scan(&n, &ids, &vers)
	if err != nil {
		return nil, err
	}
	if out, ok := zipNUL(n, ids.String, vers.String); ok {
		return out, nil
	}
	var packed sql.NullString
	// "<bytes of id>:<id><bytes of version>:<version>" per row; byte lengths
	// (a BLOB's length), so any id survives.
	err = db.Raw("SELECT group_concat(length(CAST("+col+" AS BLOB)) || ':' || "+col+" || length(CAST(coalesce("+ver+", '') AS BLOB)) || ':' || coalesce("+ver+", ''), '') FROM mappings WHERE pair_id = ? AND "+col+" <> ''", pairID).Row().Scan(&packed)
	if err != nil {
		return nil, err
	}
	return unpackPairs(packed.String)
}

// zipNUL pairs the i-th of n NUL-separated ids with the i-th version;
// false when the counts disagree (an id or version holds a NUL).
func zipNUL(n int, ids, vers string) (map[string]string, bool) {
	out := make(map[string]string, n)
	if n == 0 {
		return out, true
	}
	idList, verList := strings.Split(ids, "\x00"), strings.Split(vers, "\x00")
	if len(idList) != n || len(verList) != n {
		return nil, false
	}
	for i, id := range idList {
		out[id] = verList[i]
	}
	return out, true
}

// packPairs writes pairs of strings as "<bytes>:<first><bytes>:<second>"
// each (byte lengths, so any string survives); unpackPairs reads them back.
func packPairs(sb *strings.Builder, first, second string) {
	for _, s := range []string{first, second} {
		sb.WriteString(strconv.Itoa(len(s)))
		sb.WriteByte(':')
		sb.WriteString(s)
	}
}

// unpackPairs reads length-prefixed pairs (SideVersions', packPairs') into
// a map from the first of each pair to the second.
func unpackPairs(p string) (map[string]string, error) {
	out := make(map[string]string, strings.Count(p, ":")/2)
	next := func() (string, error) {
		i := strings.IndexByte(p, ':')
		if i < 0 {
			return "", errors.New("malformed packed list")
		}
		n, err := strconv.Atoi(p[:i])
		if err != nil || n < 0 || i+1+n > len(p) {
			return "", errors.New("malformed packed list")
		}
		v := p[i+1 : i+1+n]
		p = p[i+1+n:]
		return v, nil
	}
	for p != "" {
		id, err := next()
		if err != nil {
			return nil, err
		}
		v, err := next()
		if err != nil {
			return nil, err
		}
		out[id] = v
	}
	return out, nil
}

// MappingsByKey returns the pair's mappings with one of the given keys.
func (s *Store) MappingsByKey(pairID uint, keys []string) ([]*Mapping, error) {
	var out []*Mapping
	for start := 0; start < len(keys); start += 500 {
		end := min(start+500, len(keys))
		var ms []*Mapping
		if err := s.DB.Where("pair_id = ? AND key IN ?", pairID, keys[start:end]).Find(&ms).Error; err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

// DeleteMappings deletes mappings by row id inside tx.
func DeleteMappings(tx *gorm.DB, ids []uint) error {
	for start := 0; start < len(ids); start += 500 {
		end := min(start+500, len(ids))
		if err := tx.Delete(&Mapping{}, ids[start:end]).Error; err != nil {
			return err
		}
	}
	return nil
}

// CountMappings counts the pair's mappings.
func (s *Store) CountMappings(pairID uint) (int, error) {
	var n int64
	err := s.DB.Model(&Mapping{}).Where("pair_id = ?", pairID).Count(&n).Error
	return int(n), err
}

// --- the grid ---

// MappingQuery selects grid rows: a pair, an optional id search (exact or
// prefix, either side) and an optional state.
type MappingQuery struct {
	PairID uint
	Search string
	State  string
}

// prefixEnd is the smallest string greater than every string starting with p.
// A range on the indexed id column finds a prefix without LIKE (which would
// fold case and skip the index).
func prefixEnd(p string) string { return p + "\U0010FFFF" }

func (q MappingQuery) scope(db *gorm.DB) *gorm.DB {
	db = db.Model(&Mapping{}).Where("pair_id = ?", q.PairID)
	if q.State != "" {
		db = db.Where("state = ?", q.State)
		if q.State != StateOK {
			db = db.Where("state <> 'ok'") // lets SQLite use the partial state index
		}
	}
	if s := strings.TrimSpace(q.Search); s != "" {
		// Two index range scans joined with UNION rather than an OR, which
		// SQLite may turn into a table scan.
		// The "<> ''" terms let SQLite use the partial unique indexes.
		db = db.Where("id IN (SELECT id FROM mappings WHERE pair_id = ? AND a_id <> '' AND a_id >= ? AND a_id < ? UNION SELECT id FROM mappings WHERE pair_id = ? AND b_id <> '' AND b_id >= ? AND b_id < ?)",
			q.PairID, s, prefixEnd(s), q.PairID, s, prefixEnd(s))
	}
	return db
}

// QueryMappings returns one page of grid rows ordered by row id.
func (s *Store) QueryMappings(q MappingQuery, offset, limit int) ([]Mapping, error) {
	var ms []Mapping
	err := q.scope(s.DB).Order("id").Offset(offset).Limit(limit).Find(&ms).Error
	return ms, err
}

// CountQuery counts the rows a query matches.
func (s *Store) CountQuery(q MappingQuery) (int, error) {
	var n int64
	err := q.scope(s.DB).Count(&n).Error
	return int(n), err
}

// MappingByID loads one row.
func (s *Store) MappingByID(id uint) (*Mapping, error) {
	var m Mapping
	if err := s.DB.First(&m, id).Error; err != nil {
		return nil, notFound(err, "mapping %d", id)
	}
	return &m, nil
}

// FindMappings returns the pair's rows whose A or B id equals id exactly
// (pairID 0 = every pair).
func (s *Store) FindMappings(pairID uint, id string) ([]Mapping, error) {
	var ms []Mapping
	db := s.DB.Where("(a_id = ? OR b_id = ?)", id, id)
	if pairID != 0 {
		db = db.Where("pair_id = ?", pairID)
	}
	return ms, db.Order("id").Find(&ms).Error
}

// ErrDuplicateID is returned when an edit would map one record twice.
var ErrDuplicateID = errors.New("that record id is already mapped in this pair")

// UpdateMapping saves a person's edit of a row (ids, state), refusing an id
// that another row of the pair already uses.
func (s *Store) UpdateMapping(m *Mapping) error {
	if m.AID == "" && m.BID == "" {
		return errors.New("a mapping needs at least one record id")
	}
	switch m.State {
	case StateOK, StatePending, StateConflict, StateError, StateDeletePending:
	default:
		return fmt.Errorf("unknown state %q", m.State)
	}
	return s.Write(func(tx *gorm.DB) error {
		for _, side := range []struct{ col, id string }{{"a_id", m.AID}, {"b_id", m.BID}} {
			if side.id == "" {
				continue
			}
			var n int64
			if err := tx.Model(&Mapping{}).Where("pair_id = ? AND "+side.col+" = ? AND id <> ?", m.PairID, side.id, m.ID).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%s %q: %w", strings.ToUpper(side.col[:1]), side.id, ErrDuplicateID)
			}
		}
		return tx.Save(m).Error
	})
}

// DeleteMapping removes one row (never the records it maps).
func (s *Store) DeleteMapping(id uint) error {
	return s.Write(func(tx *gorm.DB) error {
		res := tx.Delete(&Mapping{}, id)
		if res.Error == nil && res.RowsAffected == 0 {
			return fmt.Errorf("mapping %d: %w", id, ErrNotFound)
		}
		return res.Error
	})
}

// CSVHeader is the first line of a mappings export.
var CSVHeader = []string{"a_id", "b_id", "state", "synced_at", "key", "last_error"}

// ExportCSV streams the rows a query matches as RFC 4180 CSV in row-id
// order. It reads with one raw cursor (no gorm struct scanning, which
// dominated the time) through a buffered writer, so memory stays flat for a
// million rows. progress (optional) is called every few thousand rows with
// rows written and the total.
func (s *Store) ExportCSV(w io.Writer, q MappingQuery, progress func(done, total int)) (int, error) {
	total, err := s.CountQuery(q)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader); err != nil {
		return 0, err
	}
	rows, err := q.scope(s.DB).Select("a_id", "b_id", "state", "synced_at", "key", "last_error").Order("id").Rows()
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	done := 0
	rec := make([]string, 6)
	var synced sql.NullTime
	for rows.Next() {
		if err := rows.Scan(&rec[0], &rec[1], &rec[2], &synced, &rec[4], &rec[5]); err != nil {
			return done, err
		}
		rec[3] = ""
		if synced.Valid && !synced.Time.IsZero() {
			rec[3] = synced.Time.UTC().Format(time.RFC3339)
		}
		if err := cw.Write(rec); err != nil {
			return done, err
		}
		done++
		if done%10000 == 0 && progress != nil {
			progress(done, total)
		}
	}
	if err := rows.Err(); err != nil {
		return done, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return done, err
	}
	if err := bw.Flush(); err != nil {
		return done, err
	}
	if progress != nil {
		progress(done, total)
	}
	return done, nil
}

// --- runs and history ---

// StartRun inserts a run.
func (s *Store) StartRun(r *Run) error {
	return s.Write(func(tx *gorm.DB) error { return tx.Create(r).Error })
}

// FinishRun saves a run's end and counts.
func (s *Store) FinishRun(r *Run) error {
	return s.Write(func(tx *gorm.DB) error { return tx.Save(r).Error })
}

// Runs lists a pair's runs, newest first.
func (s *Store) Runs(pairID uint, limit int) ([]Run, error) {
	var rs []Run
	return rs, s.DB.Where("pair_id = ?", pairID).Order("id DESC").Limit(limit).Find(&rs).Error
}

// Events lists a pair's events, newest first, one page at a time.
func (s *Store) Events(pairID uint, offset, limit int) ([]Event, error) {
	var es []Event
	return es, s.DB.Where("pair_id = ?", pairID).Order("id DESC").Offset(offset).Limit(limit).Find(&es).Error
}

// ParseUint is a small helper for ids typed by people.
func ParseUint(s string) (uint, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	return uint(n), err
}
