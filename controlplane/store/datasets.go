package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

const datasetCols = "id, owner_id, name, status, error, revision, report, created_at, updated_at"

func scanDataset(sc interface{ Scan(...any) error }) (*Dataset, error) {
	var d Dataset
	var report string
	var created, updated int64
	if err := sc.Scan(&d.ID, &d.OwnerID, &d.Name, &d.Status, &d.Error, &d.Revision, &report, &created, &updated); err != nil {
		return nil, err
	}
	d.Report = rawJSON(report)
	d.CreatedAt, d.UpdatedAt = fromMS(created), fromMS(updated)
	return &d, nil
}

func checkDatasetStatus(status string) error {
	switch status {
	case DatasetProcessing, DatasetReady, DatasetFailed:
		return nil
	}
	return fmt.Errorf("store: unknown dataset status %q (want %s, %s or %s)", status, DatasetProcessing, DatasetReady, DatasetFailed)
}

func checkJSON(what string, b json.RawMessage) error {
	if b != nil && !json.Valid(b) {
		return fmt.Errorf("store: %s is not valid JSON", what)
	}
	return nil
}

func (s *sqlStore) CreateDataset(ctx context.Context, d *Dataset) error {
	if d.Status == "" {
		d.Status = DatasetProcessing
	}
	if err := checkName("dataset name", d.Name); err != nil {
		return err
	}
	if d.OwnerID == "" {
		return fmt.Errorf("store: dataset %q has no owner", d.Name)
	}
	if err := checkDatasetStatus(d.Status); err != nil {
		return err
	}
	if err := checkJSON("import report", d.Report); err != nil {
		return err
	}
	id, now := newID("ds"), ms(s.now())
	if _, err := s.rdb().exec(ctx, "INSERT INTO datasets ("+datasetCols+") VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
		id, d.OwnerID, d.Name, d.Status, d.Error, textOf(d.Report), now, now); err != nil {
		return fmt.Errorf("store: create dataset %q: %w", d.Name, err)
	}
	d.ID, d.Revision, d.CreatedAt, d.UpdatedAt = id, 0, fromMS(now), fromMS(now)
	return nil
}

func (s *sqlStore) Dataset(ctx context.Context, id string) (*Dataset, error) {
	d, err := scanDataset(s.rdb().row(ctx, "SELECT "+datasetCols+" FROM datasets WHERE id = ?", id))
	return d, one(err, "dataset", id)
}

func (s *sqlStore) Datasets(ctx context.Context, ownerID string, p Page) ([]Dataset, int, error) {
	limit, offset := p.limits()
	c := s.rdb()
	var total int
	if err := c.row(ctx, "SELECT COUNT(*) FROM datasets WHERE ? = '' OR owner_id = ?", ownerID, ownerID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count datasets: %w", err)
	}
	rows, err := c.query(ctx, "SELECT "+datasetCols+` FROM datasets WHERE ? = '' OR owner_id = ?
		ORDER BY created_at DESC, id LIMIT ? OFFSET ?`, ownerID, ownerID, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list datasets: %w", err)
	}
	defer rows.Close()
	var out []Dataset
	for rows.Next() {
		d, err := scanDataset(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list datasets: %w", err)
		}
		out = append(out, *d)
	}
	return out, total, rows.Err()
}

func (s *sqlStore) RenameDataset(ctx context.Context, id, name string) error {
	if err := checkName("dataset name", name); err != nil {
		return err
	}
	n, err := s.rdb().execN(ctx, "UPDATE datasets SET name = ?, updated_at = ? WHERE id = ?", name, s.nowMS(), id)
	if err != nil {
		return fmt.Errorf("store: rename dataset %s: %w", id, err)
	}
	if n == 0 {
		return notFound("dataset", id)
	}
	return nil
}

// SetDatasetStatus stores the status and error; a nil report keeps the
// stored one.
func (s *sqlStore) SetDatasetStatus(ctx context.Context, id, status, errMsg string, report json.RawMessage) error {
	if err := checkDatasetStatus(status); err != nil {
		return err
	}
	if err := checkJSON("import report", report); err != nil {
		return err
	}
	q, args := "UPDATE datasets SET status = ?, error = ?, updated_at = ? WHERE id = ?", []any{status, errMsg, s.nowMS(), id}
	if report != nil {
		q, args = "UPDATE datasets SET status = ?, error = ?, updated_at = ?, report = ? WHERE id = ?",
			[]any{status, errMsg, s.nowMS(), textOf(report), id}
	}
	n, err := s.rdb().execN(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: set status of dataset %s: %w", id, err)
	}
	if n == 0 {
		return notFound("dataset", id)
	}
	return nil
}

