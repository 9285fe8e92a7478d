// Package models holds Tandem's persistent state: connections, pairs, the
// sync mappings (record X in A is record Y in B), runs and per-record history.
// It knows nothing of connectors, HTTP or Fyne; everything above depends on it.
//
// Changing a model or an index? Bump schemaVersion in store.go.
package models

import (
	"time"

	"gorm.io/gorm"
)

// Mapping states.
const (
	StatePending       = "pending"        // intent written before a remote create; resolved by key on the next run
	StateOK            = "ok"             // both sides agree with Base
	StateConflict      = "conflict"       // manual policy: same field changed differently on both sides
	StateError         = "error"          // last attempt failed for this record; LastError says why
	StateDeletePending = "delete-pending" // delete policy "confirm": a person must allow the delete
)

// Conflict policies.
const (
	ConflictNewest = "newest"
	ConflictAWins  = "a-wins"
	ConflictBWins  = "b-wins"
	ConflictManual = "manual"
)

// Delete policies.
const (
	DeletePropagate = "propagate"
	DeleteIgnore    = "ignore"
	DeleteConfirm   = "confirm"
)

// Field directions.
const (
	DirBoth = "both"
	DirAToB = "a-to-b"
	DirBToA = "b-to-a"
)

// Connection is one side's system: a kind (vcarddir, carddav, hubspot) and
// its non-secret settings. The secret lives only in the OS keyring, keyed
// by the connection's Name.
type Connection struct {
	ID       uint              `gorm:"primaryKey" json:"-"`
	Name     string            `gorm:"uniqueIndex;not null" json:"name"`
	Kind     string            `gorm:"not null" json:"kind"`
	Settings map[string]string `gorm:"serializer:json" json:"settings"`
}

// Field maps one canonical field to a native field on each side.
type Field struct {
	Name      string            `json:"name"`                // canonical name, e.g. "email"
	A         string            `json:"a"`                   // native field on side A, e.g. "EMAIL", "N.family", "email"
	B         string            `json:"b"`                   // native field on side B
	Transform string            `json:"transform,omitempty"` // "", "trim", "email", "phone", "date", "lookup"
	AFormat   string            `json:"a_format,omitempty"`  // date: Go layout on side A (default 2006-01-02)
	BFormat   string            `json:"b_format,omitempty"`  // date: Go layout on side B
	Lookup    map[string]string `json:"lookup,omitempty"`    // lookup: A value -> B value
	Region    string            `json:"region,omitempty"`    // phone: default region (ISO 3166 code) for numbers without +; default US
	Direction string            `json:"direction,omitempty"` // "", "both", "a-to-b", "b-to-a"
}

// Pair is a two-way sync between connection A and connection B.
type Pair struct {
	ID         uint       `gorm:"primaryKey"`
	Name       string     `gorm:"uniqueIndex;not null"`
	AID        uint       `gorm:"not null"`
	BID        uint       `gorm:"not null"`
	A          Connection `gorm:"foreignKey:AID;constraint:OnDelete:RESTRICT"`
	B          Connection `gorm:"foreignKey:BID;constraint:OnDelete:RESTRICT"`
	Key        string     `gorm:"not null"` // canonical field used to match unmapped records
	Fields     []Field    `gorm:"serializer:json"`
	Conflict   string     `gorm:"not null;default:newest"`
	Deletes    string     `gorm:"not null;default:propagate"`
	Interval   string     `gorm:"not null;default:5m"` // Go duration
	BrakeShare float64    `gorm:"not null;default:0.25"`
	Paused     bool
	CursorA    string // opaque change cursor of side A, advanced only after a run committed
	CursorB    string
	UpdatedAt  time.Time
}

// Mapping is one row of the grid: record AID in A is record BID in B.
// AID/BID are "" while unknown (a pending create); uniqueness per side
// holds for non-empty ids only.
type Mapping struct {
	ID        uint              `gorm:"primaryKey"`
	PairID    uint              `gorm:"not null"`
	AID       string            `gorm:"column:a_id;not null;default:''"`
	BID       string            `gorm:"column:b_id;not null;default:''"`
	AVersion  string            `gorm:"column:a_version"`
	BVersion  string            `gorm:"column:b_version"`
	Key       string            // normalized key value (canonical), for display and pending resolution
	Base      map[string]string `gorm:"serializer:json"`     // canonical values both sides agreed on last time
	State     string            `gorm:"not null;default:ok"` // indexed only when not ok (see migrate)
	LastError string
	// PendingSide is for StatePending ("a" or "b": the side being created) and
	// StateDeletePending (the side whose record is gone).
	PendingSide string
	SyncedAt    time.Time

	// stored is what the indexed columns held when the row was read or
	// last written (nil: unknown), so a save rewrites only the index
	// entries whose column changed (see SaveMappings).
	stored *indexedCols
}

// indexedCols are the Mapping columns an index covers (pair_id never
// changes once written).
type indexedCols struct{ aID, bID, key, state string }

func (m *Mapping) indexed() *indexedCols {
	state := m.State
	if state == "" {
		state = StateOK
	}
	return &indexedCols{m.AID, m.BID, m.Key, state}
}

// AfterFind remembers the indexed columns as read (a gorm hook).
func (m *Mapping) AfterFind(*gorm.DB) error {
	m.stored = m.indexed()
	return nil
}

// Run is one sync run of a pair.
type Run struct {
	ID        uint `gorm:"primaryKey"`
	PairID    uint `gorm:"index"`
	Started   time.Time
	Ended     time.Time
	Trigger   string // "timer", "manual", "cli"
	DryRun    bool
	Created   int
	Updated   int
	Deleted   int
	Conflicts int
	Errors    int
	Error     string // a refused or failed run: why
}

// Event is one per-record happening in a run, kept after mappings go.
type Event struct {
	ID     uint `gorm:"primaryKey"`
	RunID  uint
	PairID uint `gorm:"index"`
	At     time.Time
	AID    string `gorm:"column:a_id"`
	BID    string `gorm:"column:b_id"`
	Side   string // side written: "a" or "b"
	Action string // "create", "update", "delete", "link", "conflict", "error", "unlink"
	Fields string // comma-separated canonical field names touched
	Error  string
}
