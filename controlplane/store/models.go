package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/autocv/autocv/protocol/jobs"
)

const modelCols = "id, owner_id, name, contact, description, created_at"

func scanModel(sc interface{ Scan(...any) error }) (*Model, error) {
	var m Model
	var created int64
	if err := sc.Scan(&m.ID, &m.OwnerID, &m.Name, &m.Contact, &m.Description, &created); err != nil {
		return nil, err
	}
	m.CreatedAt = fromMS(created)
	return &m, nil
}

func (s *sqlStore) CreateModel(ctx context.Context, m *Model) error {
	if err := checkName("model name", m.Name); err != nil {
		return err
	}
	if m.OwnerID == "" {
		return fmt.Errorf("store: model %q has no owner", m.Name)
	}
	if len(m.Contact) > maxName || len(m.Description) > 4096 {
		return fmt.Errorf("store: model %q: contact at most %d bytes, description at most 4096", m.Name, maxName)
	}
	id, now := newID("m"), ms(s.now())
	if _, err := s.rdb().exec(ctx, "INSERT INTO models ("+modelCols+") VALUES (?, ?, ?, ?, ?, ?)",
		id, m.OwnerID, m.Name, m.Contact, m.Description, now); err != nil {
		return fmt.Errorf("store: create model %q: %w", m.Name, err)
	}
	m.ID, m.CreatedAt = id, fromMS(now)
	return nil
}

func (s *sqlStore) Model(ctx context.Context, id string) (*Model, error) {
	m, err := scanModel(s.rdb().row(ctx, "SELECT "+modelCols+" FROM models WHERE id = ?", id))
	return m, one(err, "model", id)
}

func (s *sqlStore) Models(ctx context.Context, ownerID string, p Page) ([]Model, int, error) {
	limit, offset := p.limits()
	c := s.rdb()
	var total int
	if err := c.row(ctx, "SELECT COUNT(*) FROM models WHERE ? = '' OR owner_id = ?", ownerID, ownerID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count models: %w", err)
	}
	rows, err := c.query(ctx, "SELECT "+modelCols+` FROM models WHERE ? = '' OR owner_id = ?
		ORDER BY created_at DESC, id LIMIT ? OFFSET ?`, ownerID, ownerID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list models: %w", err)
	}
	defer rows.Close()
	var out []Model
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list models: %w", err)
		}
		out = append(out, *m)
	}
	return out, total, rows.Err()
}

// DeleteModel removes a model with its versions, jobs and SDK rows.
func (s *sqlStore) DeleteModel(ctx context.Context, id string) error {
	return s.tx(ctx, func(c conn) error {
		if err := s.lockModel(ctx, c, id); err != nil {
			return err
		}
		var n int
		if err := c.row(ctx, "SELECT COUNT(*) FROM jobs WHERE model_id = ? AND state IN (?, ?)", id, JobQueued, JobLeased).Scan(&n); err != nil {
			return fmt.Errorf("store: delete model %s: %w", id, err)
		}
		if n > 0 {
			return fmt.Errorf("store: model %s has %d version(s) queued or training; stop them first: %w", id, n, ErrConflict)
		}
		if err := c.row(ctx, "SELECT COUNT(*) FROM services WHERE model_id = ?", id).Scan(&n); err != nil {
			return fmt.Errorf("store: delete model %s: %w", id, err)
		}
		if n > 0 {
			return fmt.Errorf("store: model %s is published by %d service(s); delete them first: %w", id, n, ErrConflict)
		}
		for _, q := range []string{
			"DELETE FROM sdks WHERE model_id = ?",
			"DELETE FROM jobs WHERE model_id = ?", // job_images cascade
			"DELETE FROM versions WHERE model_id = ?",
			"DELETE FROM models WHERE id = ?",
		} {
			if _, err := c.exec(ctx, q, id); err != nil {
				return fmt.Errorf("store: delete model %s: %w", id, err)
			}
		}
		return nil
	})
}

// lockModel checks the model exists, locking its row on PostgreSQL so
// version numbers are handed out one transaction at a time.
func (s *sqlStore) lockModel(ctx context.Context, c conn, id string) error {
	var got string
	err := c.row(ctx, "SELECT id FROM models WHERE id = ?"+s.d.forUpdate(), id).Scan(&got)
	return one(err, "model", id)
}

func checkVersion(v *Version) error {
	if _, ok := jobs.RecipeFor(v.AppType); !ok {
		return fmt.Errorf("store: unknown application type %q (want %s, %s, %s or %s)", v.AppType,
			jobs.CloudGeneral, jobs.CloudHighAccuracy, jobs.OfflineGeneral, jobs.OfflineHighPerformance)
	}
	if !slices.Contains(jobs.Metrics, v.Metric) {
		return fmt.Errorf("store: unknown metric %q (want one of %v)", v.Metric, jobs.Metrics)
	}
	return nil
}