func (s *sqlStore) DeleteDataset(ctx context.Context, id string) error {
	return s.tx(ctx, func(c conn) error {
		if _, err := s.lockDataset(ctx, c, id); err != nil {
			return err
		}
		var jobID string
		err := c.row(ctx, `SELECT j.id FROM images i
			JOIN job_images ji ON ji.image_id = i.id
			JOIN jobs j ON j.id = ji.job_id
			WHERE i.dataset_id = ? AND j.state IN (?, ?) LIMIT 1`, id, JobQueued, JobLeased).Scan(&jobID)
		switch {
		case err == nil:
			return fmt.Errorf("store: dataset %s is used by training job %s; stop it or wait for it to end: %w", id, jobID, ErrConflict)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: delete dataset %s: find jobs using it: %w", id, err)
		}
		for _, q := range []string{
			"DELETE FROM imports WHERE dataset_id = ?",
			"DELETE FROM images WHERE dataset_id = ?",
			"DELETE FROM datasets WHERE id = ?",
		} {
			if _, err := c.exec(ctx, q, id); err != nil {
				return fmt.Errorf("store: delete dataset %s: %w", id, err)
			}
		}
		return nil
	})
}

// lockDataset reads a dataset's revision inside a write transaction,
// locking its row on PostgreSQL so revision bumps never interleave.
func (s *sqlStore) lockDataset(ctx context.Context, c conn, id string) (int, error) {
	var rev int
	err := c.row(ctx, "SELECT revision FROM datasets WHERE id = ?"+s.d.forUpdate(), id).Scan(&rev)
	return rev, one(err, "dataset", id)
}

const imageCols = "id, dataset_id, label, sha256, size, width, height, source, deleted_rev, created_at"

func scanImage(sc interface{ Scan(...any) error }) (*Image, error) {
	var im Image
	var deletedRev int
	var created int64
	if err := sc.Scan(&im.ID, &im.DatasetID, &im.Label, &im.SHA256, &im.Size, &im.Width, &im.Height, &im.Source, &deletedRev, &created); err != nil {
		return nil, err
	}
	im.Deleted = deletedRev != 0
	im.CreatedAt = fromMS(created)
	return &im, nil
}

func checkImage(im *Image) error {
	what := fmt.Sprintf("image %q", im.Source)
	switch {
	case im.Label == "" || !utf8.ValidString(im.Label) || len(im.Label) > 255:
		return fmt.Errorf("store: %s: label %q must be 1–255 bytes of UTF-8", what, im.Label)
	case !hexSHA256.MatchString(im.SHA256):
		return fmt.Errorf("store: %s: sha256 %q is not lowercase hex", what, im.SHA256)
	case im.Size < 0 || im.Width < 0 || im.Height < 0:
		return fmt.Errorf("store: %s: negative size or dimensions", what)
	case len(im.Source) > 4096 || !utf8.ValidString(im.Source):
		return fmt.Errorf("store: %s: source must be at most 4096 bytes of UTF-8", what)
	}
	return nil
}

