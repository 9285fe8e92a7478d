package ui

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"tandem/models"
	"tandem/ui/vm"
)

var gridColumns = &columns{weights: []float32{2.2, 2.2, 2.4, 1.1, 1.9, 2.2}, fixed: 76}

// MappingsView is the grid of sync mappings with search, edit, delete and
// CSV export.
type MappingsView struct {
	grid *vm.Grid
	win  fyne.Window

	list     *widget.List
	search   *searchEntry
	count    *widget.Label
	stateSel *widget.Select
	export   *widget.Button
	progress *widget.ProgressBar
	status   *widget.Label
	content  fyne.CanvasObject

	// OnResolve opens the conflict view for a row in state conflict.
	OnResolve func(m models.Mapping)

	bg        sync.WaitGroup // background work (search, export), for tests
	searchSeq int
	lastEdit  *editForm // the open edit dialog, for tests
	lastDlg   dialog.Dialog
}

type editForm struct {
	rowID uint
	a, b  *widget.Entry
	state *widget.Select
	dlg   *dialog.FormDialog
}

// NewMappingsView builds the grid view over a view-model.
func NewMappingsView(grid *vm.Grid, win fyne.Window) *MappingsView {
	v := &MappingsView{grid: grid, win: win}
	v.search = newSearchEntry()
	v.search.SetPlaceHolder("Find by record id (A or B), exact or prefix…")
	v.search.ActionItem = widget.NewIcon(theme.SearchIcon())
	v.search.OnChanged = func(s string) { v.runSearch(s) }
	v.search.onEscape = func() { v.win.Canvas().Unfocus() }

	v.count = widget.NewLabel("")
	v.count.TextStyle.Bold = true
	v.stateSel = widget.NewSelect(append([]string{"All states"}, vm.States...), func(s string) {
		if s == "All states" {
			s = ""
		}
		if s == v.grid.Query().State {
			return
		}
		v.grid.SetStateFilter(s)
		v.background(func() func() {
			err := v.grid.Refresh()
			return func() { v.refreshed(err) }
		})
	})
	v.stateSel.SetSelectedIndex(0)
	v.export = widget.NewButtonWithIcon("Download CSV", theme.DownloadIcon(), v.askExport)
	v.progress = widget.NewProgressBar()
	v.progress.Hide()
	v.status = widget.NewLabel("")
	v.status.Truncation = fyne.TextTruncateEllipsis

	v.list = widget.NewList(
		func() int { return v.grid.Count() },
		func() fyne.CanvasObject { return newMappingRow(v) },
		func(id widget.ListItemID, o fyne.CanvasObject) { o.(*mappingRow).bind(id) },
	)
	v.list.OnSelected = func(id widget.ListItemID) {
		v.list.Unselect(id)
		if m, ok := v.grid.Row(id); ok && m.State == models.StateConflict && v.OnResolve != nil {
			v.OnResolve(m)
		}
	}

	header := container.New(gridColumns,
		headerLabel("A record id"), headerLabel("B record id"), headerLabel("Key"),
		headerLabel("State"), headerLabel("Last synced"), headerLabel("Last error"), widget.NewLabel(""))

	toolbar := container.NewBorder(nil, nil, nil,
		container.NewHBox(v.stateSel, v.export),
		v.search)
	top := container.NewVBox(toolbar,
		container.NewBorder(nil, nil, v.count, nil, v.progress),
		widget.NewSeparator(), header, widget.NewSeparator())
	v.content = container.NewBorder(top, v.status, nil, nil, v.list)
	v.updateCount()
	return v
}

func headerLabel(s string) *widget.Label {
	l := widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.Truncation = fyne.TextTruncateEllipsis
	return l
}

// Content is the view's root object.
func (v *MappingsView) Content() fyne.CanvasObject { return v.content }

// FocusSearch puts the keyboard focus in the search box (Ctrl+F).
func (v *MappingsView) FocusSearch() { v.win.Canvas().Focus(v.search) }

// ClearSearch empties the search box (Escape).
func (v *MappingsView) ClearSearch() { v.search.SetText("") }

// Reload re-reads the rows (after a run or a pair change), off the UI goroutine.
func (v *MappingsView) Reload() {
	v.background(func() func() {
		err := v.grid.Refresh()
		return func() { v.refreshed(err) }
	})
}

// background runs work off the UI goroutine and its returned function on it.
func (v *MappingsView) background(work func() func()) {
	v.bg.Add(1)
	go func() {
		defer v.bg.Done()
		done := work()
		if done != nil {
			fyne.DoAndWait(done)
		}
	}()
}

// wait blocks until background work is done (tests, benchmarks).
func (v *MappingsView) wait() { v.bg.Wait() }

