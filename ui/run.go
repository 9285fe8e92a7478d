package ui

import (
	"fmt"
	"os"
	"path/filepath"

	"fyne.io/fyne/v2"

	"tandem/models"
	_ "tandem/sync/connector/all" // every connection kind
	"tandem/sync/demo"
	"tandem/sync/runner"
	"tandem/sync/scheduler"
	"tandem/sync/secrets"
	"tandem/ui/vm"
)

// DBFile is the store's file name inside the data folder.
const DBFile = "tandem.db"

// ScreenshotEnv names a view to open at start (used by ui/screenshot.sh).
const ScreenshotEnv = "TANDEM_SCREENSHOT_VIEW"

// Run opens the store in dataDir, creates the demo pair on a first start,
// starts background syncing and shows the window until the app quits.
// It returns the process exit code.
func Run(a fyne.App, dataDir string) int {
	store, err := models.Open(filepath.Join(dataDir, DBFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tandem:", err)
		return 2
	}
	defer store.Close()
	if _, err := demo.Ensure(store, dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "tandem: demo:", err)
	}
	sec := secrets.Keyring()
	r := runner.New(store, sec)
	sched := scheduler.New(store, r, scheduler.Options{})
	u := New(a, Deps{Store: store, Secrets: sec, Runner: r, Syncer: sched, DataDir: dataDir,
		DemoPair: demo.PairName, Tray: TrayAvailable()})
	cancel := sched.OnChange(func(s scheduler.Status) { u.OnStatus(vm.StatusOf(s)) })
	defer cancel()
	if err := sched.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "tandem:", err)
	}
	defer sched.Stop()
	if v := os.Getenv(ScreenshotEnv); v != "" {
		u.ShowView(v)
	}
	u.Window().ShowAndRun()
	return 0
}
