package store

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// servicePath is one or more segments of letters, digits, '.', '_' and
// '-', separated by '/': the part after /api/v1/infer/.
var servicePath = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$`)

func checkServicePath(p string) error {
	if len(p) > 128 || !servicePath.MatchString(p) || strings.Contains(p, "..") {
		return fmt.Errorf("store: service path %q: use up to 128 letters, digits, '.', '_', '-' and '/' between parts, starting each part with a letter or digit", p)
	}
	return nil
}

const serviceCols = "id, owner_id, name, path, model_id, version, online, notes, created_at, updated_at"

func scanService(sc interface{ Scan(...any) error }) (*Service, error) {
	var v Service
	var created, updated int64
	if err := sc.Scan(&v.ID, &v.OwnerID, &v.Name, &v.Path, &v.ModelID, &v.Version, &v.Online, &v.Notes, &created, &updated); err != nil {
		return nil, err
	}
	v.CreatedAt, v.UpdatedAt = fromMS(created), fromMS(updated)
	return &v, nil
}

func (s *sqlStore) CreateService(ctx context.Context, v *Service) error {
	if err := checkName("service name", v.Name); err != nil {
		return err
	}
	if err := checkServicePath(v.Path); err != nil {
		return err
	}
	if v.OwnerID == "" {
		return fmt.Errorf("store: service %q has no owner", v.Name)
	}
	if err := checkNotes(v.Notes); err != nil {
		return err
	}
	id, now := newID("svc"), ms(s.now())
	_, err := s.rdb().exec(ctx, "INSERT INTO services ("+serviceCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		id, v.OwnerID, v.Name, v.Path, v.ModelID, v.Version, v.Online, v.Notes, now, now)
	switch {
	case isUnique(err):
		return fmt.Errorf("store: service path %q is taken: %w", v.Path, ErrConflict)
	case isForeignKey(err):
		return notFound("version", fmt.Sprintf("%s/%d", v.ModelID, v.Version))
	case err != nil:
		return fmt.Errorf("store: create service %q: %w", v.Name, err)
	}
	v.ID, v.CreatedAt, v.UpdatedAt = id, fromMS(now), fromMS(now)
	return nil
}

func (s *sqlStore) Service(ctx context.Context, id string) (*Service, error) {
	v, err := scanService(s.rdb().row(ctx, "SELECT "+serviceCols+" FROM services WHERE id = ?", id))
	return v, one(err, "service", id)
}

func (s *sqlStore) ServiceByPath(ctx context.Context, path string) (*Service, error) {
	v, err := scanService(s.rdb().row(ctx, "SELECT "+serviceCols+" FROM services WHERE path = ?", path))
	return v, one(err, "service path", path)
}

func (s *sqlStore) Services(ctx context.Context, ownerID string) ([]Service, error) {
	rows, err := s.rdb().query(ctx, "SELECT "+serviceCols+" FROM services WHERE ? = '' OR owner_id = ? ORDER BY created_at, id", ownerID, ownerID)
	if err != nil {
		return nil, fmt.Errorf("store: list services: %w", err)
	}
	defer rows.Close()
	var out []Service
	for rows.Next() {
		v, err := scanService(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list services: %w", err)
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

func (s *sqlStore) UpdateService(ctx context.Context, v *Service) error {
	now := ms(s.now())
	n, err := s.rdb().execN(ctx, "UPDATE services SET online = ?, model_id = ?, version = ?, updated_at = ? WHERE id = ?",
		v.Online, v.ModelID, v.Version, now, v.ID)
	switch {
	case isForeignKey(err):
		return notFound("version", fmt.Sprintf("%s/%d", v.ModelID, v.Version))
	case err != nil:
		return fmt.Errorf("store: update service %s: %w", v.ID, err)
	case n == 0:
		return notFound("service", v.ID)
	}
	v.UpdatedAt = fromMS(now)
	return nil
}

// DeleteService removes the service and its usage minutes.
func (s *sqlStore) DeleteService(ctx context.Context, id string) error {
	return s.tx(ctx, func(c conn) error {
		n, err := c.execN(ctx, "DELETE FROM services WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("store: delete service %s: %w", id, err)
		}
		if n == 0 {
			return notFound("service", id)
		}
		if _, err := c.exec(ctx, "DELETE FROM service_usage WHERE service_id = ?", id); err != nil {
			return fmt.Errorf("store: delete service %s: usage: %w", id, err)
		}
		return nil
	})
}

// MaxNotes is how many characters notes (其他要求) may have.
const MaxNotes = 2000

// ValidNotes reports whether notes are at most MaxNotes characters of
// UTF-8 text: no control characters but line breaks and tabs (PostgreSQL
// refuses a NUL in TEXT; SQLite would store it).
func ValidNotes(notes string) bool {
	if !utf8.ValidString(notes) || utf8.RuneCountInString(notes) > MaxNotes {
		return false
	}
	return !strings.ContainsFunc(notes, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
	})
}

func checkNotes(notes string) error {
	if !ValidNotes(notes) {
		return fmt.Errorf("store: notes must be at most %d characters of text (no control characters but line breaks and tabs)", MaxNotes)
	}
	return nil
}

// SDKPlatforms are the platforms an SDK build may be for: those of
// controlplane/sdk (its tests check the two lists agree).
var SDKPlatforms = []string{"linux-amd64", "linux-amd64-gpu", "windows-amd64", "linux-arm64"}

const sdkCols = "model_id, version, platform, status, error, sha256, notes, created_at, updated_at"

func scanSDK(sc interface{ Scan(...any) error }) (*SDKRequest, error) {
	var r SDKRequest
	var created, updated int64
	if err := sc.Scan(&r.ModelID, &r.Version, &r.Platform, &r.Status, &r.Error, &r.SHA256, &r.Notes, &created, &updated); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = fromMS(created), fromMS(updated)
	return &r, nil
}

// PutSDK inserts or replaces the row; a replaced row keeps its CreatedAt.
func (s *sqlStore) PutSDK(ctx context.Context, r *SDKRequest) error {
	if !slices.Contains(SDKPlatforms, r.Platform) {
		return fmt.Errorf("store: unknown SDK platform %q (want one of %v)", r.Platform, SDKPlatforms)
	}
	if err := checkNotes(r.Notes); err != nil {
		return err
	}
	switch r.Status {
	case SDKBuilding, SDKReady, SDKFailed:
	default:
		return fmt.Errorf("store: unknown SDK status %q (want %s, %s or %s)", r.Status, SDKBuilding, SDKReady, SDKFailed)
	}
	if r.SHA256 != "" {
		if err := checkHash("SDK sha256", r.SHA256); err != nil {
			return err
		}
	}
	now := ms(s.now())
	_, err := s.rdb().exec(ctx, "INSERT INTO sdks ("+sdkCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (model_id, version, platform) DO UPDATE SET
		status = excluded.status, error = excluded.error, sha256 = excluded.sha256, updated_at = excluded.updated_at,
		notes = CASE WHEN excluded.status = ? THEN excluded.notes ELSE sdks.notes END`,
		r.ModelID, r.Version, r.Platform, r.Status, r.Error, r.SHA256, r.Notes, now, now, SDKBuilding)
	switch {
	case isForeignKey(err):
		return notFound("version", fmt.Sprintf("%s/%d", r.ModelID, r.Version))
	case err != nil:
		return fmt.Errorf("store: SDK %s/%d %s: %w", r.ModelID, r.Version, r.Platform, err)
	}
	got, err := s.SDK(ctx, r.ModelID, r.Version, r.Platform)
	if err != nil {
		return err
	}
	r.CreatedAt, r.UpdatedAt = got.CreatedAt, got.UpdatedAt
	return nil
}

func (s *sqlStore) SDK(ctx context.Context, modelID string, version int, platform string) (*SDKRequest, error) {
	r, err := scanSDK(s.rdb().row(ctx, "SELECT "+sdkCols+" FROM sdks WHERE model_id = ? AND version = ? AND platform = ?", modelID, version, platform))
	return r, one(err, "SDK", fmt.Sprintf("%s/%d %s", modelID, version, platform))
}

func (s *sqlStore) SDKs(ctx context.Context, modelID string, version int) ([]SDKRequest, error) {
	rows, err := s.rdb().query(ctx, "SELECT "+sdkCols+" FROM sdks WHERE model_id = ? AND version = ? ORDER BY platform", modelID, version)
	if err != nil {
		return nil, fmt.Errorf("store: SDKs of %s/%d: %w", modelID, version, err)
	}
	defer rows.Close()
	var out []SDKRequest
	for rows.Next() {
		r, err := scanSDK(rows)
		if err != nil {
			return nil, fmt.Errorf("store: SDKs of %s/%d: %w", modelID, version, err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}
