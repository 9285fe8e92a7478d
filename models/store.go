package models

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Store is the local SQLite database. All writes go through Write, which
// serialises writers in-process: the driver ignores _txlock, so deferred
// transactions from two goroutines would fail with SQLITE_BUSY.
type Store struct {
	DB      *gorm.DB
	Path    string
	writeMu sync.Mutex
}

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("not found")

// Open opens (creating if needed) the store at path and migrates it.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	// mmap_size: reads come straight from the mapped file. Without it every
	// page read allocates a page-cache buffer in the pure-Go driver's
	// allocator, whose mmap/munmap churn cost a no-change sync of 10,000
	// cards ~50 ms (and as much again at Close). Capped at 32 MiB (a store
	// of ~50,000 mappings): mapped pages count as the process's resident
	// memory, and the window on a million rows must stay under 250 MB.
	dsn := "file:" + uriPath(path) + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=mmap_size(33554432)"
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{
		Logger:                 logger.Default.LogMode(logger.Silent),
		SkipDefaultTransaction: true,
		PrepareStmt:            true,
		NamingStrategy:         namer,
	})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{DB: db, Path: path}
	if err := s.migrate(); err != nil {
		s.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return s, nil
}

// uriPath makes a file path safe inside a SQLite "file:" URI: '?', '#' and
// '%' in folder names would otherwise be read as URI syntax, and Windows
// drive paths need a leading slash.
func uriPath(path string) string {
	p := filepath.ToSlash(path)
	if vol := filepath.VolumeName(path); vol != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// schemaVersion names the schema migrate creates. Bump it whenever a model
// or an index changes: a store already at this version skips AutoMigrate,
// which costs tens of milliseconds on every CLI start.
const schemaVersion = 3

func (s *Store) migrate() error {
	var v int
	if err := s.DB.Raw("PRAGMA user_version").Scan(&v).Error; err != nil {
		return err
	}
	if v == schemaVersion {
		return nil
	}
	if err := s.DB.AutoMigrate(&Connection{}, &Pair{}, &Mapping{}, &Run{}, &Event{}, &Intent{}); err != nil {
		return err
	}
	// Partial unique indexes: an id is unique per side once known; pending
	// rows have "" for the side not yet created. Gorm tags cannot say this.
	for _, q := range []string{
		`CREATE UNIQUE INDEX IF NOT EXISTS idx_mappings_pair_a ON mappings(pair_id, a_id) WHERE a_id <> ''`,
		`CREATE UNIQUE INDEX IF NOT EXISTS idx_mappings_pair_b ON mappings(pair_id, b_id) WHERE b_id <> ''`,
		`CREATE INDEX IF NOT EXISTS idx_mappings_pair_id ON mappings(pair_id, id)`,
		`CREATE INDEX IF NOT EXISTS idx_mappings_pair_key ON mappings(pair_id, key)`,
		`CREATE INDEX IF NOT EXISTS idx_events_pair_id ON events(pair_id, id)`,
		// Schema 2: nearly every row is "ok", so only the rare states are
		// indexed (a query must say state <> 'ok' to use it); every
		// record's row then skips this index on a first sync. Events are
		// never looked up by run.
		`DROP INDEX IF EXISTS idx_mappings_state`,
		`CREATE INDEX IF NOT EXISTS idx_mappings_rare_state ON mappings(state) WHERE state <> 'ok'`,
		`DROP INDEX IF EXISTS idx_events_run_id`,
	} {
		if err := s.DB.Exec(q).Error; err != nil {
			return err
		}
	}
	// Schema 3: each side's version snapshot and the triggers keeping its
	// change log (versions.go).
	for _, q := range versionSchema {
		if err := s.DB.Exec(q).Error; err != nil {
			return err
		}
	}
	return s.DB.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)).Error
}

