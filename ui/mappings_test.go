package ui

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
	"gorm.io/gorm"

	"tandem/models"
	"tandem/sync/runner"
	"tandem/ui/vm"
)

// seedStore opens a store with one pair and n mappings a-0001/b-0001 ...
func seedStore(t testing.TB, n int) (*models.Store, *models.Pair) {
	t.Helper()
	st, err := models.Open(filepath.Join(t.TempDir(), "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &models.Pair{
		Name: "test",
		A:    models.Connection{Name: "Folder A", Kind: "vcarddir", Settings: map[string]string{"path": "/tmp/a"}},
		B:    models.Connection{Name: "Folder B", Kind: "vcarddir", Settings: map[string]string{"path": "/tmp/b"}},
		Key:  "email",
		Fields: []models.Field{
			{Name: "email", A: "EMAIL", B: "EMAIL", Transform: "email"},
			{Name: "name", A: "FN", B: "FN"},
		},
		Conflict: models.ConflictNewest, Deletes: models.DeletePropagate, Interval: "5m", BrakeShare: 0.25,
	}
	if err := st.SavePair(p); err != nil {
		t.Fatal(err)
	}
	ms := make([]*models.Mapping, n)
	for i := range ms {
		ms[i] = &models.Mapping{PairID: p.ID, AID: fmt.Sprintf("a-%04d", i+1), BID: fmt.Sprintf("b-%04d", i+1),
			Key: fmt.Sprintf("person%d@example.com", i+1), State: models.StateOK, SyncedAt: time.Now()}
	}
	if err := st.Write(func(tx *gorm.DB) error { return models.SaveMappings(tx, ms) }); err != nil {
		t.Fatal(err)
	}
	return st, p
}

func newTestMappings(t *testing.T, n int) (*MappingsView, fyne.Window, *models.Store, *models.Pair) {
	t.Helper()
	test.NewTempApp(t)
	st, p := seedStore(t, n)
	g := vm.NewGrid(st)
	if err := g.SetPair(p.ID); err != nil {
		t.Fatal(err)
	}
	w := test.NewWindow(nil)
	v := NewMappingsView(g, w)
	w.SetContent(v.Content())
	w.Resize(fyne.NewSize(1000, 600))
	t.Cleanup(w.Close)
	return v, w, st, p
}

// visibleRows returns the rendered rows by list index.
func visibleRows(v *MappingsView) map[int]*mappingRow {
	out := map[int]*mappingRow{}
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if r, ok := o.(*mappingRow); ok {
			if r.Visible() && r.index >= 0 {
				out[r.index] = r
			}
			return
		}
		if w, ok := o.(fyne.Widget); ok {
			for _, c := range test.WidgetRenderer(w).Objects() {
				walk(c)
			}
			return
		}
		if c, ok := o.(*fyne.Container); ok {
			for _, x := range c.Objects {
				walk(x)
			}
		}
	}
	walk(v.list)
	return out
}

func findButton(o fyne.CanvasObject, text string) *widget.Button {
	if b, ok := o.(*widget.Button); ok && b.Text == text && b.Visible() {
		return b
	}
	var kids []fyne.CanvasObject
	switch x := o.(type) {
	case *fyne.Container:
		kids = x.Objects
	case fyne.Widget:
		kids = test.WidgetRenderer(x).Objects()
	}
	for _, k := range kids {
		if b := findButton(k, text); b != nil {
			return b
		}
	}
	return nil
}

func topOverlay(t *testing.T, w fyne.Window) fyne.CanvasObject {
	t.Helper()
	o := w.Canvas().Overlays().Top()
	if o == nil {
		t.Fatal("no dialog is open")
	}
	return o
}

