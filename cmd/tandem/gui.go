//go:build !nogui

package main

import (
	"fyne.io/fyne/v2/app"

	"tandem/ui"
)

// AppID is the desktop app's id (FyneApp.toml, preferences, notifications).
const AppID = "io.github.tandem.app"

// runGUI opens the window on the store in dataDir. This is the only file
// that imports fyne/v2/app.
func runGUI(dataDir string) int {
	a := app.NewWithID(AppID)
	return ui.Run(a, dataDir)
}
