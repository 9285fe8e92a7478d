// Package connector defines what the sync engine needs from a system
// (a vCard folder, a CardDAV server, HubSpot) and a registry of kinds.
// Each kind lives in its own sub-package and registers itself in init.
package connector

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Record is one record as a system holds it. Fields are keyed by native
// field name (e.g. "EMAIL", "N.family", "firstname"); an absent or empty
// value means the field is not set.
type Record struct {
	ID       string
	Version  string    // opaque: etag, updatedAt, size+mtime
	Modified time.Time // last modification, for the "newest" conflict policy; zero if unknown
	Fields   map[string]string
	// Err is set when the record exists but could not be read (malformed);
	// it wraps ErrInvalidRecord. The engine reports it per record and never
	// writes or deletes such a record. Fields is nil then.
	Err error
}

// Item is one entry of a change listing. Record is nil when the connector
// listed only id+version (the engine fetches with Get when the version is
// not the one it already knows).
type Item struct {
	ID      string
	Version string
	Deleted bool
	Record  *Record
}

// Changes is what changed since a cursor.
type Changes struct {
	Items []Item
	// Full means Items lists every record of the side: a known id absent
	// from Items has been deleted. Each id appears once.
	Full   bool
	Cursor string // to pass next time; stored only after the run committed
}

// Op is a write operation.
type Op int

const (
	OpCreate Op = iota
	OpUpdate
	OpDelete
)

func (o Op) String() string { return [...]string{"create", "update", "delete"}[o] }

// Write is one record write. Fields holds only the mapped native fields to
// set ("" clears the field); a connector never touches any other field.
type Write struct {
	Op      Op
	ID      string // update, delete
	Version string // expected version for a conditional write; "" = unconditional
	Fields  map[string]string
}

// Result answers one Write, in the same order. Err is a per-record error;
// the record's new id and version are in Record (Fields may be nil).
type Result struct {
	Record Record
	Err    error
}

// Capabilities tell the engine what a system can do.
type Capabilities struct {
	Incremental bool // Changes honours a cursor and returns only what changed
	Conditional bool // writes honour Write.Version (a mismatch is ErrVersionMismatch)
	MaxBatch    int  // largest Write batch worth sending at once; 0 = no limit
}

// Connector is one open connection to a system.
type Connector interface {
	Capabilities() Capabilities
	// Changes lists what changed since cursor ("" = everything, Full).
	Changes(ctx context.Context, cursor string) (Changes, error)
	// Get fetches records by id; ids that do not exist are left out.
	Get(ctx context.Context, ids []string) ([]Record, error)
	// Apply performs writes. The error is for the whole call (auth,
	// unreachable); per-record failures are in the results.
	Apply(ctx context.Context, writes []Write) ([]Result, error)
	// Test checks reachability and credentials, with a plain message.
	Test(ctx context.Context) error
	Close() error
}

// KeyFinder is implemented by connectors that can look a record up by the
// value of a native field (used to resolve pending creates after a crash).
type KeyFinder interface {
	FindByField(ctx context.Context, field, value string) ([]Record, error)
}

// FullReader is implemented by connectors that list in full and can read
// every record while they list, for less than Changes followed by Get of
// each (a vCard folder stats each file to list it, then again to read it).
// The engine calls it for a side of a pair with nothing stored yet (its
// first sync), where every listed record is read anyway: ReadAll returns
// what Changes("") would, with every Item's Record set (Record.Err for one
// that cannot be read).
type FullReader interface {
	ReadAll(ctx context.Context) (Changes, error)
}

// CursorAdvancer is implemented by incremental connectors whose change
// listing would show the run's own writes back to it next time (a CardDAV
// sync token taken before them). After a run stored its outcome without a
// per-record error, the engine asks for a cursor past those writes; the
// connector returns cursor itself unless every change since it is its own.
type CursorAdvancer interface {
	AdvanceCursor(ctx context.Context, cursor string) string
}

// Errors a connector returns (wrapped) so the engine can decide.
var (
	ErrVersionMismatch = errors.New("record changed since it was read") // 412: fetch again and merge again
	ErrNotFound        = errors.New("record not found")
	ErrAuth            = errors.New("credentials refused")      // stops the run (exit 2)
	ErrUnreachable     = errors.New("system unreachable")       // stops the run
	ErrInvalidRecord   = errors.New("record could not be read") // per record
)

// AlreadyExistsError is returned for a create when the system already has
// the record (HubSpot 409): the engine links to ExistingID instead.
type AlreadyExistsError struct{ ExistingID string }

func (e *AlreadyExistsError) Error() string {
	return fmt.Sprintf("record already exists as %s", e.ExistingID)
}

// Config opens a connection.
type Config struct {
	Name     string            // connection name (for messages)
	Settings map[string]string // non-secret settings
	Secret   string            // from the keyring; never logged
	Fields   []string          // native fields the pair maps (connectors may read only these)
}

// Setting describes one setting of a kind, for forms and validation.
type Setting struct {
	Key      string
	Label    string
	Required bool
	Default  string
	Hint     string
}

// Kind describes a connector kind.
type Kind struct {
	Name        string // "vcarddir"
	Label       string // "vCard folder"
	Settings    []Setting
	NeedsSecret bool
	SecretLabel string // "Password", "Private app token"
	Open        func(Config) (Connector, error)
}

var kinds = map[string]Kind{}

// Register adds a kind; called from the kind package's init.
func Register(k Kind) { kinds[k.Name] = k }

// Lookup returns a registered kind.
func Lookup(name string) (Kind, bool) { k, ok := kinds[name]; return k, ok }

// Kinds lists registered kinds by name.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Open opens a connection of a registered kind, checking required settings.
func Open(kind string, cfg Config) (Connector, error) {
	k, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("unknown connection kind %q", kind)
	}
	settings := make(map[string]string, len(cfg.Settings))
	for key, v := range cfg.Settings {
		settings[key] = v
	}
	for _, s := range k.Settings {
		if settings[s.Key] == "" {
			settings[s.Key] = s.Default
		}
		if s.Required && settings[s.Key] == "" {
			return nil, fmt.Errorf("connection %q: setting %q (%s) is required", cfg.Name, s.Key, s.Label)
		}
	}
	cfg.Settings = settings
	return k.Open(cfg)
}
