package models

import (
	"database/sql"
	"errors"

	"gorm.io/gorm"
)

// Every run of a side that lists in full (a vCard folder) compares each
// listed version with the stored one, so it needs id -> version of all the
// side's mappings. Aggregating them from 10,000 rows costs the pure-Go
// SQLite ~15-20 ms a side in a fresh process, a tenth of a no-change sync.
//
// So each such side keeps a snapshot: one row holding the ids and versions
// (NUL-separated), as of log position upto. Triggers on mappings log the
// id of every row of a side with a snapshot whose version or id may have
// changed, whoever writes (a run, a grid edit, a delete, a migration). A
// read takes the snapshot and looks up the logged ids again: the snapshot
// plus the log is always the truth, and a stale snapshot costs one lookup
// per change since. RefreshVersionSnapshot rebuilds it when the log grows
// (or there is none yet) and drops the log it covers.
var versionSchema = []string{
	`CREATE TABLE IF NOT EXISTS version_snapshots (
		pair_id INTEGER NOT NULL, side TEXT NOT NULL,
		upto INTEGER NOT NULL, n INTEGER NOT NULL, ids TEXT, versions TEXT,
		PRIMARY KEY (pair_id, side))`,
	// AUTOINCREMENT: a seq is never reused once the log is trimmed, so
	// every change after a snapshot has a seq above its upto.
	`CREATE TABLE IF NOT EXISTS version_log (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		pair_id INTEGER NOT NULL, side TEXT NOT NULL, id TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS idx_version_log ON version_log(pair_id, side, seq)`,
	`CREATE TRIGGER IF NOT EXISTS mappings_version_log_insert AFTER INSERT ON mappings BEGIN
		` + logChange("NEW", "a", "1") + `
		` + logChange("NEW", "b", "1") + `
	END`,
	`CREATE TRIGGER IF NOT EXISTS mappings_version_log_delete AFTER DELETE ON mappings BEGIN
		` + logChange("OLD", "a", "1") + `
		` + logChange("OLD", "b", "1") + `
	END`,
	// (no code moves a row to another pair; logged all the same)
	`CREATE TRIGGER IF NOT EXISTS mappings_version_log_update AFTER UPDATE OF pair_id, a_id, a_version, b_id, b_version ON mappings BEGIN
		` + logChange("OLD", "a", "(OLD.pair_id IS NOT NEW.pair_id OR OLD.a_id IS NOT NEW.a_id OR OLD.a_version IS NOT NEW.a_version)") + `
		` + logChange("NEW", "a", "(OLD.pair_id IS NOT NEW.pair_id OR OLD.a_id IS NOT NEW.a_id)") + `
		` + logChange("OLD", "b", "(OLD.pair_id IS NOT NEW.pair_id OR OLD.b_id IS NOT NEW.b_id OR OLD.b_version IS NOT NEW.b_version)") + `
		` + logChange("NEW", "b", "(OLD.pair_id IS NOT NEW.pair_id OR OLD.b_id IS NOT NEW.b_id)") + `
	END`,
}

// logChange is a trigger statement logging row's id on side when cond
// holds, the id is known and the side has a snapshot (a pair's first sync,
// before there is one, logs nothing).
func logChange(row, side, cond string) string {
	id := row + "." + side + "_id"
	return `INSERT INTO version_log(pair_id, side, id) SELECT ` + row + `.pair_id, '` + side + `', ` + id +
		` WHERE ` + id + ` <> '' AND ` + cond +
		` AND EXISTS (SELECT 1 FROM version_snapshots WHERE pair_id = ` + row + `.pair_id AND side = '` + side + `');`
}

// SideVersions returns id -> version for every mapped record on one side:
// the side's snapshot with the logged changes looked up again, or, without
// a snapshot, every row read. One read transaction, so the snapshot and
// the log belong together.
func (s *Store) SideVersions(pairID uint, side string) (map[string]string, error) {
	var out map[string]string
	err := s.DB.Transaction(func(tx *gorm.DB) error {
		var err error
		out, err = snapshotVersions(tx, pairID, side)
		if errors.Is(err, errNoSnapshot) {
			out, err = readSideVersions(tx, pairID, side)
		}
		return err
	})
	return out, err
}

var errNoSnapshot = errors.New("no usable version snapshot")

