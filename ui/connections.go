package ui

import (
	"context"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"tandem/models"
	"tandem/sync/connector"
	"tandem/ui/vm"
)

// TestTimeout bounds "Test connection".
const TestTimeout = 20 * time.Second

// ConnectionsView edits both sides' connections.
type ConnectionsView struct {
	model   *vm.Connections
	pair    func() *models.Pair
	onSaved func()
	sides   [2]*connForm
	content fyne.CanvasObject
}

type connForm struct {
	v        *ConnectionsView
	side     string
	kind     *widget.Select
	name     *widget.Entry
	settings map[string]*widget.Entry
	secret   *widget.Entry
	secState *widget.Label
	form     *widget.Form
	result   *widget.Label
	save     *widget.Button
	test     *widget.Button
	kinds    []connector.Kind
	busyMu   sync.Mutex
	busy     chan struct{} // closed when background work ends (tests)
}

// NewConnectionsView builds the view; pair returns the pair being edited.
func NewConnectionsView(model *vm.Connections, pair func() *models.Pair, onSaved func()) *ConnectionsView {
	v := &ConnectionsView{model: model, pair: pair, onSaved: onSaved}
	v.sides[0] = newConnForm(v, models.SideA)
	v.sides[1] = newConnForm(v, models.SideB)
	intro := widget.NewLabel("Tandem keeps the records of side A and side B mirrored. Pick each system, its settings and, where it needs one, its password or token: secrets go to your OS keyring only.")
	intro.Wrapping = fyne.TextWrapWord
	v.content = container.NewBorder(intro, nil, nil, nil,
		container.NewVScroll(container.NewGridWithColumns(2, v.sides[0].card(), v.sides[1].card())))
	return v
}

// Content is the view's root object.
func (v *ConnectionsView) Content() fyne.CanvasObject { return v.content }

// Load fills both forms from the pair.
func (v *ConnectionsView) Load() {
	p := v.pair()
	if p == nil {
		return
	}
	forms := make([]vm.ConnForm, len(v.sides))
	for i, s := range v.sides {
		forms[i] = v.model.Form(p, s.side)
		s.load(forms[i])
	}
	// One background read for both sides: the keyring may be slow, and one
	// goroutine touching the widgets keeps the test driver race-free.
	done := make(chan struct{})
	for _, s := range v.sides {
		s.setBusy(done)
		s.secState.SetText("")
	}
	go func() {
		defer close(done)
		states := make([]string, len(forms))
		for i, c := range forms {
			states[i] = v.model.SecretState(c)
		}
		fyne.DoAndWait(func() {
			for i, s := range v.sides {
				s.secState.SetText(states[i])
			}
		})
	}()
}

func newConnForm(v *ConnectionsView, side string) *connForm {
	f := &connForm{v: v, side: side, settings: map[string]*widget.Entry{}, kinds: v.model.Kinds()}
	labels := make([]string, len(f.kinds))
	for i, k := range f.kinds {
		labels[i] = k.Label
	}
	f.name = widget.NewEntry()
	f.name.SetPlaceHolder("e.g. Work address book")
	f.secret = widget.NewPasswordEntry()
	f.secState = widget.NewLabel("")
	f.secState.Wrapping = fyne.TextWrapWord
	f.secState.Importance = widget.LowImportance
	f.result = widget.NewLabel("")
	f.result.Wrapping = fyne.TextWrapWord
	f.form = widget.NewForm()
	f.kind = widget.NewSelect(labels, func(string) { f.rebuild() })
	f.save = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), f.doSave)
	f.save.Importance = widget.HighImportance
	f.test = widget.NewButtonWithIcon("Test connection", theme.MediaPlayIcon(), f.doTest)
	return f
}

func (f *connForm) card() fyne.CanvasObject {
	title := "Side A"
	if f.side == models.SideB {
		title = "Side B"
	}
	return widget.NewCard(title, "", container.NewVBox(f.form, f.secState,
		container.NewHBox(f.test, f.save), f.result))
}

func (f *connForm) kindByLabel(l string) (connector.Kind, bool) {
	for _, k := range f.kinds {
		if k.Label == l {
			return k, true
		}
	}
	return connector.Kind{}, false
}

