package models

import "gorm.io/gorm/schema"

// tableNamer names a model's table as gorm's default does for Tandem's
// models (snake case, plus "s"), without gorm's English inflection rules:
// compiling their ~90 regular expressions cost every process ~3 ms, and
// they are now compiled only on first use (models/internal/inflection).
// Every model here is a regular noun; TestTableNames pins the names.
type tableNamer struct{ schema.NamingStrategy }

func (n tableNamer) TableName(model string) string {
	return n.NamingStrategy.TableName(model) + "s"
}

func (n tableNamer) JoinTableName(joinTable string) string {
	return n.NamingStrategy.JoinTableName(joinTable) + "s"
}

var namer = tableNamer{schema.NamingStrategy{SingularTable: true}}