// Close closes the database.
func (s *Store) Close() error {
	sqlDB, err := s.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Leave ends a process's use of the store, for a command that exits right
// after. Closing the last connection checkpoints: it copies the WAL into
// the database file and fsyncs both, ~12 ms at the end of every one-shot
// sync. A small WAL is left instead, fsynced (what this process committed
// is then as durable as after a close): a later writer's automatic
// checkpoint (SQLite's 1,000-page default) copies it, as between
// checkpoints in the long-running app. The next process to open the store
// rebuilds the WAL's index by reading it, so a WAL over leaveWALMax is
// checkpointed by a real close, as before. The Store must not be used
// afterwards.
func (s *Store) Leave() error {
	f, err := os.OpenFile(s.Path+"-wal", os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing written since the last checkpoint
	}
	if err != nil {
		return s.Close()
	}
	defer f.Close()
	// The file's size bounds the frames it holds (SQLite reuses a WAL from
	// its start after a checkpoint without shrinking it).
	if fi, err := f.Stat(); err != nil || fi.Size() > leaveWALMax {
		return s.Close()
	}
	return f.Sync()
}

// leaveWALMax is the largest WAL Leave leaves: ~250 pages, which the next
// open reads in ~1 ms (a 1% sync of 10,000 cards writes ~100).
const leaveWALMax = 1 << 20

// Write runs fn in one transaction, one writer at a time.
func (s *Store) Write(fn func(tx *gorm.DB) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var after []func()
	ctx := context.WithValue(context.Background(), afterCommitKey{}, &after)
	err := s.DB.WithContext(ctx).Transaction(fn)
	if err == nil {
		for _, f := range after {
			f()
		}
	}
	return err
}

type afterCommitKey struct{}

// afterCommit runs f once tx has committed: never when it rolls back, or
// when tx is not a Write transaction. For in-memory state that must match
// what the database holds.
func afterCommit(tx *gorm.DB, f func()) {
	if p, ok := tx.Statement.Context.Value(afterCommitKey{}).(*[]func()); ok {
		*p = append(*p, f)
	}
}

// --- connections and pairs ---

// SaveConnection inserts or updates a connection by name.
func (s *Store) SaveConnection(c *Connection) error {
	return s.Write(func(tx *gorm.DB) error { return saveConnection(tx, c) })
}

func saveConnection(tx *gorm.DB, c *Connection) error {
	var existing Connection
	err := tx.Where("name = ?", c.Name).First(&existing).Error
	switch {
	case err == nil:
		c.ID = existing.ID
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return err
	}
	return tx.Save(c).Error
}

// ConnectionByName finds a connection.
func (s *Store) ConnectionByName(name string) (*Connection, error) {
	var c Connection
	if err := s.DB.Where("name = ?", name).First(&c).Error; err != nil {
		return nil, notFound(err, "connection %q", name)
	}
	return &c, nil
}

// Connections lists all connections by name.
func (s *Store) Connections() ([]Connection, error) {
	var cs []Connection
	return cs, s.DB.Order("name").Find(&cs).Error
}

// SavePair inserts or updates a pair by name, with its two connections
// (saved by name too). Cursors of an existing pair are kept unless the
// connection of that side changed.
func (s *Store) SavePair(p *Pair) error {
	return s.Write(func(tx *gorm.DB) error {
		if err := saveConnection(tx, &p.A); err != nil {
			return err
		}
		if err := saveConnection(tx, &p.B); err != nil {
			return err
		}
		p.AID, p.BID = p.A.ID, p.B.ID
		var existing Pair
		err := tx.Where("name = ?", p.Name).First(&existing).Error
		switch {
		case err == nil:
			p.ID = existing.ID
			if existing.AID == p.AID && p.CursorA == "" {
				p.CursorA = existing.CursorA
			}
			if existing.BID == p.BID && p.CursorB == "" {
				p.CursorB = existing.CursorB
			}
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return err
		}
		return tx.Omit("A", "B").Save(p).Error
	})
}

// PairByName loads a pair with both connections.
func (s *Store) PairByName(name string) (*Pair, error) {
	var p Pair
	if err := s.DB.Preload("A").Preload("B").Where("name = ?", name).First(&p).Error; err != nil {
		return nil, notFound(err, "pair %q", name)
	}
	return &p, nil
}

// PairByID loads a pair with both connections.
func (s *Store) PairByID(id uint) (*Pair, error) {
	var p Pair
	if err := s.DB.Preload("A").Preload("B").First(&p, id).Error; err != nil {
		return nil, notFound(err, "pair %d", id)
	}
	return &p, nil
}

// Pairs lists all pairs with their connections, by name.
func (s *Store) Pairs() ([]Pair, error) {
	var ps []Pair
	return ps, s.DB.Preload("A").Preload("B").Order("name").Find(&ps).Error
}

// DeletePair removes a pair, its mappings, runs and events (not connections).
func (s *Store) DeletePair(id uint) error {
	return s.Write(func(tx *gorm.DB) error {
		if err := dropVersionSnapshots(tx, id); err != nil { // first: the mappings' deletion is then not logged
			return err
		}
		for _, m := range []any{&Mapping{}, &Event{}, &Run{}, &Intent{}} {
			if err := tx.Where("pair_id = ?", id).Delete(m).Error; err != nil {
				return err
			}
		}
		return tx.Delete(&Pair{}, id).Error
	})
}

// SaveCursors stores both change cursors of a pair.
func (s *Store) SaveCursors(pairID uint, a, b string) error {
	return s.Write(func(tx *gorm.DB) error {
		return tx.Model(&Pair{}).Where("id = ?", pairID).
			Updates(map[string]any{"cursor_a": a, "cursor_b": b}).Error
	})
}

func notFound(err error, format string, args ...any) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrNotFound)
	}
	return err
}
