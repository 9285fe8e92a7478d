// Package ui is Tandem's window: the views (mappings grid, connections,
// fields, settings, history), the status bar and the tray. State and
// actions live in the view-models of ui/vm; this package binds them to Fyne
// widgets. It never imports fyne/v2/app (cmd/tandem creates the app).
package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"tandem/assets"
	"tandem/models"
	"tandem/sync/engine"
	"tandem/sync/runner"
	"tandem/sync/secrets"
	"tandem/ui/vm"
)

// Syncer runs pairs in the background (*scheduler.Scheduler).
type Syncer interface {
	SyncNow(pairID uint) error
	Pause()
	Resume()
	Reload() error
}

// Deps is what the window works with.
type Deps struct {
	Store   *models.Store
	Secrets secrets.Store
	Runner  *runner.Runner
	Syncer  Syncer // nil: no background syncing (tests)
	DataDir string
	// DemoPair names the demo pair; while it is shown, a banner says so.
	DemoPair string
	// Tray says whether a system tray host is there (see TrayAvailable).
	Tray bool
}

// View names, for ShowView.
const (
	ViewMappings    = "mappings"
	ViewConnections = "connections"
	ViewFields      = "fields"
	ViewSettings    = "settings"
	ViewHistory     = "history"
)

// App is the main window.
type App struct {
	app  fyne.App
	win  fyne.Window
	d    Deps
	pair *models.Pair

	pairSel  *widget.Select
	tabs     *container.AppTabs
	tabByKey map[string]*container.TabItem
	banner   fyne.CanvasObject

	mappings    *MappingsView
	connections *ConnectionsView
	fields      *FieldsView
	settings    *SettingsView
	history     *HistoryView

	progress *widget.ProgressBar
	lastLbl  *widget.Label
	nextLbl  *widget.Label
	syncBtn  *widget.Button
	pauseBtn *widget.Button
	brakeBar *fyne.Container
	brakeLbl *widget.Label

	status   vm.Status
	paused   bool
	trayMenu *fyne.Menu
	pauseItm *fyne.MenuItem
	health   vm.Health
	notified string
	wasRun   bool
}

// editWait is how long an edit or delete in the grid waits for a running
// sync of the pair to end before it is refused (the window waits with it).
const editWait = 300 * time.Millisecond

