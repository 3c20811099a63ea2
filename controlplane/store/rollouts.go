package store

import (
	"context"
	"fmt"
	"time"
)

// Rollout is a model version going out to a device group in waves.
type Rollout struct {
	ID          string
	ModelID     string
	Version     int
	Group       string
	Strategy    []byte // the api.RolloutStrategy, JSON
	Status      string // running | paused | succeeded | failed | aborted | rolled_back
	Error       string
	Wave, Waves int       // the wave being rolled out, of how many
	WaveDoneAt  time.Time // when the current wave's last device ended (zero: not yet)
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RolloutDevice is one device of a rollout.
type RolloutDevice struct {
	DeviceID    string
	Wave        int
	State       string // pending | deploying | transferring | verifying | swapping | healthy | failed | rolled_back
	Reason      string
	Percent     float64
	DesiredID   string // the desired state sent for this rollout
	PrevModelID string // what the device was told to run before, to roll back to
	PrevVersion int
	StartedAt   time.Time
	UpdatedAt   time.Time
}

const rolloutCols = "id, model_id, version, group_name, strategy, status, error, wave, waves, wave_done_at, created_by, created_at, updated_at"

func scanRollout(sc interface{ Scan(...any) error }) (*Rollout, error) {
	var r Rollout
	var strategy string
	var done, created, updated int64
	if err := sc.Scan(&r.ID, &r.ModelID, &r.Version, &r.Group, &strategy, &r.Status, &r.Error, &r.Wave, &r.Waves, &done,
		&r.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	r.Strategy, r.WaveDoneAt, r.CreatedAt, r.UpdatedAt = []byte(strategy), fromMS(done), fromMS(created), fromMS(updated)
	return &r, nil
}

// CreateRollout records a rollout and its devices in one transaction.
func (s *sqlStore) CreateRollout(ctx context.Context, r *Rollout, devs []RolloutDevice) error {
	if err := checkJSON("rollout strategy", r.Strategy); err != nil {
		return err
	}
	r.ID = newID("ro")
	now := s.nowMS()
	return s.tx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, "INSERT INTO rollouts ("+rolloutCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
			r.ID, r.ModelID, r.Version, r.Group, string(r.Strategy), r.Status, r.Error, r.Wave, r.Waves, r.CreatedBy, now, now); err != nil {
			return fmt.Errorf("store: create rollout: %w", err)
		}
		for _, d := range devs {
			if _, err := c.exec(ctx, `INSERT INTO rollout_devices (rollout_id, device_id, wave, state, prev_model_id, prev_version, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, d.DeviceID, d.Wave, d.State, d.PrevModelID, d.PrevVersion, now); err != nil {
				return fmt.Errorf("store: rollout %s device %s: %w", r.ID, d.DeviceID, err)
			}
		}
		r.CreatedAt, r.UpdatedAt = fromMS(now), fromMS(now)
		return nil
	})
}

// Rollout reads a rollout and its devices (by wave, then id).
func (s *sqlStore) Rollout(ctx context.Context, id string) (*Rollout, []RolloutDevice, error) {
	r, err := scanRollout(s.rdb().row(ctx, "SELECT "+rolloutCols+" FROM rollouts WHERE id = ?", id))
	if err := one(err, "rollout", id); err != nil {
		return nil, nil, err
	}
	rows, err := s.rdb().query(ctx, `SELECT device_id, wave, state, reason, percent, desired_id, prev_model_id, prev_version, started_at, updated_at
		FROM rollout_devices WHERE rollout_id = ? ORDER BY wave, device_id`, id)
	if err != nil {
		return nil, nil, fmt.Errorf("store: rollout %s devices: %w", id, err)
	}
	defer rows.Close()
	var devs []RolloutDevice
	for rows.Next() {
		var d RolloutDevice
		var started, updated int64
		if err := rows.Scan(&d.DeviceID, &d.Wave, &d.State, &d.Reason, &d.Percent, &d.DesiredID, &d.PrevModelID, &d.PrevVersion, &started, &updated); err != nil {
			return nil, nil, fmt.Errorf("store: rollout %s devices: %w", id, err)
		}
		d.StartedAt, d.UpdatedAt = fromMS(started), fromMS(updated)
		devs = append(devs, d)
	}
	return r, devs, rows.Err()
}

// Rollouts lists the rollouts, newest first.
func (s *sqlStore) Rollouts(ctx context.Context) ([]Rollout, error) {
	rows, err := s.rdb().query(ctx, "SELECT "+rolloutCols+" FROM rollouts ORDER BY created_at DESC, id")
	if err != nil {
		return nil, fmt.Errorf("store: list rollouts: %w", err)
	}
	defer rows.Close()
	var out []Rollout
	for rows.Next() {
		r, err := scanRollout(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list rollouts: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// ClaimRollouts leases the running rollouts that no other replica holds
// (or whose lease ran out) to owner for ttl, renewing owner's own, and
// returns their ids: exactly one replica drives each rollout.
func (s *sqlStore) ClaimRollouts(ctx context.Context, owner string, ttl time.Duration) ([]string, error) {
	now := s.nowMS()
	if _, err := s.rdb().exec(ctx, `UPDATE rollouts SET lease_owner = ?, lease_expires = ?
		WHERE status = 'running' AND (lease_owner = ? OR lease_expires < ?)`, owner, now+ttl.Milliseconds(), owner, now); err != nil {
		return nil, fmt.Errorf("store: claim rollouts: %w", err)
	}
	rows, err := s.rdb().query(ctx, "SELECT id FROM rollouts WHERE status = 'running' AND lease_owner = ? AND lease_expires >= ? ORDER BY created_at", owner, now)
	if err != nil {
		return nil, fmt.Errorf("store: claimed rollouts: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// SetRollout records a rollout's status, error, wave and when the wave
// ended, if its status is still from; one that changed meanwhile (an
// abort, another replica) is ErrConflict and stays as it is.
func (s *sqlStore) SetRollout(ctx context.Context, r *Rollout, from string) error {
	n, err := s.rdb().execN(ctx, "UPDATE rollouts SET status = ?, error = ?, wave = ?, wave_done_at = ?, updated_at = ? WHERE id = ? AND status = ?",
		r.Status, r.Error, r.Wave, ms(r.WaveDoneAt), s.nowMS(), r.ID, from)
	if err != nil {
		return fmt.Errorf("store: rollout %s: %w", r.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: rollout %s is no longer %s: %w", r.ID, from, ErrConflict)
	}
	return nil
}

// SetRolloutDevice records one device's state in a rollout.
func (s *sqlStore) SetRolloutDevice(ctx context.Context, rolloutID string, d *RolloutDevice) error {
	now := s.nowMS()
	n, err := s.rdb().execN(ctx, `UPDATE rollout_devices SET state = ?, reason = ?, percent = ?, desired_id = ?, started_at = ?, updated_at = ?
		WHERE rollout_id = ? AND device_id = ?`, d.State, d.Reason, d.Percent, d.DesiredID, ms(d.StartedAt), now, rolloutID, d.DeviceID)
	if err != nil {
		return fmt.Errorf("store: rollout %s device %s: %w", rolloutID, d.DeviceID, err)
	}
	if n == 0 {
		return notFound("rollout device", d.DeviceID)
	}
	d.UpdatedAt = fromMS(now)
	return nil
}

// RolloutDeviceProgress records what a device says about the desired
// state desiredID (its events and reported state): state, reason and
// percent, on whichever rollout sent it; a device already healthy,
// failed or rolled back stays so. It returns whether a row changed.
func (s *sqlStore) RolloutDeviceProgress(ctx context.Context, deviceID, desiredID, state, reason string, percent float64) (bool, error) {
	if desiredID == "" {
		return false, nil
	}
	n, err := s.rdb().execN(ctx, `UPDATE rollout_devices SET state = ?, reason = ?, percent = ?, updated_at = ?
		WHERE device_id = ? AND desired_id = ? AND state NOT IN ('healthy', 'failed', 'rolled_back')`,
		state, reason, percent, s.nowMS(), deviceID, desiredID)
	if err != nil {
		return false, fmt.Errorf("store: rollout progress of device %s: %w", deviceID, err)
	}
	return n > 0, nil
}
