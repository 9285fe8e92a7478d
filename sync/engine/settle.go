package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"tandem/models"
	"tandem/sync/connector"
)

func loadRow(store *models.Store, pair *models.Pair, id uint, state string) (*models.Mapping, error) {
	m, err := store.MappingByID(id)
	if err != nil {
		return nil, err
	}
	if m.PairID != pair.ID {
		return nil, fmt.Errorf("mapping %d belongs to another pair", id)
	}
	if m.State != state {
		return nil, fmt.Errorf("mapping %d is %q, not %q", id, m.State, state)
	}
	return m, nil
}

// Resolve settles a mapping in StateConflict: for each conflicting
// canonical field, choice names the side whose value wins ("a" or "b").
// Both records are read again; fields changed on one side only merge as in
// a run. The merged values are written to the sides that lack them and
// become the base.
func Resolve(ctx context.Context, store *models.Store, pair *models.Pair, a, b connector.Connector, mappingID uint, choice map[string]string) error {
	unlock := lockPair(pair.ID)
	defer unlock()
	for f, c := range choice {
		if c != models.SideA && c != models.SideB {
			return fmt.Errorf("field %q: choose \"a\" or \"b\", not %q", f, c)
		}
	}
	m, err := loadRow(store, pair, mappingID, models.StateConflict)
	if err != nil {
		return err
	}
	r, err := newRunner(ctx, store, pair, a, b, Options{Trigger: "manual"})
	if err != nil {
		return err
	}
	u := &unit{row: m, side: -1, choice: choice}
	if m.Base == nil {
		u.first = true
	}
	for i, s := range r.s {
		id := sideID(m, i)
		got, err := r.get(s, []string{id})
		if err != nil {
			return err
		}
		rc := got[id]
		if rc == nil {
			return fmt.Errorf("record %s of %s: %w; run a sync first", id, s.label, errVanished)
		}
		if rc.err != nil {
			return rc.err
		}
		u.rec[i] = rc
	}
	r.planSync(u)
	switch u.kind {
	case kindConflict:
		return fmt.Errorf("choose a side (a or b) for: %s", strings.Join(u.conflicts, ", "))
	case kindError:
		return u.err
	}
	for i, s := range r.s {
		if u.ws[i] != wPending {
			continue
		}
		res, err := s.conn.Apply(ctx, []connector.Write{*u.w[i]})
		if err != nil {
			return sideErr(s, "write", err)
		}
		if len(res) != 1 {
			return sideErr(s, "write", fmt.Errorf("%d results for 1 write", len(res)))
		}
		if res[0].Err != nil {
			if errors.Is(res[0].Err, connector.ErrVersionMismatch) {
				return fmt.Errorf("record %s of %s changed meanwhile; look at it again: %w", sideID(m, i), s.label, res[0].Err)
			}
			return fmt.Errorf("update of %s on %s: %w", sideID(m, i), s.label, res[0].Err)
		}
		u.ws[i], u.ver[i] = wDone, res[0].Record.Version
	}
	return r.commitAll([]*unit{u})
}

// AllowDelete carries out a delete that waits in StateDeletePending (delete
// policy confirm): the surviving record is deleted (conditionally on the
// version last synced) and the row is dropped.
func AllowDelete(ctx context.Context, store *models.Store, pair *models.Pair, a, b connector.Connector, mappingID uint) error {
	unlock := lockPair(pair.ID)
	defer unlock()
	m, err := loadRow(store, pair, mappingID, models.StateDeletePending)
	if err != nil {
		return err
	}
	x := sideIndex(m.PendingSide)
	y := 1 - x
	conn := []connector.Connector{a, b}[y]
	label := []string{pair.A.Name, pair.B.Name}[y]
	id := sideID(m, y)
	if id != "" {
		res, err := conn.Apply(ctx, []connector.Write{{Op: connector.OpDelete, ID: id, Version: sideVersion(m, y)}})
		if err != nil {
			return fmt.Errorf("%s: delete: %w", label, err)
		}
		if len(res) != 1 {
			return fmt.Errorf("%s: delete: %d results for 1 write", label, len(res))
		}
		if err := res[0].Err; err != nil && !errors.Is(err, connector.ErrNotFound) {
			if errors.Is(err, connector.ErrVersionMismatch) {
				return fmt.Errorf("record %s of %s was edited since it was queued for delete; nothing was deleted (a sync will bring it back to the other side): %w", id, label, err)
			}
			return fmt.Errorf("delete of %s on %s: %w", id, label, err)
		}
	}
	return store.Write(func(tx *gorm.DB) error {
		if err := models.DeleteMappings(tx, []uint{m.ID}); err != nil {
			return err
		}
		return models.AddEvents(tx, []models.Event{{PairID: pair.ID, At: timeNow(), AID: m.AID, BID: m.BID, Side: sideNames[y], Action: "delete"}})
	})
}

// KeepRecord settles a delete that waits in StateDeletePending the other
// way: nothing is deleted and the surviving record is unlinked. Its row
// stays one-sided (the survivor's id, state ok) so later runs neither
// delete nor re-create it; see the package comment.
func KeepRecord(ctx context.Context, store *models.Store, pair *models.Pair, mappingID uint) error {
	unlock := lockPair(pair.ID)
	defer unlock()
	m, err := loadRow(store, pair, mappingID, models.StateDeletePending)
	if err != nil {
		return err
	}
	x := sideIndex(m.PendingSide)
	ev := models.Event{PairID: pair.ID, At: timeNow(), AID: m.AID, BID: m.BID, Action: "unlink"}
	setSideID(m, x, "")
	setSideVersion(m, x, "")
	m.State, m.PendingSide, m.LastError = models.StateOK, "", ""
	return store.Write(func(tx *gorm.DB) error {
		if err := models.SaveMappings(tx, []*models.Mapping{m}); err != nil {
			return err
		}
		return models.AddEvents(tx, []models.Event{ev})
	})
}
