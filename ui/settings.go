package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"tandem/models"
	"tandem/ui/vm"
)

// SettingsView edits the schedule and policies of the pair.
type SettingsView struct {
	store    *models.Store
	pair     func() *models.Pair
	onSaved  func()
	interval *widget.Entry
	conflict *widget.Select
	deletes  *widget.Select
	brake    *widget.Entry
	result   *widget.Label
	dataDir  string
	content  fyne.CanvasObject
}

func labels(list []string) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = vm.PolicyLabel(p)
	}
	return out
}

// NewSettingsView builds the settings form.
func NewSettingsView(store *models.Store, pair func() *models.Pair, dataDir string, onSaved func()) *SettingsView {
	v := &SettingsView{store: store, pair: pair, onSaved: onSaved, dataDir: dataDir}
	v.interval = widget.NewEntry()
	v.interval.SetPlaceHolder("5m")
	v.conflict = widget.NewSelect(labels(vm.ConflictPolicies), nil)
	v.deletes = widget.NewSelect(labels(vm.DeletePolicies), nil)
	v.brake = widget.NewEntry()
	v.brake.SetPlaceHolder("25")
	v.result = widget.NewLabel("")
	v.result.Wrapping = fyne.TextWrapWord
	form := widget.NewForm(
		&widget.FormItem{Text: "Sync every", Widget: v.interval, HintText: "e.g. 30s, 5m, 1h; the shortest is 10s"},
		&widget.FormItem{Text: "When both sides changed", Widget: v.conflict, HintText: "Same field changed differently on both sides"},
		&widget.FormItem{Text: "When a record is deleted", Widget: v.deletes},
		&widget.FormItem{Text: "Brake threshold (%)", Widget: v.brake, HintText: "A run that would delete more than this share of a side stops and asks"},
	)
	save := widget.NewButtonWithIcon("Save settings", theme.DocumentSaveIcon(), v.doSave)
	save.Importance = widget.HighImportance
	about := widget.NewLabel(fmt.Sprintf("Data folder: %s\nSecrets are kept in the OS keyring only.", dataDir))
	v.content = container.NewVScroll(container.NewVBox(
		widget.NewCard("Schedule and policies", "", container.NewVBox(form, container.NewHBox(save), v.result)),
		about))
	return v
}

// Content is the view's root object.
func (v *SettingsView) Content() fyne.CanvasObject { return v.content }

// Load fills the form from the pair.
func (v *SettingsView) Load() {
	p := v.pair()
	if p == nil {
		return
	}
	s := vm.SettingsOf(p)
	v.interval.SetText(s.Interval)
	v.conflict.SetSelected(vm.PolicyLabel(s.Conflict))
	v.deletes.SetSelected(vm.PolicyLabel(s.Deletes))
	v.brake.SetText(s.BrakeShare)
	v.result.SetText("")
}

func (v *SettingsView) doSave() {
	p := v.pair()
	if p == nil {
		return
	}
	err := vm.SaveSettings(v.store, p, vm.Settings{
		Interval:   v.interval.Text,
		Conflict:   vm.PolicyFromLabel(vm.ConflictPolicies, v.conflict.Selected),
		Deletes:    vm.PolicyFromLabel(vm.DeletePolicies, v.deletes.Selected),
		BrakeShare: v.brake.Text,
	})
	if err != nil {
		v.result.Importance = widget.DangerImportance
		v.result.SetText(err.Error())
		return
	}
	v.result.Importance = widget.SuccessImportance
	v.result.SetText("Saved.")
	v.Load()
	v.result.SetText("Saved.")
	if v.onSaved != nil {
		v.onSaved()
	}
}

// HistoryView lists runs and per-record events, newest first.
type HistoryView struct {
	store   *models.Store
	pair    func() *models.Pair
	runs    []models.Run
	events  []models.Event
	runList *widget.List
	evList  *widget.List
	content fyne.CanvasObject
}

// HistoryLimit bounds how many runs and events the view shows.
const HistoryLimit = 500