// AddImages inserts the images that are not live in the dataset yet (the
// partial unique index images_live decides) and bumps the revision once
// when at least one was added; nothing added changes nothing.
func (s *sqlStore) AddImages(ctx context.Context, datasetID string, ims []Image) ([]Image, error) {
	for i := range ims {
		if err := checkImage(&ims[i]); err != nil {
			return nil, err
		}
	}
	var added []Image
	err := s.tx(ctx, func(c conn) error {
		added = added[:0]
		rev, err := s.lockDataset(ctx, c, datasetID)
		if err != nil {
			return err
		}
		rev++
		now := ms(s.now())
		q := "INSERT INTO images (id, dataset_id, label, sha256, size, width, height, source, added_rev, deleted_rev, created_at) " +
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT DO NOTHING"
		for _, im := range ims {
			id := newID("img")
			n, err := c.execN(ctx, q, id, datasetID, im.Label, im.SHA256, im.Size, im.Width, im.Height, im.Source, rev, now)
			if err != nil {
				return fmt.Errorf("store: add image %q to dataset %s: %w", im.Source, datasetID, err)
			}
			if n == 0 {
				continue // (label, sha256) already live
			}
			im.ID, im.DatasetID, im.Deleted, im.CreatedAt = id, datasetID, false, fromMS(now)
			added = append(added, im)
		}
		if len(added) == 0 {
			return nil
		}
		_, err = c.exec(ctx, "UPDATE datasets SET revision = ?, updated_at = ? WHERE id = ?", rev, now, datasetID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

func (s *sqlStore) Images(ctx context.Context, datasetID, label string, p Page) ([]Image, int, error) {
	limit, offset := p.limits()
	c := s.rdb()
	where := " FROM images WHERE dataset_id = ? AND deleted_rev = 0 AND (? = '' OR label = ?)"
	var total int
	if err := c.row(ctx, "SELECT COUNT(*)"+where, datasetID, label, label).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count images of %s: %w", datasetID, err)
	}
	rows, err := c.query(ctx, "SELECT "+imageCols+where+" ORDER BY "+s.d.text("label")+", created_at, id LIMIT ? OFFSET ?",
		datasetID, label, label, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list images of %s: %w", datasetID, err)
	}
	defer rows.Close()
	var out []Image
	for rows.Next() {
		im, err := scanImage(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list images of %s: %w", datasetID, err)
		}
		out = append(out, *im)
	}
	return out, total, rows.Err()
}

func (s *sqlStore) Image(ctx context.Context, id string) (*Image, error) {
	im, err := scanImage(s.rdb().row(ctx, "SELECT "+imageCols+" FROM images WHERE id = ?", id))
	return im, one(err, "image", id)
}

// DeleteImage marks a live image deleted in a new revision; the row stays
// for the jobs that froze it. ErrNotFound when it is not live in datasetID.
func (s *sqlStore) DeleteImage(ctx context.Context, datasetID, imageID string) error {
	return s.tx(ctx, func(c conn) error {
		rev, err := s.lockDataset(ctx, c, datasetID)
		if err != nil {
			return err
		}
		rev++
		n, err := c.execN(ctx, "UPDATE images SET deleted_rev = ? WHERE id = ? AND dataset_id = ? AND deleted_rev = 0", rev, imageID, datasetID)
		if err != nil {
			return fmt.Errorf("store: delete image %s: %w", imageID, err)
		}
		if n == 0 {
			return notFound("image", imageID+" in dataset "+datasetID)
		}
		_, err = c.exec(ctx, "UPDATE datasets SET revision = ?, updated_at = ? WHERE id = ?", rev, s.nowMS(), datasetID)
		return err
	})
}

func (s *sqlStore) Labels(ctx context.Context, datasetID string) ([]LabelCount, error) {
	rows, err := s.rdb().query(ctx, "SELECT label, COUNT(*) FROM images WHERE dataset_id = ? AND deleted_rev = 0 GROUP BY label ORDER BY "+s.d.text("label"), datasetID)
	if err != nil {
		return nil, fmt.Errorf("store: labels of %s: %w", datasetID, err)
	}
	defer rows.Close()
	var out []LabelCount
	for rows.Next() {
		var l LabelCount
		if err := rows.Scan(&l.Name, &l.Count); err != nil {
			return nil, fmt.Errorf("store: labels of %s: %w", datasetID, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func (s *sqlStore) CreateImport(ctx context.Context, im *Import) error {
	switch {
	case im.Kind != "zip" && im.Kind != "images":
		return fmt.Errorf("store: import kind %q (want zip or images)", im.Kind)
	case im.Path == "":
		return fmt.Errorf("store: import for dataset %s has no file path", im.DatasetID)
	case im.Kind == "images" && im.Label == "":
		return fmt.Errorf("store: image import for dataset %s has no label", im.DatasetID)
	}
	id, now := newID("imp"), ms(s.now())
	_, err := s.rdb().exec(ctx, "INSERT INTO imports (id, dataset_id, kind, path, label, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		id, im.DatasetID, im.Kind, im.Path, im.Label, now)
	if isForeignKey(err) {
		return notFound("dataset", im.DatasetID)
	}
	if err != nil {
		return fmt.Errorf("store: create import for dataset %s: %w", im.DatasetID, err)
	}
	im.ID, im.CreatedAt = id, fromMS(now)
	return nil
}

func (s *sqlStore) Imports(ctx context.Context) ([]Import, error) {
	rows, err := s.rdb().query(ctx, "SELECT id, dataset_id, kind, path, label, created_at FROM imports ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("store: list imports: %w", err)
	}
	defer rows.Close()
	var out []Import
	for rows.Next() {
		var im Import
		var created int64
		if err := rows.Scan(&im.ID, &im.DatasetID, &im.Kind, &im.Path, &im.Label, &created); err != nil {
			return nil, fmt.Errorf("store: list imports: %w", err)
		}
		im.CreatedAt = fromMS(created)
		out = append(out, im)
	}
	return out, rows.Err()
}

func (s *sqlStore) DeleteImport(ctx context.Context, id string) error {
	n, err := s.rdb().execN(ctx, "DELETE FROM imports WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("store: delete import %s: %w", id, err)
	}
	if n == 0 {
		return notFound("import", id)
	}
	return nil
}
