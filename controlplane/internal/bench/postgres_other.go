//go:build !linux

package main

import "errors"

// postgres is not started off Linux: the bench skips PostgreSQL there.
type postgres struct{}

var errNoPostgres = errors.New("the bench starts PostgreSQL on Linux only")

func startPostgres() (*postgres, error) { return nil, errNoPostgres }

func (p *postgres) dsn(string) string { return "" }

func (p *postgres) stop() {}
