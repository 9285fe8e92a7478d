package vm

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"tandem/sync/engine"
	"tandem/sync/scheduler"
)

// StatusOf converts the scheduler's status.
func StatusOf(s scheduler.Status) Status {
	return Status{PairID: s.PairID, Running: s.Running, Progress: s.Progress, Last: s.Last,
		LastErr: s.LastErr, LastAt: s.LastEnd, NextRun: s.NextRun, Paused: s.Paused}
}

// Status is the state of a pair's syncing, as the scheduler reports it.
type Status struct {
	PairID   uint
	Running  bool
	Progress engine.Progress
	Last     *engine.Result
	LastErr  error
	LastAt   time.Time
	NextRun  time.Time
	Paused   bool
}

// Brake returns the brake that refused the last run, if one did.
func (s Status) Brake() *engine.BrakeError {
	var b *engine.BrakeError
	if errors.As(s.LastErr, &b) {
		return b
	}
	return nil
}

// Health is the tray state.
type Health int

const (
	Idle Health = iota
	Syncing
	Failing
)

// Health is what the tray icon shows.
func (s Status) Health() Health {
	switch {
	case s.Running:
		return Syncing
	case s.LastErr != nil || (s.Last != nil && (s.Last.Errors > 0 || s.Last.Conflicts > 0)):
		return Failing
	}
	return Idle
}

// ProgressText describes a run in progress.
func (s Status) ProgressText() string {
	p := s.Progress
	phase := map[string]string{"fetch": "Reading changes", "plan": "Comparing", "apply": "Writing", "done": "Finishing"}[p.Phase]
	if phase == "" {
		phase = "Syncing"
	}
	if p.Total > 0 {
		return fmt.Sprintf("%s… %d of %d", phase, p.Done, p.Total)
	}
	return phase + "…"
}

// Fraction is the progress bar value (0..1).
func (s Status) Fraction() float64 {
	if s.Progress.Total <= 0 {
		return 0
	}
	return float64(s.Progress.Done) / float64(s.Progress.Total)
}

// LastText is the last run's summary.
func (s Status) LastText(now time.Time) string {
	when := ""
	if !s.LastAt.IsZero() {
		when = " (" + Ago(now, s.LastAt) + ")"
	}
	switch {
	case s.Brake() != nil:
		return "Last sync stopped before deleting" + when + ": " + s.Brake().Reason
	case s.LastErr != nil:
		return "Last sync failed" + when + ": " + firstLineOf(s.LastErr.Error())
	case s.Last != nil:
		return "Last sync" + when + ": " + s.Last.Summary()
	}
	return "Not synced yet"
}

// NextText says when the next run is.
func (s Status) NextText(now time.Time) string {
	switch {
	case s.Paused:
		return "Paused"
	case s.Running:
		return ""
	case s.NextRun.IsZero():
		return ""
	case !s.NextRun.After(now):
		return "Next sync: now"
	}
	return "Next sync at " + s.NextRun.Local().Format("15:04:05")
}

// Ago is a short relative time.
func Ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return t.Local().Format("15:04")
	}
	return t.Local().Format("2006-01-02 15:04")
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func sortStrings(s []string) { sort.Strings(s) }