func snapshotVersions(tx *gorm.DB, pairID uint, side string) (map[string]string, error) {
	var upto int64
	var n int
	var ids, vers sql.NullString
	err := tx.Raw("SELECT upto, n, ids, versions FROM version_snapshots WHERE pair_id = ? AND side = ?", pairID, side).Row().Scan(&upto, &n, &ids, &vers)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoSnapshot
	}
	if err != nil {
		return nil, err
	}
	out, ok := zipNUL(n, ids.String, vers.String)
	if !ok {
		return nil, errNoSnapshot // an id or version holds a NUL: read the rows
	}
	col := idColumn(side)
	ver := col[:1] + "_version"
	rows, err := tx.Raw(`SELECT l.id, m.id IS NOT NULL, coalesce(m.`+ver+`, '')
		FROM (SELECT DISTINCT id FROM version_log WHERE pair_id = ? AND side = ? AND seq > ?) l
		LEFT JOIN mappings m ON m.pair_id = ? AND m.`+col+` = l.id AND m.`+col+` <> ''`, pairID, side, upto, pairID).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, v string
		var mapped bool
		if err := rows.Scan(&id, &mapped, &v); err != nil {
			return nil, err
		}
		if mapped {
			out[id] = v
		} else {
			delete(out, id)
		}
	}
	return out, rows.Err()
}

// RefreshVersionSnapshot (re)builds a side's snapshot when it has none or
// when more changes were logged since than minLogged and an eighth of its
// size; otherwise it does nothing (two small reads). For sides that list
// in full; a run calls it at its end.
func (s *Store) RefreshVersionSnapshot(pairID uint, side string, minLogged int) error {
	stale := func(db *gorm.DB) (bool, error) {
		var n int
		err := db.Raw("SELECT n FROM version_snapshots WHERE pair_id = ? AND side = ?", pairID, side).Row().Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		var logged int
		if err := db.Raw("SELECT count(*) FROM version_log WHERE pair_id = ? AND side = ?", pairID, side).Row().Scan(&logged); err != nil {
			return false, err
		}
		return logged > max(minLogged, n/8), nil
	}
	if ok, err := stale(s.DB); err != nil || !ok {
		return err
	}
	return s.Write(func(tx *gorm.DB) error {
		if ok, err := stale(tx); err != nil || !ok {
			return err
		}
		return rebuildVersionSnapshot(tx, pairID, side)
	})
}

// rebuildVersionSnapshot writes a side's snapshot from its mappings, inside
// a write transaction (nothing can change between the read and the write).
func rebuildVersionSnapshot(tx *gorm.DB, pairID uint, side string) error {
	col := idColumn(side)
	ver := col[:1] + "_version"
	var upto int64
	if err := tx.Raw("SELECT coalesce(max(seq), 0) FROM version_log").Row().Scan(&upto); err != nil {
		return err
	}
	if err := tx.Exec(`INSERT INTO version_snapshots(pair_id, side, upto, n, ids, versions)
		SELECT ?, ?, ?, count(*), group_concat(`+col+`, char(0)), group_concat(coalesce(`+ver+`, ''), char(0))
		FROM mappings WHERE pair_id = ? AND `+col+` <> ''
		ON CONFLICT(pair_id, side) DO UPDATE SET upto = excluded.upto, n = excluded.n, ids = excluded.ids, versions = excluded.versions`,
		pairID, side, upto, pairID).Error; err != nil {
		return err
	}
	return tx.Exec("DELETE FROM version_log WHERE pair_id = ? AND side = ? AND seq <= ?", pairID, side, upto).Error
}

// DropVersionSnapshot removes a side's snapshot and log, if any: for a
// side that no longer lists in full (its connection changed kind), whose
// log nothing would trim otherwise.
func (s *Store) DropVersionSnapshot(pairID uint, side string) error {
	var n int
	if err := s.DB.Raw("SELECT count(*) FROM version_snapshots WHERE pair_id = ? AND side = ?", pairID, side).Row().Scan(&n); err != nil || n == 0 {
		return err
	}
	return s.Write(func(tx *gorm.DB) error {
		for _, q := range []string{"DELETE FROM version_snapshots WHERE pair_id = ? AND side = ?", "DELETE FROM version_log WHERE pair_id = ? AND side = ?"} {
			if err := tx.Exec(q, pairID, side).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// dropVersionSnapshots removes a pair's snapshots and log (the pair goes).
func dropVersionSnapshots(tx *gorm.DB, pairID uint) error {
	for _, q := range []string{"DELETE FROM version_snapshots WHERE pair_id = ?", "DELETE FROM version_log WHERE pair_id = ?"} {
		if err := tx.Exec(q, pairID).Error; err != nil {
			return err
		}
	}
	return nil
}
