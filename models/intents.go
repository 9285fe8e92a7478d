package models

import (
	"maps"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// Intent is the crash guard of one batch of creates: before a batch of new
// records is written to a side, one Intent row lists their source ids and
// keys; the transaction that records the batch's outcome deletes it. An
// Intent still here at the next run means a run was killed in between:
// MaterializeIntents turns it into pending mapping rows, which the engine
// resolves by key (found on the side: link; else create again).
//
// One row per batch instead of one pending mapping row per record: the
// mapping row is then written once (inserted complete) instead of twice
// (inserted pending, then updated), which was about a third of a first
// sync's database work.
type Intent struct {
	RunID  uint   `gorm:"primaryKey;autoIncrement:false"`
	Seq    int    `gorm:"primaryKey;autoIncrement:false"` // the batch within the run
	PairID uint   `gorm:"not null;index"`
	Side   string `gorm:"not null"` // the side the records are created on
	// Entries are the source records: "<bytes>:<id><bytes>:<key>" per
	// record (byte lengths: any id survives, as in SideVersions).
	Entries string `gorm:"not null"`
}

// IntentEntry is one record of a batch of creates: its id on the source
// side and its normalized key.
type IntentEntry struct{ SourceID, Key string }

// AddIntent records, inside tx, that a batch of creates is about to be
// written to side.
func AddIntent(tx *gorm.DB, runID uint, seq int, pairID uint, side string, entries []IntentEntry) error {
	var sb strings.Builder
	for _, e := range entries {
		packPairs(&sb, e.SourceID, e.Key)
	}
	return tx.Create(&Intent{RunID: runID, Seq: seq, PairID: pairID, Side: side, Entries: sb.String()}).Error
}

// DeleteIntents removes, inside tx, a run's intents whose batches are
// recorded.
func DeleteIntents(tx *gorm.DB, runID uint, seqs []int) error {
	if len(seqs) == 0 {
		return nil
	}
	return tx.Where("run_id = ? AND seq IN ?", runID, seqs).Delete(&Intent{}).Error
}

// MaterializeIntents turns the pair's leftover intents (a killed run's)
// into pending mapping rows and deletes them, in one transaction. A source
// id that already has a row (its outcome was recorded before the kill) gets
// none. It returns how many rows it added.
func (s *Store) MaterializeIntents(pairID uint) (int, error) {
	var left []Intent
	if err := s.DB.Where("pair_id = ?", pairID).Order("run_id, seq").Find(&left).Error; err != nil || len(left) == 0 {
		return 0, err
	}
	added := 0
	err := s.Write(func(tx *gorm.DB) error {
		for _, in := range left {
			keys, err := unpackPairs(in.Entries)
			if err != nil || in.Side != SideA && in.Side != SideB {
				// Damaged (the engine never writes one like it): nothing
				// in it can be resolved, and keeping it would stop every
				// run of the pair. It goes; a record it stood for that was
				// created meanwhile is an unmapped record of a full
				// listing, which the run matches by key before creating.
				continue
			}
			src := SideA
			if in.Side == SideA {
				src = SideB
			}
			ids := slices.Sorted(maps.Keys(keys))
			have, err := sideMappings(tx, pairID, src, ids)
			if err != nil {
				return err
			}
			var rows []*Mapping
			for _, id := range ids {
				if have[id] != nil {
					continue
				}
				m := &Mapping{PairID: pairID, Key: keys[id], State: StatePending, PendingSide: in.Side}
				if src == SideA {
					m.AID = id
				} else {
					m.BID = id
				}
				rows = append(rows, m)
			}
			if err := SaveMappings(tx, rows); err != nil {
				return err
			}
			added += len(rows)
		}
		return tx.Where("pair_id = ?", pairID).Delete(&Intent{}).Error
	})
	return added, err
}
