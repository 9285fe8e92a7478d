package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"tandem/models"
	"tandem/sync/engine"
	"tandem/ui/vm"
)

// openSettle opens the view that settles a row in conflict (pick A or B per
// field) or waiting for a delete confirmation.
func (u *App) openSettle(m models.Mapping) {
	p := u.pair
	if p == nil || u.d.Runner == nil {
		return
	}
	switch m.State {
	case models.StateConflict:
		u.openConflict(p, m)
	case models.StateDeletePending:
		u.openDeletePending(p, m)
	}
}

func (u *App) openConflict(p *models.Pair, m models.Mapping) {
	prog := dialog.NewCustomWithoutButtons("Loading both records…", widget.NewProgressBarInfinite(), u.win)
	prog.Show()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		fields, err := vm.LoadConflict(ctx, u.d.Runner, p, m)
		fyne.Do(func() {
			prog.Hide()
			if err != nil {
				dialog.ShowError(fmt.Errorf("could not read both records: %w", err), u.win)
				return
			}
			u.showConflict(p, m, fields)
		})
	}()
}

func (u *App) showConflict(p *models.Pair, m models.Mapping, fields []vm.ConflictField) {
	grid := container.New(&columns{weights: []float32{1, 2, 2}},
		headerLabel("Field"), headerLabel("Side A ("+p.A.Name+")"), headerLabel("Side B ("+p.B.Name+")"))
	rows := container.NewVBox(grid, widget.NewSeparator())
	choice := map[string]string{}
	for _, f := range fields {
		f := f
		name := widget.NewLabelWithStyle(f.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: f.Differs})
		if !f.Differs {
			rows.Add(container.New(&columns{weights: []float32{1, 2, 2}}, name, wrapLabel(orDash(f.A)), wrapLabel(orDash(f.B))))
			continue
		}
		choice[f.Name] = models.SideA
		ra := widget.NewRadioGroup([]string{"A: " + orDash(f.A)}, nil)
		rb := widget.NewRadioGroup([]string{"B: " + orDash(f.B)}, nil)
		ra.SetSelected(ra.Options[0])
		ra.OnChanged = func(s string) {
			if s != "" {
				choice[f.Name] = models.SideA
				rb.SetSelected("")
			}
		}
		rb.OnChanged = func(s string) {
			if s != "" {
				choice[f.Name] = models.SideB
				ra.SetSelected("")
			}
		}
		rows.Add(container.New(&columns{weights: []float32{1, 2, 2}}, name, ra, rb))
	}
	intro := widget.NewLabel(fmt.Sprintf("Record %s in A and %s in B were both changed. Pick the value to keep for each field in bold; both sides get it.", m.AID, m.BID))
	intro.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomConfirm("Resolve conflict", "Apply", "Cancel",
		container.NewBorder(intro, nil, nil, nil, container.NewVScroll(rows)), func(ok bool) {
			if !ok {
				return
			}
			u.settle(func(ctx context.Context) error {
				a, b, err := u.d.Runner.Open(p)
				if err != nil {
					return err
				}
				defer a.Close()
				defer b.Close()
				return engine.Resolve(ctx, u.d.Store, p, a, b, m.ID, choice)
			}, "Conflict resolved.")
		}, u.win)
	d.Resize(fyne.NewSize(760, 480))
	d.Show()
}

func wrapLabel(s string) *widget.Label {
	l := widget.NewLabel(s)
	l.Wrapping = fyne.TextWrapWord
	return l
}

func (u *App) openDeletePending(p *models.Pair, m models.Mapping) {
	gone, other, otherID := "A", "B", m.BID
	if m.PendingSide == models.SideB {
		gone, other, otherID = "B", "A", m.AID
	}
	msg := fmt.Sprintf("The record was deleted in side %s. Delete record %s in side %s too, or keep it (it will be created again in %s)?", gone, otherID, other, gone)
	d := dialog.NewConfirm("Confirm delete", msg, func(del bool) {
		u.settle(func(ctx context.Context) error {
			if !del {
				return engine.KeepRecord(ctx, u.d.Store, p, m.ID)
			}
			a, b, err := u.d.Runner.Open(p)
			if err != nil {
				return err
			}
			defer a.Close()
			defer b.Close()
			return engine.AllowDelete(ctx, u.d.Store, p, a, b, m.ID)
		}, "Done.")
	}, u.win)
	d.SetConfirmText("Delete in " + other)
	d.SetDismissText("Keep the record")
	d.SetConfirmImportance(widget.DangerImportance)
	d.Show()
}

// settle runs a settling action off the UI goroutine and reports.
func (u *App) settle(fn func(ctx context.Context) error, okText string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := fn(ctx)
		fyne.Do(func() {
			if err != nil {
				dialog.ShowError(fmt.Errorf("%s", strings.TrimSpace(err.Error())), u.win)
			} else {
				u.mappings.status.SetText(okText)
			}
			u.mappings.Reload()
			u.history.Load()
		})
	}()
}