func (v *MappingsView) runSearch(s string) {
	v.searchSeq++
	seq := v.searchSeq
	v.grid.SetSearchText(s)
	v.background(func() func() {
		err := v.grid.Refresh()
		return func() {
			if seq != v.searchSeq {
				return // a newer search is on its way
			}
			v.refreshed(err)
		}
	})
}

func (v *MappingsView) refreshed(err error) {
	if err != nil {
		v.status.SetText("Could not read the mappings: " + err.Error())
	}
	v.updateCount()
	v.list.Refresh()
}

func (v *MappingsView) updateCount() {
	n := v.grid.Count()
	q := v.grid.Query()
	switch {
	case q.Search != "" && n == 0:
		v.count.SetText(fmt.Sprintf("No record id matches %q", q.Search))
	case q.Search != "":
		v.count.SetText(fmt.Sprintf("%s matching %q", plural(n, "mapping"), q.Search))
	default:
		v.count.SetText(plural(n, "mapping"))
	}
}

// hover moves the row actions to row i (-1 = none).
func (v *MappingsView) hover(i int) {
	prev := v.grid.Hovered()
	if prev == i {
		return
	}
	v.grid.SetHovered(i)
	if prev >= 0 {
		v.list.RefreshItem(prev)
	}
	if i >= 0 {
		v.list.RefreshItem(i)
	}
}

func (v *MappingsView) unhover(i int) {
	if v.grid.Hovered() == i {
		v.hover(-1)
	}
}

// showEdit opens the edit dialog for row i.
func (v *MappingsView) showEdit(i int) {
	m, ok := v.grid.Row(i)
	if !ok {
		return
	}
	f := &editForm{rowID: m.ID, a: widget.NewEntry(), b: widget.NewEntry()}
	f.a.SetText(m.AID)
	f.b.SetText(m.BID)
	f.state = widget.NewSelect(vm.States, nil)
	f.state.SetSelected(m.State)
	items := []*widget.FormItem{
		{Text: "A record id", Widget: f.a, HintText: "Id of the record in side A"},
		{Text: "B record id", Widget: f.b, HintText: "Id of the record in side B"},
		{Text: "State", Widget: f.state},
	}
	f.dlg = dialog.NewForm("Edit mapping", "Save", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		v.saveEdit(f)
	}, v.win)
	f.dlg.Resize(fyne.NewSize(480, 0))
	v.lastEdit = f
	f.dlg.Show()
}

func (v *MappingsView) saveEdit(f *editForm) {
	err := v.grid.SaveEdit(f.rowID, vm.Edit{AID: f.a.Text, BID: f.b.Text, State: f.state.Selected})
	if err != nil {
		dialog.ShowError(err, v.win)
		return
	}
	v.status.SetText("Mapping saved.")
	v.refreshed(nil)
}

// confirmDelete asks before removing row i's mapping.
func (v *MappingsView) confirmDelete(i int) {
	m, ok := v.grid.Row(i)
	if !ok {
		return
	}
	msg := fmt.Sprintf("Remove the mapping between A %q and B %q?\n\nThe records themselves are not deleted; the next sync may link them again by key.", m.AID, m.BID)
	d := dialog.NewConfirm("Delete mapping", msg, func(yes bool) {
		if !yes {
			return
		}
		if err := v.grid.Delete(m.ID); err != nil {
			dialog.ShowError(err, v.win)
			return
		}
		v.status.SetText("Mapping deleted.")
		v.refreshed(nil)
	}, v.win)
	d.SetConfirmText("Delete")
	d.SetDismissText("Cancel")
	d.SetConfirmImportance(widget.DangerImportance)
	v.lastDlg = d
	d.Show()
}

func (v *MappingsView) askExport() {
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil {
			dialog.ShowError(err, v.win)
			return
		}
		if w == nil {
			return // cancelled
		}
		v.exportTo(w)
	}, v.win)
	name := "tandem-mappings.csv"
	if s := v.grid.Search(); s != "" {
		name = "tandem-mappings-" + sanitize(s) + ".csv"
	}
	d.SetFileName(name)
	d.Show()
}

// exportTo streams the current rows to w off the UI goroutine.
func (v *MappingsView) exportTo(w fyne.URIWriteCloser) {
	v.export.Disable()
	v.progress.SetValue(0)
	v.progress.Show()
	v.status.SetText("Exporting…")
	v.background(func() func() {
		start := time.Now()
		n, err := v.grid.Export(w, func(done, total int) {
			if total > 0 {
				f := float64(done) / float64(total)
				fyne.Do(func() { v.progress.SetValue(f) })
			}
		})
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		return func() {
			v.export.Enable()
			v.progress.Hide()
			if err != nil {
				v.status.SetText("Export failed: " + err.Error())
				dialog.ShowError(fmt.Errorf("the CSV was not written completely: %w", err), v.win)
				return
			}
			v.status.SetText(fmt.Sprintf("Exported %s to %s in %s.", plural(n, "row"), uriPath(w.URI()), time.Since(start).Round(time.Millisecond)))
		}
	})
}

