// Package assets holds Tandem's embedded images: the app icon and the
// tray icons for idle, syncing and error.
package assets

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

var (
	//go:embed icon.png
	iconPNG []byte
	//go:embed tray_idle.png
	trayIdlePNG []byte
	//go:embed tray_syncing.png
	traySyncingPNG []byte
	//go:embed tray_error.png
	trayErrorPNG []byte
)

// Icon is the 512x512 app icon.
var Icon = fyne.NewStaticResource("tandem.png", iconPNG)

// Tray icons, one per state.
var (
	TrayIdle    = fyne.NewStaticResource("tray_idle.png", trayIdlePNG)
	TraySyncing = fyne.NewStaticResource("tray_syncing.png", traySyncingPNG)
	TrayError   = fyne.NewStaticResource("tray_error.png", trayErrorPNG)
)
