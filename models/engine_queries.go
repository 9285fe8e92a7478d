package models

import "gorm.io/gorm"

// Queries the sync engine needs on its hot path. Each one is written so
// SQLite walks a narrow index (checked with EXPLAIN QUERY PLAN in
// engine_queries_test.go): a run's cost must follow the records that
// changed, not the number of mappings.

// CountSide counts the pair's mappings that carry a record id on one side
// (the brake's "mapped count" for an incremental side). It walks the
// partial unique index of that side.
func (s *Store) CountSide(pairID uint, side string) (int, error) {
	var n int64
	col := idColumn(side)
	err := s.DB.Model(&Mapping{}).Where("pair_id = ? AND "+col+" <> ''", pairID).Count(&n).Error
	return int(n), err
}

// HasMappings tells whether the pair has any mapping row (a first sync has
// none, and can skip looking its records up one by one).
func (s *Store) HasMappings(pairID uint) (bool, error) {
	var n int64
	err := s.DB.Raw("SELECT count(*) FROM (SELECT 1 FROM mappings WHERE pair_id = ? LIMIT 1)", pairID).Scan(&n).Error
	return n > 0, err
}

// Fresh tells whether nothing is stored of the pair's records: no mapping
// rows and no intent of an interrupted run (its first sync). Every record
// a run then lists is new to it and is read.
func (s *Store) Fresh(pairID uint) (bool, error) {
	var n int64
	err := s.DB.Raw(`SELECT (SELECT count(*) FROM (SELECT 1 FROM mappings WHERE pair_id = ? LIMIT 1))
		+ (SELECT count(*) FROM (SELECT 1 FROM intents WHERE pair_id = ? LIMIT 1))`, pairID, pairID).Scan(&n).Error
	return n == 0, err
}

// SideMappings returns the pair's mappings whose side id is in ids, keyed
// by that id. It repeats the partial index's condition (the side id is not
// empty), without which SQLite cannot use the (pair_id, side id) index and
// scans every row of the pair.
func (s *Store) SideMappings(pairID uint, side string, ids []string) (map[string]*Mapping, error) {
	return sideMappings(s.DB, pairID, side, ids)
}

func sideMappings(db *gorm.DB, pairID uint, side string, ids []string) (map[string]*Mapping, error) {
	out := make(map[string]*Mapping, len(ids))
	col := idColumn(side)
	for start := 0; start < len(ids); start += 500 {
		end := min(start+500, len(ids))
		var ms []*Mapping
		if err := db.Where("pair_id = ? AND "+col+" <> '' AND "+col+" IN ?", pairID, ids[start:end]).Find(&ms).Error; err != nil {
			return nil, err
		}
		for _, m := range ms {
			if side == SideB {
				out[m.BID] = m
			} else {
				out[m.AID] = m
			}
		}
	}
	return out, nil
}

// PendingMappings lists the pair's rows in a rare state (pending,
// delete-pending) through the state index: "+pair_id" keeps SQLite from
// preferring the pair index, which would visit every row of the pair.
func (s *Store) PendingMappings(pairID uint, state string) ([]*Mapping, error) {
	var ms []*Mapping
	return ms, s.DB.Where("state = ? AND state <> 'ok' AND +pair_id = ?", state, pairID).Order("id").Find(&ms).Error
}

// Cursors reads a pair's stored change cursors (a run reloads them after
// taking the pair's lock, in case another run advanced them).
func (s *Store) Cursors(pairID uint) (a, b string, err error) {
	var p Pair
	err = s.DB.Select("id", "cursor_a", "cursor_b").First(&p, pairID).Error
	if err != nil {
		return "", "", notFound(err, "pair %d", pairID)
	}
	return p.CursorA, p.CursorB, nil
}