// NewHistoryView builds the history view.
func NewHistoryView(store *models.Store, pair func() *models.Pair) *HistoryView {
	v := &HistoryView{store: store, pair: pair}
	v.runList = widget.NewList(func() int { return len(v.runs) },
		func() fyne.CanvasObject {
			return container.New(&columns{weights: []float32{1.4, 0.7, 3.2, 3}, fixed: 0},
				widget.NewLabel(""), widget.NewLabel(""), widget.NewLabel(""), truncLabel())
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			r := v.runs[i]
			c := o.(*fyne.Container).Objects
			c[0].(*widget.Label).SetText(r.Started.Local().Format("2006-01-02 15:04:05"))
			c[1].(*widget.Label).SetText(r.Trigger)
			c[2].(*widget.Label).SetText(fmt.Sprintf("created %d, updated %d, deleted %d, conflicts %d, errors %d",
				r.Created, r.Updated, r.Deleted, r.Conflicts, r.Errors))
			l := c[3].(*widget.Label)
			l.Importance = widget.DangerImportance
			switch {
			case r.Error != "":
				l.SetText(r.Error)
			case r.Ended.IsZero():
				l.Importance = widget.MediumImportance
				l.SetText("running…")
			default:
				l.Importance = widget.SuccessImportance
				l.SetText("done in " + r.Ended.Sub(r.Started).Round(time.Millisecond).String())
			}
		})
	v.evList = widget.NewList(func() int { return len(v.events) },
		func() fyne.CanvasObject {
			return container.New(&columns{weights: []float32{1.4, 0.8, 0.5, 1.6, 1.6, 1.6, 2.5}, fixed: 0},
				widget.NewLabel(""), widget.NewLabel(""), widget.NewLabel(""), truncLabel(), truncLabel(), truncLabel(), truncLabel())
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			e := v.events[i]
			c := o.(*fyne.Container).Objects
			c[0].(*widget.Label).SetText(e.At.Local().Format("2006-01-02 15:04:05"))
			c[1].(*widget.Label).SetText(e.Action)
			c[2].(*widget.Label).SetText(strings.ToUpper(e.Side))
			c[3].(*widget.Label).SetText(orDash(e.AID))
			c[4].(*widget.Label).SetText(orDash(e.BID))
			c[5].(*widget.Label).SetText(e.Fields)
			l := c[6].(*widget.Label)
			l.Importance = widget.DangerImportance
			l.SetText(firstLine(e.Error))
		})
	refresh := widget.NewButtonWithIcon("Refresh", theme.ViewRefreshIcon(), v.Load)
	runHeader := container.New(&columns{weights: []float32{1.4, 0.7, 3.2, 3}},
		headerLabel("Started"), headerLabel("Trigger"), headerLabel("Result"), headerLabel("Outcome"))
	evHeader := container.New(&columns{weights: []float32{1.4, 0.8, 0.5, 1.6, 1.6, 1.6, 2.5}},
		headerLabel("When"), headerLabel("Action"), headerLabel("Side"), headerLabel("A record id"),
		headerLabel("B record id"), headerLabel("Fields"), headerLabel("Error"))
	runs := container.NewBorder(container.NewVBox(
		container.NewBorder(nil, nil, widget.NewLabelWithStyle("Runs", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), refresh),
		runHeader, widget.NewSeparator()), nil, nil, nil, v.runList)
	events := container.NewBorder(container.NewVBox(
		widget.NewLabelWithStyle("Record events", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		evHeader, widget.NewSeparator()), nil, nil, nil, v.evList)
	split := container.NewVSplit(runs, events)
	split.Offset = 0.4
	v.content = split
	return v
}

func truncLabel() *widget.Label {
	l := widget.NewLabel("")
	l.Truncation = fyne.TextTruncateEllipsis
	return l
}

// Content is the view's root object.
func (v *HistoryView) Content() fyne.CanvasObject { return v.content }

// Load re-reads the newest runs and events off the UI goroutine.
func (v *HistoryView) Load() {
	p := v.pair()
	if p == nil {
		return
	}
	id := p.ID
	go func() {
		runs, _ := v.store.Runs(id, HistoryLimit)
		events, _ := v.store.Events(id, 0, HistoryLimit)
		fyne.Do(func() {
			v.runs, v.events = runs, events
			v.runList.Refresh()
			v.evList.Refresh()
		})
	}()
}
