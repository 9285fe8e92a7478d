package ui

import (
	"image/color"
	"runtime"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"github.com/godbus/dbus/v5"

	"tandem/assets"
	"tandem/ui/vm"
)

// TrayAvailable reports whether a system tray host is there. On Linux the
// tray needs a StatusNotifierWatcher on the session bus; without one a
// hidden window could never be reopened, so closing must quit instead.
func TrayAvailable() bool {
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" && runtime.GOOS != "openbsd" && runtime.GOOS != "netbsd" {
		return true
	}
	done := make(chan bool, 1)
	go func() {
		conn, err := dbus.SessionBus()
		if err != nil {
			done <- false
			return
		}
		var has bool
		err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&has)
		done <- err == nil && has
	}()
	select {
	case ok := <-done:
		return ok
	case <-time.After(2 * time.Second):
		return false
	}
}

func (u *App) setupTray() {
	da, ok := u.app.(desktop.App)
	if !ok {
		return
	}
	u.pauseItm = fyne.NewMenuItem("Pause", u.TogglePause)
	u.trayMenu = fyne.NewMenu("Tandem",
		fyne.NewMenuItem("Sync now", u.SyncNow),
		u.pauseItm,
		fyne.NewMenuItem("Open Tandem", func() { u.win.Show(); u.win.RequestFocus() }),
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Quit", u.app.Quit),
	)
	// Fyne adds its own Quit item to the tray menu; ours is explicit.
	da.SetSystemTrayMenu(u.trayMenu)
	da.SetSystemTrayIcon(assets.TrayIdle)
}

func (u *App) setHealth(h vm.Health) {
	if h == u.health {
		return
	}
	u.health = h
	da, ok := u.app.(desktop.App)
	if !ok || u.trayMenu == nil {
		return
	}
	switch h {
	case vm.Syncing:
		da.SetSystemTrayIcon(assets.TraySyncing)
	case vm.Failing:
		da.SetSystemTrayIcon(assets.TrayError)
	default:
		da.SetSystemTrayIcon(assets.TrayIdle)
	}
}

// notify sends a desktop notification for failures, conflicts and brakes,
// once per distinct outcome.
func (u *App) notify(s vm.Status, pairName string) {
	var title, body string
	switch {
	case s.Brake() != nil:
		title, body = "Tandem stopped before deleting", pairName+": "+s.Brake().Reason
	case s.LastErr != nil:
		title, body = "Tandem sync failed", pairName+": "+firstLine(s.LastErr.Error())
	case s.Last != nil && s.Last.Conflicts > 0:
		title, body = "Tandem needs you", pairName+": "+plural(s.Last.Conflicts, "conflict")+" to resolve"
	case s.Last != nil && s.Last.Errors > 0:
		title, body = "Tandem synced with errors", pairName+": "+s.Last.Summary()
	default:
		u.notified = ""
		return
	}
	if key := title + body; key != u.notified {
		u.notified = key
		u.app.SendNotification(fyne.NewNotification(title, body))
	}
}

func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}