func (s *sqlStore) CreateVersions(ctx context.Context, modelID string, vs []Version, js []jobs.Job) ([]Version, error) {
	if len(vs) == 0 || len(vs) != len(js) {
		return nil, fmt.Errorf("store: %d versions with %d jobs; need one job per version and at least one", len(vs), len(js))
	}
	for i := range vs {
		if err := checkVersion(&vs[i]); err != nil {
			return nil, err
		}
	}
	var out []Version
	err := s.tx(ctx, func(c conn) error {
		out = out[:0]
		if err := s.lockModel(ctx, c, modelID); err != nil {
			return err
		}
		var last int
		if err := c.row(ctx, "SELECT COALESCE(MAX(number), 0) FROM versions WHERE model_id = ?", modelID).Scan(&last); err != nil {
			return fmt.Errorf("store: versions of model %s: %w", modelID, err)
		}
		now := ms(s.now())
		for i := range vs {
			v, j := vs[i], &js[i]
			v.ModelID, v.Number, v.Status = modelID, last+i+1, VersionQueued
			v.JobID, v.Progress, v.Error = newID("job"), jobs.Progress{}, ""
			v.PackageSHA256, v.ReportSHA256, v.Metrics = "", "", nil
			j.ID, j.ModelID, j.Version = v.JobID, modelID, v.Number
			if j.AppType == "" {
				j.AppType = v.AppType
			}
			if j.Metric == "" {
				j.Metric = v.Metric
			}
			if len(v.Labels) == 0 {
				v.Labels = j.Labels
			}
			if err := j.Validate(); err != nil {
				return fmt.Errorf("store: version %d of model %s: %w", v.Number, modelID, err)
			}
			labels, _ := json.Marshal(v.Labels)
			spec, err := json.Marshal(j)
			if err != nil {
				return fmt.Errorf("store: encode job %s: %w", j.ID, err)
			}
			if _, err := c.exec(ctx, `INSERT INTO versions (model_id, number, app_type, metric, status, job_id, labels, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, modelID, v.Number, v.AppType, v.Metric, v.Status, v.JobID, string(labels), now, now); err != nil {
				if isUnique(err) {
					return fmt.Errorf("store: version %d of model %s exists: %w", v.Number, modelID, ErrConflict)
				}
				return fmt.Errorf("store: create version %d of model %s: %w", v.Number, modelID, err)
			}
			if _, err := c.exec(ctx, `INSERT INTO jobs (id, model_id, version, spec, state, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, j.ID, modelID, v.Number, string(spec), JobQueued, now, now); err != nil {
				return fmt.Errorf("store: queue job for version %d of model %s: %w", v.Number, modelID, err)
			}
			for _, im := range j.Images {
				if _, err := c.exec(ctx, "INSERT INTO job_images (job_id, image_id) VALUES (?, ?)", j.ID, im.ID); err != nil {
					return fmt.Errorf("store: job %s image %s: %w", j.ID, im.ID, err)
				}
			}
			v.CreatedAt, v.UpdatedAt = fromMS(now), fromMS(now)
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const versionCols = "model_id, number, app_type, metric, status, progress, error, job_id, labels, package_sha256, report_sha256, metrics, created_at, updated_at"

func scanVersion(sc interface{ Scan(...any) error }) (*Version, error) {
	var v Version
	var progress, labels, metrics string
	var created, updated int64
	if err := sc.Scan(&v.ModelID, &v.Number, &v.AppType, &v.Metric, &v.Status, &progress, &v.Error, &v.JobID,
		&labels, &v.PackageSHA256, &v.ReportSHA256, &metrics, &created, &updated); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		src string
		dst any
	}{{progress, &v.Progress}, {labels, &v.Labels}, {metrics, &v.Metrics}} {
		if f.src == "" {
			continue
		}
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("version %s/%d: stored JSON: %w", v.ModelID, v.Number, err)
		}
	}
	v.CreatedAt, v.UpdatedAt = fromMS(created), fromMS(updated)
	return &v, nil
}

func (s *sqlStore) Version(ctx context.Context, modelID string, number int) (*Version, error) {
	v, err := scanVersion(s.rdb().row(ctx, "SELECT "+versionCols+" FROM versions WHERE model_id = ? AND number = ?", modelID, number))
	return v, one(err, "version", fmt.Sprintf("%s/%d", modelID, number))
}

func (s *sqlStore) Versions(ctx context.Context, modelID string) ([]Version, error) {
	rows, err := s.rdb().query(ctx, "SELECT "+versionCols+" FROM versions WHERE model_id = ? ORDER BY number", modelID)
	if err != nil {
		return nil, fmt.Errorf("store: versions of model %s: %w", modelID, err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("store: versions of model %s: %w", modelID, err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		// Tell "no versions yet" from "no such model".
		var id string
		if err := s.rdb().row(ctx, "SELECT id FROM models WHERE id = ?", modelID).Scan(&id); errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("model", modelID)
		}
	}
	return out, nil
}
