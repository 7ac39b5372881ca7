// Package sql holds the schema migrations and the sqlc queries; it exports the
// migrations so the binary can apply them (go:embed cannot climb out of a package).
package sql

import "embed"

// Migrations holds sql/migrations/*.sql (goose format).
//
//go:embed migrations/*.sql
var Migrations embed.FS