func TestHoverShowsOnlyThatRowsIcons(t *testing.T) {
	v, w, _, _ := newTestMappings(t, 30)
	rows := visibleRows(v)
	if len(rows) < 5 {
		t.Fatalf("only %d rows rendered", len(rows))
	}
	for i, r := range rows {
		if r.actionsVisible() {
			t.Fatalf("row %d shows actions before any hover", i)
		}
	}
	target := rows[3]
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(target)
	test.MoveMouse(w.Canvas(), pos.Add(fyne.NewPos(40, target.Size().Height/2)))
	if v.grid.Hovered() != 3 {
		t.Fatalf("hovered row = %d, want 3", v.grid.Hovered())
	}
	for i, r := range visibleRows(v) {
		if got, want := r.actionsVisible(), i == 3; got != want {
			t.Errorf("row %d: actions visible = %v, want %v", i, got, want)
		}
	}
	// Moving to another row moves the icons with it.
	other := visibleRows(v)[1]
	pos = fyne.CurrentApp().Driver().AbsolutePositionForObject(other)
	test.MoveMouse(w.Canvas(), pos.Add(fyne.NewPos(40, other.Size().Height/2)))
	for i, r := range visibleRows(v) {
		if got, want := r.actionsVisible(), i == 1; got != want {
			t.Errorf("after move, row %d: actions visible = %v, want %v", i, got, want)
		}
	}
	// Leaving the grid hides them all.
	test.MoveMouse(w.Canvas(), fyne.NewPos(2, 2))
	for i, r := range visibleRows(v) {
		if r.actionsVisible() {
			t.Errorf("row %d still shows actions after the mouse left", i)
		}
	}
}

func TestEditSavesChangedID(t *testing.T) {
	v, w, st, _ := newTestMappings(t, 10)
	row := visibleRows(v)[2]
	test.Tap(row.edit)
	if v.lastEdit == nil {
		t.Fatal("edit dialog did not open")
	}
	v.lastEdit.a.SetText("a-renamed")
	test.Tap(findButton(topOverlay(t, w), "Save"))
	m, err := st.MappingByID(v.lastEdit.rowID)
	if err != nil {
		t.Fatal(err)
	}
	if m.AID != "a-renamed" || m.BID != "b-0003" {
		t.Fatalf("after edit: A=%q B=%q", m.AID, m.BID)
	}
	if got, _ := v.grid.Row(2); got.AID != "a-renamed" {
		t.Fatalf("grid shows %q after edit", got.AID)
	}

	// A duplicate id is refused and nothing changes.
	test.Tap(visibleRows(v)[4].edit)
	v.lastEdit.b.SetText("b-0001")
	test.Tap(findButton(topOverlay(t, w), "Save"))
	m, _ = st.MappingByID(v.lastEdit.rowID)
	if m.BID != "b-0005" {
		t.Fatalf("duplicate B id was saved: %q", m.BID)
	}
}

func TestDeleteAfterConfirmation(t *testing.T) {
	v, w, st, p := newTestMappings(t, 10)
	test.Tap(visibleRows(v)[0].del)
	// Cancel keeps the row.
	test.Tap(findButton(topOverlay(t, w), "Cancel"))
	if n, _ := st.CountMappings(p.ID); n != 10 {
		t.Fatalf("cancel deleted: %d rows", n)
	}
	test.Tap(visibleRows(v)[0].del)
	test.Tap(findButton(topOverlay(t, w), "Delete"))
	if n, _ := st.CountMappings(p.ID); n != 9 {
		t.Fatalf("after delete: %d rows, want 9", n)
	}
	if ms, _ := st.FindMappings(p.ID, "a-0001"); len(ms) != 0 {
		t.Fatal("deleted row is still in the store")
	}
	if v.list.Length() != 9 {
		t.Fatalf("list shows %d rows", v.list.Length())
	}
	if m, _ := v.grid.Row(0); m.AID != "a-0002" {
		t.Fatalf("first row is %q", m.AID)
	}
}