func uriPath(u fyne.URI) string {
	if u == nil {
		return ""
	}
	if u.Scheme() == "file" {
		return u.Path()
	}
	return u.String()
}

var _ = storage.NewFileURI // used by tests

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r < ' ' {
			return '_'
		}
		return r
	}, s)
}

func plural(n int, word string) string {
	s := thousands(n) + " " + word
	if n != 1 {
		s += "s"
	}
	return s
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mappingRow is one recycled grid row. It is the Hoverable; its icons are not.
type mappingRow struct {
	widget.BaseWidget
	v       *MappingsView
	index   int
	cells   [6]*widget.Label
	edit    *tapIcon
	del     *tapIcon
	resolve *tapIcon
	actions *fyne.Container
}

func newMappingRow(v *MappingsView) *mappingRow {
	r := &mappingRow{v: v, index: -1}
	for i := range r.cells {
		r.cells[i] = widget.NewLabel("")
		r.cells[i].Truncation = fyne.TextTruncateEllipsis
	}
	r.edit = newTapIcon(theme.DocumentCreateIcon(), "Edit", func() { v.showEdit(r.index) })
	r.del = newTapIcon(theme.DeleteIcon(), "Delete", func() { v.confirmDelete(r.index) })
	r.resolve = newTapIcon(theme.WarningIcon(), "Resolve conflict", func() {
		if m, ok := v.grid.Row(r.index); ok && v.OnResolve != nil {
			v.OnResolve(m)
		}
	})
	r.actions = container.NewHBox(r.resolve, r.edit, r.del)
	r.ExtendBaseWidget(r)
	return r
}

func (r *mappingRow) CreateRenderer() fyne.WidgetRenderer {
	objs := make([]fyne.CanvasObject, 0, 7)
	for _, c := range r.cells {
		objs = append(objs, c)
	}
	objs = append(objs, r.actions)
	return widget.NewSimpleRenderer(container.New(gridColumns, objs...))
}

func (r *mappingRow) bind(i int) {
	r.index = i
	m, ok := r.v.grid.Row(i)
	if !ok {
		for _, c := range r.cells {
			c.SetText("")
		}
		r.showActions(false, false)
		return
	}
	r.cells[0].SetText(orDash(m.AID))
	r.cells[1].SetText(orDash(m.BID))
	r.cells[2].SetText(m.Key)
	r.cells[3].SetText(m.State)
	r.cells[3].Importance = stateImportance(m.State)
	r.cells[3].Refresh()
	if m.SyncedAt.IsZero() {
		r.cells[4].SetText("never")
	} else {
		r.cells[4].SetText(m.SyncedAt.Local().Format("2006-01-02 15:04"))
	}
	r.cells[5].SetText(firstLine(m.LastError))
	r.cells[5].Importance = widget.DangerImportance
	r.showActions(r.v.grid.Hovered() == i, m.State == models.StateConflict)
}

func (r *mappingRow) showActions(hovered, conflict bool) {
	if hovered {
		r.edit.Show()
		r.del.Show()
	} else {
		r.edit.Hide()
		r.del.Hide()
	}
	if conflict {
		r.resolve.Show()
	} else {
		r.resolve.Hide()
	}
}

// actionsVisible reports whether the row's Edit and Delete icons show.
func (r *mappingRow) actionsVisible() bool { return r.edit.Visible() && r.del.Visible() }

// MouseIn shows this row's actions.
func (r *mappingRow) MouseIn(*desktop.MouseEvent) { r.v.hover(r.index) }

// MouseMoved keeps the actions on this row.
func (r *mappingRow) MouseMoved(*desktop.MouseEvent) {
	if r.v.grid.Hovered() != r.index {
		r.v.hover(r.index)
	}
}

// MouseOut hides this row's actions.
func (r *mappingRow) MouseOut() { r.v.unhover(r.index) }

func stateImportance(s string) widget.Importance {
	switch s {
	case models.StateOK:
		return widget.SuccessImportance
	case models.StateError:
		return widget.DangerImportance
	case models.StateConflict, models.StateDeletePending:
		return widget.WarningImportance
	default:
		return widget.MediumImportance
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + "…"
	}
	return s
}
