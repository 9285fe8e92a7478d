// Package vm holds the view-models of Tandem's window: plain Go state and
// actions, one per view, with no widgets. The views in package ui bind them
// to Fyne widgets; tests drive them directly or through the widgets.
package vm

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"tandem/models"
)

// PageSize is how many grid rows one database query loads.
const PageSize = 200

// MaxPages is how many pages the grid keeps in memory.
const MaxPages = 6

// Grid is the mappings grid: a paged, cached window over the store's
// indexed query. It never holds more than MaxPages*PageSize rows.
type Grid struct {
	store *models.Store
	hold  Hold

	mu      sync.Mutex
	query   models.MappingQuery
	count   int
	pages   map[int][]models.Mapping
	lru     []int // page numbers, most recent last
	loads   int   // pages loaded since the last reset (for benchmarks and tests)
	hovered int
	err     error
}

// Hold keeps a pair from syncing while a person changes its rows (see
// runner.Runner.Hold); release lets it sync again. A run rewrites the rows
// it read when it records its outcome: a row deleted beside it came back.
type Hold func(pairID uint) (release func(), err error)

// SetHold makes edits and deletes take hold first (nil: they do not; a
// grid without a runner, as in tests of the grid alone).
func (g *Grid) SetHold(h Hold) { g.hold = h }

// held runs change with the pair held, if the grid has a Hold.
func (g *Grid) held(pairID uint, change func() error) error {
	if g.hold == nil {
		return change()
	}
	release, err := g.hold(pairID)
	if err != nil {
		return err
	}
	defer release()
	return change()
}

// NewGrid returns an empty grid; call SetPair to fill it.
func NewGrid(store *models.Store) *Grid {
	return &Grid{store: store, pages: map[int][]models.Mapping{}, hovered: -1}
}

// SetPair shows the rows of one pair and clears the search.
func (g *Grid) SetPair(pairID uint) error {
	g.mu.Lock()
	g.query = models.MappingQuery{PairID: pairID, State: g.query.State}
	g.mu.Unlock()
	return g.Refresh()
}

// PairID is the pair shown.
func (g *Grid) PairID() uint {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.query.PairID
}

// SetSearch narrows the rows to record ids (either side) equal to or
// starting with s. An empty s shows every row.
func (g *Grid) SetSearch(s string) error {
	g.SetSearchText(s)
	return g.Refresh()
}

// SetSearchText changes the search without reading the store; call
// Refresh (possibly on another goroutine) to apply it. Typing calls this in
// order on the UI goroutine, so the last text typed is the one that wins.
func (g *Grid) SetSearchText(s string) {
	g.mu.Lock()
	g.query.Search = strings.TrimSpace(s)
	g.mu.Unlock()
}

// Search is the current search text.
func (g *Grid) Search() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.query.Search
}

// SetState narrows the rows to one state ("" = all).
func (g *Grid) SetState(state string) error {
	g.SetStateFilter(state)
	return g.Refresh()
}

// SetStateFilter changes the state filter without reading the store.
func (g *Grid) SetStateFilter(state string) {
	g.mu.Lock()
	g.query.State = state
	g.mu.Unlock()
}

// Query is the query the grid shows.
func (g *Grid) Query() models.MappingQuery {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.query
}

// Refresh recounts and drops cached pages (after a run or an edit).
func (g *Grid) Refresh() error {
	g.mu.Lock()
	q := g.query
	g.mu.Unlock()
	n := 0
	var err error
	if q.PairID != 0 {
		n, err = g.store.CountQuery(q)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if q != g.query { // changed meanwhile; the later call wins
		return err
	}
	g.count, g.err = n, err
	g.pages = map[int][]models.Mapping{}
	g.lru = g.lru[:0]
	g.loads = 0
	g.hovered = -1
	return err
}

// Count is how many rows the current query matches.
func (g *Grid) Count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.count
}

// Err is the last load error, if any.
func (g *Grid) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// PagesLoaded is how many pages were read since the last refresh.
func (g *Grid) PagesLoaded() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.loads
}

// CachedRows is how many rows are in memory.
func (g *Grid) CachedRows() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, p := range g.pages {
		n += len(p)
	}
	return n
}

// Row returns row i (0-based), loading its page if needed.
func (g *Grid) Row(i int) (models.Mapping, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i < 0 || i >= g.count {
		return models.Mapping{}, false
	}
	p := i / PageSize
	rows, ok := g.pages[p]
	if !ok {
		var err error
		rows, err = g.store.QueryMappings(g.query, p*PageSize, PageSize)
		if err != nil {
			g.err = err
			return models.Mapping{}, false
		}
		g.loads++
		g.pages[p] = rows
		if len(g.lru) >= MaxPages {
			delete(g.pages, g.lru[0])
			g.lru = g.lru[1:]
		}
	} else {
		for k, v := range g.lru {
			if v == p {
				g.lru = append(g.lru[:k], g.lru[k+1:]...)
				break
			}
		}
	}
	g.lru = append(g.lru, p)
	off := i - p*PageSize
	if off >= len(rows) {
		return models.Mapping{}, false
	}
	return rows[off], true
}

// SetHovered records the row under the mouse (-1 = none). Rows are
// recycled widgets, so the grid, not the widget, knows which row is hovered.
func (g *Grid) SetHovered(i int) {
	g.mu.Lock()
	g.hovered = i
	g.mu.Unlock()
}

// Hovered is the row under the mouse, or -1.
func (g *Grid) Hovered() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.hovered
}

// Edit is a person's change to one row.
type Edit struct {
	AID, BID, State string
}

// States a person may pick in the edit dialog.
var States = []string{models.StateOK, models.StatePending, models.StateConflict, models.StateError, models.StateDeletePending}

// SaveEdit changes a row's ids or state. Ids stay unique per side: an id
// another row already maps is refused with models.ErrDuplicateID.
func (g *Grid) SaveEdit(rowID uint, e Edit) error {
	e.AID, e.BID = strings.TrimSpace(e.AID), strings.TrimSpace(e.BID)
	if e.AID == "" && e.BID == "" {
		return errors.New("give at least one record id")
	}
	m, err := g.store.MappingByID(rowID) // for its pair
	if err != nil {
		return err
	}
	err = g.held(m.PairID, func() error {
		// read again: a run that ended while we waited may have changed it
		m, err := g.store.MappingByID(rowID)
		if err != nil {
			return err
		}
		m.AID, m.BID, m.State = e.AID, e.BID, e.State
		if e.State != models.StateError && e.State != models.StateConflict {
			m.LastError = ""
		}
		return g.store.UpdateMapping(m)
	})
	if err != nil {
		if errors.Is(err, models.ErrDuplicateID) {
			return fmt.Errorf("not saved: %w", err)
		}
		return err
	}
	return g.Refresh()
}

// Delete removes a mapping row; the records on both sides are untouched.
func (g *Grid) Delete(rowID uint) error {
	m, err := g.store.MappingByID(rowID)
	if err != nil {
		return err
	}
	if err := g.held(m.PairID, func() error { return g.store.DeleteMapping(rowID) }); err != nil {
		return err
	}
	return g.Refresh()
}

// Export writes the rows of the current query as CSV. progress (optional)
// gets rows written and the total after each page.
func (g *Grid) Export(w io.Writer, progress func(done, total int)) (int, error) {
	return g.store.ExportCSV(w, g.Query(), progress)
}