// load fills the form; the caller reads the secret state (Load does both sides).
func (f *connForm) load(c vm.ConnForm) {
	for _, k := range f.kinds {
		if k.Name == c.Kind {
			f.kind.SetSelected(k.Label) // rebuilds
		}
	}
	f.name.SetText(c.Name)
	for key, e := range f.settings {
		e.SetText(c.Settings[key])
	}
	f.secret.SetText("")
	f.result.SetText("")
}

// state reads, off the UI goroutine, whether a secret is stored.
func (f *connForm) state(c vm.ConnForm) {
	f.secState.SetText("")
	done := f.startBusy()
	go func() {
		defer close(done)
		s := f.v.model.SecretState(c)
		fyne.DoAndWait(func() { f.secState.SetText(s) })
	}()
}

func (f *connForm) rebuild() {
	k, ok := f.kindByLabel(f.kind.Selected)
	old := map[string]string{}
	for key, e := range f.settings {
		old[key] = e.Text
	}
	f.form.Items = nil
	f.form.Append("Kind", f.kind)
	f.form.Append("Name", f.name)
	f.settings = map[string]*widget.Entry{}
	if ok {
		for _, s := range k.Settings {
			e := widget.NewEntry()
			e.SetPlaceHolder(s.Default)
			e.SetText(old[s.Key])
			f.settings[s.Key] = e
			label := s.Label
			if s.Required {
				label += " *"
			}
			f.form.AppendItem(&widget.FormItem{Text: label, Widget: e, HintText: s.Hint})
		}
		if k.NeedsSecret {
			f.secret.SetPlaceHolder("leave empty to keep the stored " + k.SecretLabel)
			f.form.AppendItem(&widget.FormItem{Text: k.SecretLabel, Widget: f.secret, HintText: "Stored in the OS keyring, never shown again"})
			f.secState.Show()
		} else {
			f.secState.Hide()
		}
	}
	f.form.Refresh()
}

func (f *connForm) value() vm.ConnForm {
	p := f.v.pair()
	c := vm.ConnForm{}
	if p != nil {
		c = f.v.model.Form(p, f.side)
	}
	k, _ := f.kindByLabel(f.kind.Selected)
	c.Kind, c.Name, c.Secret = k.Name, f.name.Text, f.secret.Text
	c.Settings = map[string]string{}
	for key, e := range f.settings {
		c.Settings[key] = e.Text
	}
	return c
}

func (f *connForm) say(ok bool, msg string) {
	f.result.SetText(msg)
	if ok {
		f.result.Importance = widget.SuccessImportance
	} else {
		f.result.Importance = widget.DangerImportance
	}
	f.result.Refresh()
}

func (f *connForm) doSave() {
	p := f.v.pair()
	if p == nil {
		return
	}
	c := f.value()
	f.save.Disable()
	f.say(true, "Saving…")
	done := f.startBusy()
	// The keyring may take up to its timeout: never on the UI goroutine.
	go func() {
		defer close(done)
		np := *p
		err := f.v.model.Save(&np, c)
		fyne.DoAndWait(func() {
			f.save.Enable()
			if err != nil {
				f.say(false, err.Error())
				return
			}
			*p = np
			f.secret.SetText("")
			f.say(true, "Saved.")
			f.state(f.v.model.Form(p, f.side))
			if f.v.onSaved != nil {
				f.v.onSaved()
			}
		})
	}()
}

func (f *connForm) doTest() {
	c := f.value()
	f.test.Disable()
	f.say(true, "Testing…")
	done := f.startBusy()
	go func() {
		defer close(done)
		err := f.v.model.Test(context.Background(), c, TestTimeout)
		fyne.DoAndWait(func() {
			f.test.Enable()
			if err != nil {
				f.say(false, "Connection failed: "+err.Error())
				return
			}
			f.say(true, "Connection works: reachable and credentials accepted.")
		})
	}()
}

// startBusy records new background work; its channel closes when it ends.
func (f *connForm) startBusy() chan struct{} {
	done := make(chan struct{})
	f.setBusy(done)
	return done
}

func (f *connForm) setBusy(done chan struct{}) {
	f.busyMu.Lock()
	f.busy = done
	f.busyMu.Unlock()
}

// wait blocks until the form's background work ends, including work that
// work started on its way out (a save refreshes the secret state) (tests).
func (f *connForm) wait() {
	for {
		f.busyMu.Lock()
		b := f.busy
		f.busyMu.Unlock()
		if b == nil {
			return
		}
		<-b
		f.busyMu.Lock()
		same := f.busy == b
		f.busyMu.Unlock()
		if same {
			return
		}
	}
}