// New builds the main window of a.
func New(a fyne.App, d Deps) *App {
	u := &App{app: a, d: d, tabByKey: map[string]*container.TabItem{}}
	a.SetIcon(assets.Icon)
	u.win = a.NewWindow("Tandem")
	u.win.SetIcon(assets.Icon)
	u.win.Resize(fyne.NewSize(1180, 720))

	current := func() *models.Pair { return u.pair }
	reloadSched := func() {
		if u.d.Syncer != nil {
			_ = u.d.Syncer.Reload()
		}
	}
	var tester vm.Tester
	if d.Runner != nil {
		tester = d.Runner.TestConnection
	}
	grid := vm.NewGrid(d.Store)
	if d.Runner != nil {
		grid.SetHold(func(pairID uint) (func(), error) { return d.Runner.Hold(pairID, editWait) })
	}
	u.mappings = NewMappingsView(grid, u.win)
	u.mappings.OnResolve = u.openSettle
	u.connections = NewConnectionsView(vm.NewConnections(d.Store, d.Secrets, tester), current, func() {
		u.reloadPairs()
		reloadSched()
	})
	u.fields = NewFieldsView(vm.NewFields(d.Store), current, u.win, reloadSched)
	u.settings = NewSettingsView(d.Store, current, d.DataDir, reloadSched)
	u.history = NewHistoryView(d.Store, current)

	add := func(key, title string, icon fyne.Resource, c fyne.CanvasObject) *container.TabItem {
		t := container.NewTabItemWithIcon(title, icon, container.NewPadded(c))
		u.tabByKey[key] = t
		return t
	}
	u.tabs = container.NewAppTabs(
		add(ViewMappings, "Mappings", theme.ListIcon(), u.mappings.Content()),
		add(ViewConnections, "Connections", theme.ComputerIcon(), u.connections.Content()),
		add(ViewFields, "Fields", theme.DocumentIcon(), u.fields.Content()),
		add(ViewSettings, "Settings", theme.SettingsIcon(), u.settings.Content()),
		add(ViewHistory, "History", theme.HistoryIcon(), u.history.Content()),
	)
	u.tabs.SetTabLocation(container.TabLocationLeading)
	u.tabs.OnSelected = func(t *container.TabItem) {
		if t == u.tabByKey[ViewHistory] {
			u.history.Load()
		}
	}

	u.pairSel = widget.NewSelect(nil, func(name string) { u.selectPair(name) })
	u.syncBtn = widget.NewButtonWithIcon("Sync now", theme.ViewRefreshIcon(), u.SyncNow)
	u.syncBtn.Importance = widget.HighImportance
	u.pauseBtn = widget.NewButtonWithIcon("Pause", theme.MediaPauseIcon(), u.TogglePause)
	logo := canvas.NewImageFromResource(assets.Icon)
	logo.SetMinSize(fyne.NewSquareSize(28))
	logo.FillMode = canvas.ImageFillContain
	title := widget.NewLabelWithStyle("Tandem", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	header := container.NewBorder(nil, nil,
		container.NewHBox(logo, title, widget.NewLabel("Pair:"), u.pairSel),
		container.NewHBox(u.pauseBtn, u.syncBtn))

	u.brakeLbl = widget.NewLabel("")
	u.brakeLbl.Wrapping = fyne.TextWrapWord
	u.brakeLbl.Importance = widget.WarningImportance
	allow := widget.NewButtonWithIcon("Allow these deletes once", theme.WarningIcon(), u.confirmForceDelete)
	allow.Importance = widget.DangerImportance
	u.brakeBar = container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()), allow, u.brakeLbl)
	u.brakeBar.Hide()

	u.banner = u.demoBanner()
	u.banner.Hide()

	u.progress = widget.NewProgressBar()
	u.progress.Hide()
	u.lastLbl = widget.NewLabel("Not synced yet")
	u.lastLbl.Truncation = fyne.TextTruncateEllipsis
	u.nextLbl = widget.NewLabel("")
	statusBar := container.NewVBox(widget.NewSeparator(),
		container.NewBorder(nil, nil, nil, u.nextLbl, container.NewBorder(nil, nil, nil, u.progress, u.lastLbl)))
	u.progress.TextFormatter = nil

	top := container.NewVBox(header, u.banner, u.brakeBar, widget.NewSeparator())
	u.win.SetContent(container.NewBorder(top, statusBar, nil, nil, u.tabs))

	u.shortcuts()
	u.reloadPairs()
	if d.Tray {
		u.setupTray()
		u.win.SetCloseIntercept(func() { u.win.Hide() })
	}
	return u
}

// Window is the main window.
func (u *App) Window() fyne.Window { return u.win }

// Pair is the pair shown.
func (u *App) Pair() *models.Pair { return u.pair }

// ShowView switches to a view by name (see the View constants).
func (u *App) ShowView(name string) {
	if t, ok := u.tabByKey[strings.ToLower(name)]; ok {
		u.tabs.Select(t)
	}
}

func (u *App) shortcuts() {
	c := u.win.Canvas()
	focus := func(fyne.Shortcut) {
		u.tabs.Select(u.tabByKey[ViewMappings])
		u.mappings.FocusSearch()
	}
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyF, Modifier: fyne.KeyModifierShortcutDefault}, focus)
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyF, Modifier: fyne.KeyModifierControl}, focus)
	c.SetOnTypedKey(func(k *fyne.KeyEvent) {
		if k.Name == fyne.KeyEscape && u.tabs.Selected() == u.tabByKey[ViewMappings] {
			u.mappings.ClearSearch()
		}
	})
}

