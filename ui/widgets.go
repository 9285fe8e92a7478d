package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
)

// tapIcon is an icon that can be tapped but is not Hoverable, so the grid
// row under it keeps receiving hover events (Fyne sends hover only to the
// deepest Hoverable).
type tapIcon struct {
	widget.Icon
	onTap func()
	tip   string
}

func newTapIcon(res fyne.Resource, tip string, onTap func()) *tapIcon {
	t := &tapIcon{onTap: onTap, tip: tip}
	t.Resource = res
	t.ExtendBaseWidget(t)
	return t
}

// Tapped runs the icon's action.
func (t *tapIcon) Tapped(*fyne.PointEvent) {
	if t.onTap != nil {
		t.onTap()
	}
}

// Cursor shows a pointer over the icon.
func (t *tapIcon) Cursor() desktop.Cursor { return desktop.PointerCursor }

// MinSize keeps the icon comfortably clickable.
func (t *tapIcon) MinSize() fyne.Size { return fyne.NewSquareSize(22) }

// columns lays out cells left to right: weighted widths for all but the
// last object, which gets a fixed width. Header and rows share one so
// they line up.
type columns struct {
	weights []float32
	fixed   float32
}

func (c *columns) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	pad := float32(8)
	var total float32
	for _, w := range c.weights {
		total += w
	}
	free := size.Width - c.fixed - pad*float32(len(objs))
	if free < 0 {
		free = 0
	}
	x := pad / 2
	for i, o := range objs {
		w := c.fixed
		if i < len(c.weights) {
			w = free * c.weights[i] / total
		}
		h := o.MinSize().Height
		if h > size.Height {
			h = size.Height
		}
		o.Move(fyne.NewPos(x, (size.Height-h)/2))
		o.Resize(fyne.NewSize(w, h))
		x += w + pad
	}
}

func (c *columns) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var h float32
	for _, o := range objs {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(c.fixed+float32(len(c.weights))*40, h)
}

// searchEntry clears itself on Escape.
type searchEntry struct {
	widget.Entry
	onEscape func()
}

func newSearchEntry() *searchEntry {
	e := &searchEntry{}
	e.ExtendBaseWidget(e)
	return e
}

// TypedKey clears the search on Escape.
func (e *searchEntry) TypedKey(k *fyne.KeyEvent) {
	if k.Name == fyne.KeyEscape {
		e.SetText("")
		if e.onEscape != nil {
			e.onEscape()
		}
		return
	}
	e.Entry.TypedKey(k)
}
