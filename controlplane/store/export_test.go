package store

import "time"

// SetClock replaces the store's clock, so tests expire leases and tokens
// without sleeping.
func SetClock(s Store, now func() time.Time) { s.(*sqlStore).now = now }