func TestSearchNarrowsRows(t *testing.T) {
	v, _, _, _ := newTestMappings(t, 120)
	// Typed key by key; each key starts a search in the background.
	for _, r := range "b-001" {
		test.Type(v.search, string(r))
		v.wait()
	}
	// b-0010 .. b-0019
	if v.list.Length() != 10 {
		t.Fatalf("prefix search: %d rows, want 10", v.list.Length())
	}
	for i := 0; i < v.list.Length(); i++ {
		m, _ := v.grid.Row(i)
		if m.BID[:5] != "b-001" {
			t.Fatalf("row %d = %q does not match", i, m.BID)
		}
	}
	if v.count.Text != `10 mappings matching "b-001"` {
		t.Fatalf("count label %q", v.count.Text)
	}
	v.search.SetText("a-0042")
	v.wait()
	if v.list.Length() != 1 {
		t.Fatalf("exact search: %d rows", v.list.Length())
	}
	// Escape clears the search.
	v.search.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	v.wait()
	if v.list.Length() != 120 || v.search.Text != "" {
		t.Fatalf("after Escape: %d rows, search %q", v.list.Length(), v.search.Text)
	}
}

func TestCSVExportWritesRows(t *testing.T) {
	v, _, _, _ := newTestMappings(t, 250)
	v.search.SetText("a-01")
	v.wait()
	path := filepath.Join(t.TempDir(), "out.csv")
	wc, err := storage.Writer(storage.NewFileURI(path))
	if err != nil {
		t.Fatal(err)
	}
	v.exportTo(wc)
	v.wait()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 101 { // header + a-0100..a-0199
		t.Fatalf("csv has %d lines, want 101", len(recs))
	}
	if recs[0][0] != "a_id" || recs[1][0] != "a-0100" || recs[100][1] != "b-0199" {
		t.Fatalf("unexpected csv content: %v ... %v", recs[1], recs[100])
	}
	if !v.export.Disabled() && v.progress.Visible() {
		t.Fatal("progress still shown after export")
	}
}

// TestDeleteWaitsForRunningSync: while the pair is held (a sync running in
// another Tandem process holds the same lock), a delete in the grid is
// refused with a message and the row stays; once the sync is over the
// delete goes through.
func TestDeleteRefusedWhileSyncRuns(t *testing.T) {
	v, w, st, p := newTestMappings(t, 3)
	mine := runner.New(st, nil)
	v.grid.SetHold(func(pairID uint) (func(), error) { return mine.Hold(pairID, 50*time.Millisecond) })
	other := runner.New(st, nil) // stands for the other process: its own slots, the same lock file
	release, err := other.Hold(p.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	test.Tap(visibleRows(v)[0].del)
	test.Tap(findButton(topOverlay(t, w), "Delete"))
	if n, _ := st.CountMappings(p.ID); n != 3 {
		t.Fatalf("deleted during a sync: %d rows", n)
	}
	if msg := overlayText(topOverlay(t, w)); !strings.Contains(msg, "being synced right now") {
		t.Fatalf("no busy message shown: %q", msg)
	}
	w.Canvas().Overlays().Top().Hide()
	w.Canvas().Overlays().Remove(w.Canvas().Overlays().Top())
	release()
	test.Tap(visibleRows(v)[0].del)
	test.Tap(findButton(topOverlay(t, w), "Delete"))
	if n, _ := st.CountMappings(p.ID); n != 2 {
		t.Fatalf("after the sync ended: %d rows, want 2", n)
	}
}

// overlayText joins the text of every label and rich text in o.
func overlayText(o fyne.CanvasObject) string {
	var sb strings.Builder
	var walk func(o fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		switch x := o.(type) {
		case *widget.Label:
			sb.WriteString(x.Text + " ")
		case *widget.RichText:
			sb.WriteString(x.String() + " ")
		case *canvas.Text:
			sb.WriteString(x.Text + " ")
		}
		switch x := o.(type) {
		case *fyne.Container:
			for _, k := range x.Objects {
				walk(k)
			}
		case fyne.Widget:
			for _, k := range test.WidgetRenderer(x).Objects() {
				walk(k)
			}
		}
	}
	walk(o)
	return sb.String()
}
