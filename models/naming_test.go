package models

import (
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// The stores on users' disks have these tables: the namer must keep
// giving each model the name gorm's default (inflected) namer gave it.
func TestTableNames(t *testing.T) {
	for model, want := range map[any]string{
		&Connection{}: "connections", &Pair{}: "pairs", &Mapping{}: "mappings",
		&Run{}: "runs", &Event{}: "events", &Intent{}: "intents",
	} {
		s, err := schema.Parse(model, &sync.Map{}, namer)
		if err != nil {
			t.Fatal(err)
		}
		if s.Table != want {
			t.Errorf("%T: table %q, want %q", model, s.Table, want)
		}
		if def, _ := schema.Parse(model, &sync.Map{}, schema.NamingStrategy{}); def.Table != want {
			t.Errorf("%T: gorm's default namer says %q, want %q", model, def.Table, want)
		}
	}
}
