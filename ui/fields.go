package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"tandem/models"
	"tandem/sync/transform"
	"tandem/ui/vm"
)

var fieldColumns = &columns{weights: []float32{1.5, 1.4, 1.4, 1.3, 1.2, 2.1, 0.5}, fixed: 30}

// FieldsView edits the pair's field map.
type FieldsView struct {
	model   *vm.Fields
	pair    func() *models.Pair
	win     fyne.Window
	onSaved func()
	rows    *fyne.Container
	result  *widget.Label
	save    *widget.Button
	content fyne.CanvasObject
}

// NewFieldsView builds the field map editor.
func NewFieldsView(model *vm.Fields, pair func() *models.Pair, win fyne.Window, onSaved func()) *FieldsView {
	v := &FieldsView{model: model, pair: pair, win: win, onSaved: onSaved}
	v.rows = container.NewVBox()
	v.result = widget.NewLabel("")
	v.result.Wrapping = fyne.TextWrapWord
	add := widget.NewButtonWithIcon("Add field", theme.ContentAddIcon(), func() {
		v.model.Add()
		v.render()
	})
	v.save = widget.NewButtonWithIcon("Save field map", theme.DocumentSaveIcon(), v.doSave)
	v.save.Importance = widget.HighImportance
	revert := widget.NewButtonWithIcon("Revert", theme.ContentUndoIcon(), v.Load)
	intro := widget.NewLabel("Each canonical field names the native field on each side and how values convert. The key field matches records that are not mapped yet (e.g. email).")
	intro.Wrapping = fyne.TextWrapWord
	header := container.New(fieldColumns, headerLabel("Canonical name"), headerLabel("A field"), headerLabel("B field"),
		headerLabel("Direction"), headerLabel("Transform"), headerLabel("Options"), headerLabel("Key"), widget.NewLabel(""))
	bottom := container.NewVBox(v.result, container.NewHBox(add, revert, v.save))
	v.content = container.NewBorder(container.NewVBox(intro, header, widget.NewSeparator()), bottom, nil, nil,
		container.NewVScroll(v.rows))
	return v
}

// Content is the view's root object.
func (v *FieldsView) Content() fyne.CanvasObject { return v.content }

// Load reads the pair's field map into the editor.
func (v *FieldsView) Load() {
	if p := v.pair(); p != nil {
		v.model.Load(p)
	}
	v.result.SetText("")
	v.render()
}

func (v *FieldsView) render() {
	v.rows.Objects = nil
	for i := range v.model.Rows {
		v.rows.Add(v.row(i))
	}
	v.rows.Refresh()
}

func (v *FieldsView) row(i int) fyne.CanvasObject {
	f := &v.model.Rows[i]
	name := widget.NewEntry()
	name.SetText(f.Name)
	name.SetPlaceHolder("email")
	a := widget.NewEntry()
	a.SetText(f.A)
	a.SetPlaceHolder("EMAIL")
	b := widget.NewEntry()
	b.SetText(f.B)
	b.SetPlaceHolder("email")
	dirLabels := make([]string, len(vm.Directions))
	for k, d := range vm.Directions {
		dirLabels[k] = vm.DirectionLabel(d)
	}
	dir := widget.NewSelect(dirLabels, func(s string) { f.Direction = vm.DirectionFromLabel(s) })
	dir.SetSelected(vm.DirectionLabel(f.Direction))
	tnames := vm.Transforms()
	tlabels := make([]string, len(tnames))
	for k, t := range tnames {
		tlabels[k] = transformLabel(t)
	}
	opts := widget.NewButton("", nil)
	updateOpts := func() {
		opts.SetText(optionsText(*f))
		if f.Transform == transform.Date || f.Transform == transform.Lookup || f.Transform == transform.Phone {
			opts.Enable()
		} else {
			opts.Disable()
		}
	}
	tr := widget.NewSelect(tlabels, func(s string) {
		for k, l := range tlabels {
			if l == s {
				f.Transform = tnames[k]
			}
		}
		updateOpts()
	})
	tr.SetSelected(transformLabel(f.Transform))
	opts.OnTapped = func() { v.editOptions(f, updateOpts) }
	updateOpts()
	key := widget.NewCheck("", nil)
	key.SetChecked(f.Name != "" && f.Name == v.model.Key)
	key.OnChanged = func(on bool) {
		if on {
			v.model.Key = f.Name
		} else if v.model.Key == f.Name {
			v.model.Key = ""
		}
		v.render()
	}
	name.OnChanged = func(s string) {
		if v.model.Key == f.Name && f.Name != "" {
			v.model.Key = s
		}
		f.Name = s
	}
	a.OnChanged = func(s string) { f.A = s }
	b.OnChanged = func(s string) { f.B = s }
	del := newTapIcon(theme.DeleteIcon(), "Remove field", func() {
		v.model.Remove(i)
		v.render()
	})
	return container.New(fieldColumns, name, a, b, dir, tr, opts, key, del)
}

