// Package engine is Tandem's two-way sync: for one pair it plans a run
// (three-way, field by field, on canonical values) and applies it. It knows
// systems only through connector.Connector and state only through models.
package engine

import (
	"fmt"
	"time"
)

// Options tune one run.
type Options struct {
	DryRun      bool   // plan only: nothing is written anywhere
	ForceDelete bool   // let deletes through the brakes this once
	Trigger     string // "cli", "timer", "manual"
	// Progress, if set, is called from the run's goroutine as work advances.
	Progress func(Progress)
	// Now returns the current time (tests); nil = time.Now.
	Now func() time.Time
}

// Progress reports a run's advance.
type Progress struct {
	Phase string // "fetch", "plan", "apply", "done"
	Done  int
	Total int
}

// Action is one planned or performed step of a run.
type Action struct {
	Kind   string   // "create", "update", "delete", "link", "unlink", "conflict", "error", "confirm-delete"
	Side   string   // side written ("a" or "b"), "" when none
	AID    string   // record id in A, when known
	BID    string   // record id in B, when known
	Fields []string // canonical fields written or in conflict
	Detail string   // readable detail (error text, conflict values' field names)
}

// Result is what a run did (or, for a dry run, would do).
type Result struct {
	RunID     uint
	Created   int
	Updated   int
	Deleted   int
	Conflicts int
	Errors    int
	Actions   []Action
}

// Summary is the one-line summary the CLI prints.
func (r Result) Summary() string {
	return fmt.Sprintf("created %d, updated %d, deleted %d, conflicts %d, errors %d",
		r.Created, r.Updated, r.Deleted, r.Conflicts, r.Errors)
}

// BrakeError is returned when a run stopped before deleting because a side
// came back empty or too large a share of a side would be deleted.
type BrakeError struct {
	Reason      string   // readable: why the run stopped
	Side        string   // side that would lose records
	WouldDelete []string // record ids that would be deleted on Side
}

func (e *BrakeError) Error() string { return e.Reason }
