package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/autocv/autocv/protocol/api"
)

// Group is a device group and how many devices it has, and how many of
// them are online.
type Group struct {
	Name        string
	Description string
	CreatedAt   time.Time
	Devices     int
	Online      int
}

// checkGroup holds group names to the name rule people's names follow
// (api.ValidName: any script, 1–64 characters); they are never part of
// an MQTT topic, and URLs escape them.
func checkGroup(g string) error {
	if !api.ValidName(g, 64) {
		return fmt.Errorf("store: group %q: 1–64 letters (any script), digits, '_', '-', '.' or inner spaces", g)
	}
	return nil
}

// CreateGroup records a group; one that exists is ErrConflict.
func (s *sqlStore) CreateGroup(ctx context.Context, g *Group) error {
	if err := checkGroup(g.Name); err != nil {
		return err
	}
	if utf8.RuneCountInString(g.Description) > 500 {
		return fmt.Errorf("store: group %s: description over 500 characters", g.Name)
	}
	now := s.now()
	n, err := s.rdb().execN(ctx, "INSERT INTO device_groups (name, description, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		g.Name, g.Description, ms(now))
	if err != nil {
		return fmt.Errorf("store: create group %s: %w", g.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("store: group %s exists: %w", g.Name, ErrConflict)
	}
	g.CreatedAt = fromMS(ms(now))
	return nil
}

const groupQuery = `SELECT g.name, g.description, g.created_at,
	(SELECT COUNT(*) FROM devices d WHERE d.group_name = g.name),
	(SELECT COUNT(*) FROM devices d WHERE d.group_name = g.name AND d.online)
	FROM device_groups g`

func scanGroup(sc interface{ Scan(...any) error }) (*Group, error) {
	var g Group
	var created int64
	if err := sc.Scan(&g.Name, &g.Description, &created, &g.Devices, &g.Online); err != nil {
		return nil, err
	}
	g.CreatedAt = fromMS(created)
	return &g, nil
}

// Groups lists the groups by name.
func (s *sqlStore) Groups(ctx context.Context) ([]Group, error) {
	rows, err := s.rdb().query(ctx, groupQuery+" ORDER BY g.name")
	if err != nil {
		return nil, fmt.Errorf("store: list groups: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list groups: %w", err)
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

// Group reads one group.
func (s *sqlStore) Group(ctx context.Context, name string) (*Group, error) {
	g, err := scanGroup(s.rdb().row(ctx, groupQuery+" WHERE g.name = ?", name))
	if err := one(err, "group", name); err != nil {
		return nil, err
	}
	return g, nil
}