func transformLabel(t string) string {
	if t == "" {
		return "none"
	}
	return t
}

func optionsText(f models.Field) string {
	switch f.Transform {
	case transform.Date:
		return fmt.Sprintf("%s | %s", orDefault(f.AFormat, transform.DefaultDateLayout), orDefault(f.BFormat, transform.DefaultDateLayout))
	case transform.Lookup:
		return fmt.Sprintf("%d values…", len(f.Lookup))
	case transform.Phone:
		return "region " + orDefault(f.Region, "US")
	}
	return "—"
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// editOptions opens the transform's options: date formats, phone region or
// the lookup table.
func (v *FieldsView) editOptions(f *models.Field, done func()) {
	var items []*widget.FormItem
	var apply func() error
	switch f.Transform {
	case transform.Date:
		af, bf := widget.NewEntry(), widget.NewEntry()
		af.SetText(f.AFormat)
		bf.SetText(f.BFormat)
		af.SetPlaceHolder(transform.DefaultDateLayout)
		bf.SetPlaceHolder(transform.DefaultDateLayout)
		items = []*widget.FormItem{
			{Text: "A format", Widget: af, HintText: "Go layout, e.g. 2006-01-02 or 01/02/2006"},
			{Text: "B format", Widget: bf, HintText: "Go layout, e.g. 02.01.2006"},
		}
		apply = func() error { f.AFormat, f.BFormat = af.Text, bf.Text; return nil }
	case transform.Phone:
		r := widget.NewEntry()
		r.SetText(f.Region)
		r.SetPlaceHolder("US")
		items = []*widget.FormItem{{Text: "Region", Widget: r, HintText: "ISO country code for numbers without +"}}
		apply = func() error { f.Region = r.Text; return nil }
	case transform.Lookup:
		t := widget.NewMultiLineEntry()
		t.SetText(vm.FormatLookup(f.Lookup))
		t.SetPlaceHolder("A value = B value\nwork = Business")
		t.SetMinRowsVisible(8)
		items = []*widget.FormItem{{Text: "Table", Widget: t, HintText: "One \"A value = B value\" per line"}}
		apply = func() error {
			m, err := vm.ParseLookup(t.Text)
			if err == nil {
				f.Lookup = m
			}
			return err
		}
	default:
		return
	}
	d := dialog.NewForm("Options of "+orDefault(f.Name, "field"), "OK", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		if err := apply(); err != nil {
			dialog.ShowError(err, v.win)
			return
		}
		done()
	}, v.win)
	d.Resize(fyne.NewSize(520, 0))
	d.Show()
}

func (v *FieldsView) doSave() {
	p := v.pair()
	if p == nil {
		return
	}
	if err := v.model.Save(p); err != nil {
		v.result.Importance = widget.DangerImportance
		v.result.SetText(err.Error())
		return
	}
	v.result.Importance = widget.SuccessImportance
	v.result.SetText("Field map saved. The next sync uses it.")
	if v.onSaved != nil {
		v.onSaved()
	}
}