func (u *App) demoBanner() fyne.CanvasObject {
	text := widget.NewRichTextFromMarkdown(fmt.Sprintf(
		// Two short paragraphs: Fyne's word wrap breaks badly next to a
		// code span or bold text in the middle of a long line.
		"**This is a demo.** Tandem is syncing two local vCard folders it created in `%s`\n\n"+
			"To sync your real address books or CRM, set up both sides under **Connections** and the field map under **Fields**.", u.d.DataDir))
	text.Wrapping = fyne.TextWrapWord
	setup := widget.NewButtonWithIcon("Set up connections", theme.NavigateNextIcon(), func() { u.ShowView(ViewConnections) })
	bg := canvas.NewRectangle(theme.Color(theme.ColorNamePrimary))
	bg.FillColor = withAlpha(theme.Color(theme.ColorNamePrimary), 0x30)
	bg.CornerRadius = 6
	var box *fyne.Container
	closeBtn := newTapIcon(theme.CancelIcon(), "Hide", func() { box.Hide() })
	box = container.NewStack(bg, container.NewPadded(container.NewBorder(nil, nil, widget.NewIcon(theme.InfoIcon()),
		container.NewHBox(setup, container.NewCenter(closeBtn)), text)))
	return box
}

// reloadPairs re-reads the pairs and keeps the current one selected.
func (u *App) reloadPairs() {
	ps, err := u.d.Store.Pairs()
	if err != nil {
		dialog.ShowError(fmt.Errorf("could not read the pairs: %w", err), u.win)
		return
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	u.pairSel.SetOptions(names)
	want := ""
	if u.pair != nil {
		want = u.pair.Name
	}
	if len(names) > 0 && (want == "" || !contains(names, want)) {
		want = names[0]
	}
	if want != "" {
		if u.pairSel.Selected == want {
			u.selectPair(want)
		} else {
			u.pairSel.SetSelected(want) // calls selectPair
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (u *App) selectPair(name string) {
	p, err := u.d.Store.PairByName(name)
	if err != nil {
		dialog.ShowError(err, u.win)
		return
	}
	changed := u.pair == nil || u.pair.ID != p.ID
	u.pair = p
	if u.d.DemoPair != "" && p.Name == u.d.DemoPair {
		u.banner.Show()
	} else {
		u.banner.Hide()
	}
	if changed {
		u.mappings.grid.SetSearchText("")
		u.mappings.search.SetText("")
		u.mappings.grid.SetPair(p.ID)
		u.mappings.refreshed(u.mappings.grid.Err())
		u.status = vm.Status{PairID: p.ID}
		u.renderStatus()
	}
	u.connections.Load()
	u.fields.Load()
	u.settings.Load()
	if u.tabs.Selected() == u.tabByKey[ViewHistory] {
		u.history.Load()
	}
}

// SyncNow asks for a run of the current pair now.
func (u *App) SyncNow() {
	if u.pair == nil {
		return
	}
	if u.d.Syncer == nil {
		u.lastLbl.SetText("Background syncing is not available.")
		return
	}
	if err := u.d.Syncer.SyncNow(u.pair.ID); err != nil {
		_ = u.d.Syncer.Reload()
		if err := u.d.Syncer.SyncNow(u.pair.ID); err != nil {
			dialog.ShowError(err, u.win)
			return
		}
	}
	u.progress.Show()
	u.lastLbl.SetText("Starting a sync…")
}

// TogglePause pauses or resumes timed syncing.
func (u *App) TogglePause() {
	if u.d.Syncer == nil {
		return
	}
	u.paused = !u.paused
	if u.paused {
		u.d.Syncer.Pause()
	} else {
		u.d.Syncer.Resume()
	}
	u.renderPause()
}

func (u *App) renderPause() {
	if u.paused {
		u.pauseBtn.SetText("Resume")
		u.pauseBtn.SetIcon(theme.MediaPlayIcon())
	} else {
		u.pauseBtn.SetText("Pause")
		u.pauseBtn.SetIcon(theme.MediaPauseIcon())
	}
	if u.pauseItm != nil {
		u.pauseItm.Label = u.pauseBtn.Text
		u.trayMenu.Refresh()
	}
}

// OnStatus takes a status from the scheduler; it may be called from any goroutine.
func (u *App) OnStatus(s vm.Status) {
	fyne.Do(func() { u.applyStatus(s) })
}

func (u *App) applyStatus(s vm.Status) {
	if u.pair == nil || s.PairID != u.pair.ID {
		if s.LastErr != nil && !s.Running {
			u.notify(s, "another pair")
		}
		return
	}
	finished := u.status.Running && !s.Running
	u.status = s
	u.renderStatus()
	if finished || (!s.Running && !u.wasRun && (s.Last != nil || s.LastErr != nil)) {
		u.wasRun = true
		u.mappings.Reload()
		if u.tabs.Selected() == u.tabByKey[ViewHistory] {
			u.history.Load()
		}
		u.notify(s, u.pair.Name)
	}
}

func (u *App) renderStatus() {
	s := u.status
	now := time.Now()
	if s.Running {
		u.progress.Show()
		u.progress.SetValue(s.Fraction())
		u.lastLbl.SetText(s.ProgressText())
		u.lastLbl.Importance = widget.MediumImportance
	} else {
		u.progress.Hide()
		u.lastLbl.SetText(s.LastText(now))
		switch {
		case s.LastErr != nil:
			u.lastLbl.Importance = widget.DangerImportance
		case s.Last != nil && (s.Last.Errors > 0 || s.Last.Conflicts > 0):
			u.lastLbl.Importance = widget.WarningImportance
		default:
			u.lastLbl.Importance = widget.MediumImportance
		}
	}
	u.lastLbl.Refresh()
	u.nextLbl.SetText(s.NextText(now))
	u.syncBtn.Enable()
	if s.Running {
		u.syncBtn.Disable()
	}
	if b := s.Brake(); b != nil && !s.Running {
		u.brakeLbl.SetText(brakeText(b))
		u.brakeBar.Show()
	} else {
		u.brakeBar.Hide()
	}
	u.setHealth(s.Health())
}

func brakeText(b *engine.BrakeError) string {
	ids := b.WouldDelete
	more := ""
	if len(ids) > 8 {
		more = fmt.Sprintf(" and %d more", len(ids)-8)
		ids = ids[:8]
	}
	return fmt.Sprintf("%s\nIt would delete %d record(s) in side %s: %s%s.", b.Reason, len(b.WouldDelete),
		strings.ToUpper(b.Side), strings.Join(ids, ", "), more)
}

// confirmForceDelete asks, then runs once with the brakes off.
func (u *App) confirmForceDelete() {
	b := u.status.Brake()
	if b == nil || u.pair == nil || u.d.Runner == nil {
		return
	}
	p := u.pair
	d := dialog.NewConfirm("Allow deletes once",
		fmt.Sprintf("Run the sync once with the brake off? %d record(s) in side %s will be deleted.", len(b.WouldDelete), strings.ToUpper(b.Side)),
		func(ok bool) {
			if !ok {
				return
			}
			u.brakeBar.Hide()
			u.progress.Show()
			u.lastLbl.SetText("Syncing with deletes allowed…")
			go func() {
				res, err := u.d.Runner.RunID(context.Background(), p.ID, engine.Options{ForceDelete: true, Trigger: "manual"})
				fyne.Do(func() {
					s := vm.Status{PairID: p.ID, Last: &res, LastErr: err, LastAt: time.Now(), NextRun: u.status.NextRun, Paused: u.status.Paused}
					if errors.Is(err, runner.ErrBusy) {
						s.Last = u.status.Last
					}
					u.status.Running = true // so applyStatus reloads the grid
					u.applyStatus(s)
				})
			}()
		}, u.win)
	d.SetConfirmText("Delete them")
	d.SetConfirmImportance(widget.DangerImportance)
	d.Show()
}
