package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/fleet"
)

func (s *sqlStore) CreateEnrollmentToken(ctx context.Context, t *EnrollmentToken) error {
	if err := checkHash("enrolment token hash", t.Hash); err != nil {
		return err
	}
	if err := checkGroup(t.Group); err != nil {
		return err
	}
	if t.UsesLeft < 1 {
		return fmt.Errorf("store: enrolment token for group %s allows %d uses, need at least 1", t.Group, t.UsesLeft)
	}
	id, now := newID("et"), ms(s.now())
	// The token's group exists from now on (groups are objects).
	if _, err := s.rdb().exec(ctx, "INSERT INTO device_groups (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING", t.Group, now); err != nil {
		return fmt.Errorf("store: group %s: %w", t.Group, err)
	}
	_, err := s.rdb().exec(ctx, `INSERT INTO enrollment_tokens (id, hash, group_name, uses_left, expires_at, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id, t.Hash, t.Group, t.UsesLeft, ms(t.ExpiresAt), t.CreatedBy, now)
	switch {
	case isUnique(err):
		return fmt.Errorf("store: an enrolment token with that hash exists: %w", ErrConflict)
	case err != nil:
		return fmt.Errorf("store: create enrolment token: %w", err)
	}
	t.ID, t.CreatedAt = id, fromMS(now)
	return nil
}

func (s *sqlStore) EnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error) {
	rows, err := s.rdb().query(ctx, `SELECT id, hash, group_name, uses_left, expires_at, created_by, created_at
		FROM enrollment_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list enrolment tokens: %w", err)
	}
	defer rows.Close()
	var out []EnrollmentToken
	for rows.Next() {
		var t EnrollmentToken
		var exp, created int64
		if err := rows.Scan(&t.ID, &t.Hash, &t.Group, &t.UsesLeft, &exp, &t.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("store: list enrolment tokens: %w", err)
		}
		t.ExpiresAt, t.CreatedAt = fromMS(exp), fromMS(created)
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *sqlStore) DeleteEnrollmentToken(ctx context.Context, id string) error {
	res, err := s.rdb().exec(ctx, "DELETE FROM enrollment_tokens WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("store: delete enrolment token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("enrolment token", id)
	}
	return nil
}

// Enroll gives the device a "dev_…" id when d.ID is empty.
func (s *sqlStore) Enroll(ctx context.Context, tokenHash string, d *Device) error {
	if d.ID == "" {
		d.ID = newID("dev")
	}
	if err := fleet.ValidateDeviceID(d.ID); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := checkHash("device MQTT password hash", d.MQTTPasswordHash); err != nil {
		return err
	}
	if strings.ContainsAny(d.BrokerCredential, "\r\n") || len(d.BrokerCredential) > 1024 {
		return fmt.Errorf("store: device %s: broker credential must be one line of at most 1024 bytes", d.ID)
	}
	for what, v := range map[string]string{"name": d.Name, "os": d.OS, "arch": d.Arch, "agent version": d.AgentVersion} {
		if len(v) > fleet.MaxNameLen*4 {
			return fmt.Errorf("store: device %s: %s is %d bytes long, at most %d allowed", d.ID, what, len(v), fleet.MaxNameLen*4)
		}
	}
	now := s.now()
	return s.tx(ctx, func(c conn) error {
		var group string
		err := c.row(ctx, `UPDATE enrollment_tokens SET uses_left = uses_left - 1
			WHERE hash = ? AND uses_left > 0 AND (expires_at = 0 OR expires_at > ?)
			RETURNING group_name`, tokenHash, ms(now)).Scan(&group)
		if err := one(err, "enrolment token", "(unknown, used up or expired)"); err != nil {
			return err
		}
		_, err = c.exec(ctx, `INSERT INTO devices (id, name, group_name, os, arch, agent_version, mqtt_password_hash, broker_credential, enrolled_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.Name, group, d.OS, d.Arch, d.AgentVersion, d.MQTTPasswordHash, d.BrokerCredential, ms(now))
		switch {
		case isUnique(err):
			return fmt.Errorf("store: device %s is enrolled already: %w", d.ID, ErrConflict)
		case err != nil:
			return fmt.Errorf("store: enrol device %s: %w", d.ID, err)
		}
		d.Group, d.EnrolledAt = group, fromMS(ms(now))
		return nil
	})
}

const deviceCols = `id, name, group_name, os, arch, agent_version, mqtt_password_hash, broker_credential, enrolled_at, online, last_seen,
	reported, desired_model_id, desired_version, desired_id, desired`

func scanDevice(sc interface{ Scan(...any) error }) (*Device, error) {
	var d Device
	var enrolled, seen int64
	var reported, desired string
	if err := sc.Scan(&d.ID, &d.Name, &d.Group, &d.OS, &d.Arch, &d.AgentVersion, &d.MQTTPasswordHash, &d.BrokerCredential, &enrolled,
		&d.Online, &seen, &reported, &d.DesiredModelID, &d.DesiredVersion, &d.DesiredID, &desired); err != nil {
		return nil, err
	}
	d.EnrolledAt, d.LastSeen = fromMS(enrolled), fromMS(seen)
	d.Reported, d.Desired = rawJSON(reported), rawJSON(desired)
	return &d, nil
}

func (s *sqlStore) Device(ctx context.Context, id string) (*Device, error) {
	d, err := scanDevice(s.rdb().row(ctx, "SELECT "+deviceCols+" FROM devices WHERE id = ?", id))
	return d, one(err, "device", id)
}

// Devices lists a group's devices ("" = all) ordered by group and id.
func (s *sqlStore) Devices(ctx context.Context, group string) ([]Device, error) {
	rows, err := s.rdb().query(ctx, "SELECT "+deviceCols+" FROM devices WHERE ? = '' OR group_name = ? ORDER BY group_name, id", group, group)
	if err != nil {
		return nil, fmt.Errorf("store: list devices: %w", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list devices: %w", err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

func (s *sqlStore) SetDeviceSeen(ctx context.Context, id string, online bool, at time.Time, reported json.RawMessage) error {
	if err := checkJSON("reported state of device "+id, reported); err != nil {
		return err
	}
	q, args := "UPDATE devices SET online = ?, last_seen = ? WHERE id = ?", []any{online, ms(at), id}
	if reported != nil {
		q, args = "UPDATE devices SET online = ?, last_seen = ?, reported = ? WHERE id = ?", []any{online, ms(at), textOf(reported), id}
	}
	n, err := s.rdb().execN(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: device %s seen: %w", id, err)
	}
	if n == 0 {
		return notFound("device", id)
	}
	return nil
}

func (s *sqlStore) SetDesired(ctx context.Context, id, modelID string, version int, msgID string, msg json.RawMessage) error {
	if err := checkJSON("desired state of device "+id, msg); err != nil {
		return err
	}
	if version < 0 || (modelID == "") != (version == 0) {
		return fmt.Errorf("store: device %s: desired model %q version %d; give both or neither", id, modelID, version)
	}
	n, err := s.rdb().execN(ctx, "UPDATE devices SET desired_model_id = ?, desired_version = ?, desired_id = ?, desired = ? WHERE id = ?",
		modelID, version, msgID, textOf(msg), id)
	if err != nil {
		return fmt.Errorf("store: device %s desired: %w", id, err)
	}
	if n == 0 {
		return notFound("device", id)
	}
	return nil
}

func (s *sqlStore) DeleteDevice(ctx context.Context, id string) error {
	n, err := s.rdb().execN(ctx, "DELETE FROM devices WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("store: delete device %s: %w", id, err)
	}
	if n == 0 {
		return notFound("device", id)
	}
	return nil
}
