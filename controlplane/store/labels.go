package store

import (
	"context"
	"fmt"
)

// Label changes. Images keep their ids and rows: a rename or move changes
// the label of live rows in place, a delete marks them deleted, and each
// change bumps the dataset's revision once. Jobs never read labels from
// these rows (a frozen spec carries each image's label), so versions
// trained or training keep what they saw.

func (s *sqlStore) MoveImage(ctx context.Context, datasetID, imageID, label string) (*Image, error) {
	if err := checkImage(&Image{Label: label, SHA256: zeroSHA}); err != nil {
		return nil, err
	}
	var out *Image
	err := s.tx(ctx, func(c conn) error {
		rev, err := s.lockDataset(ctx, c, datasetID)
		if err != nil {
			return err
		}
		im, err := scanImage(c.row(ctx, "SELECT "+imageCols+" FROM images WHERE id = ? AND dataset_id = ? AND deleted_rev = 0", imageID, datasetID))
		if err := one(err, "image", imageID+" in dataset "+datasetID); err != nil {
			return err
		}
		out = im
		if im.Label == label {
			return nil
		}
		_, err = c.exec(ctx, "UPDATE images SET label = ? WHERE id = ?", label, imageID)
		if isUnique(err) {
			return fmt.Errorf("store: label %q has this photo already (sha256 %s): %w", label, im.SHA256, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("store: move image %s: %w", imageID, err)
		}
		im.Label = label
		return s.bumpRevision(ctx, c, datasetID, rev+1)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *sqlStore) RenameLabel(ctx context.Context, datasetID, from, to string, merge bool) (moved, dropped int, err error) {
	if err := checkImage(&Image{Label: to, SHA256: zeroSHA}); err != nil {
		return 0, 0, err
	}
	err = s.tx(ctx, func(c conn) error {
		moved, dropped = 0, 0
		rev, err := s.lockDataset(ctx, c, datasetID)
		if err != nil {
			return err
		}
		have, err := s.liveCount(ctx, c, datasetID, from)
		if err != nil || have == 0 || from == to {
			return err
		}
		there, err := s.liveCount(ctx, c, datasetID, to)
		if err != nil {
			return err
		}
		if there > 0 && !merge {
			return fmt.Errorf("store: dataset %s has a label %q already (merge to move the images into it): %w", datasetID, to, ErrConflict)
		}
		rev++
		n, err := c.execN(ctx, `UPDATE images SET deleted_rev = ? WHERE dataset_id = ? AND label = ? AND deleted_rev = 0
			AND sha256 IN (SELECT sha256 FROM images WHERE dataset_id = ? AND label = ? AND deleted_rev = 0)`,
			rev, datasetID, from, datasetID, to)
		if err != nil {
			return fmt.Errorf("store: merge label %q into %q: %w", from, to, err)
		}
		m, err := c.execN(ctx, "UPDATE images SET label = ? WHERE dataset_id = ? AND label = ? AND deleted_rev = 0", to, datasetID, from)
		if err != nil {
			return fmt.Errorf("store: rename label %q to %q: %w", from, to, err)
		}
		moved, dropped = int(m), int(n)
		return s.bumpRevision(ctx, c, datasetID, rev)
	})
	if err == nil && moved+dropped == 0 && from != to {
		err = notFound("label", from+" in dataset "+datasetID)
	}
	return moved, dropped, err
}

func (s *sqlStore) DeleteLabel(ctx context.Context, datasetID, label string) (int, error) {
	var n int64
	err := s.tx(ctx, func(c conn) error {
		rev, err := s.lockDataset(ctx, c, datasetID)
		if err != nil {
			return err
		}
		rev++
		if n, err = c.execN(ctx, "UPDATE images SET deleted_rev = ? WHERE dataset_id = ? AND label = ? AND deleted_rev = 0", rev, datasetID, label); err != nil {
			return fmt.Errorf("store: delete label %q: %w", label, err)
		}
		if n == 0 {
			return notFound("label", label+" in dataset "+datasetID)
		}
		return s.bumpRevision(ctx, c, datasetID, rev)
	})
	return int(n), err
}

// liveCount is how many live images a label has.
func (s *sqlStore) liveCount(ctx context.Context, c conn, datasetID, label string) (int, error) {
	var n int
	err := c.row(ctx, "SELECT COUNT(*) FROM images WHERE dataset_id = ? AND label = ? AND deleted_rev = 0", datasetID, label).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count images of label %q: %w", label, err)
	}
	return n, nil
}

func (s *sqlStore) bumpRevision(ctx context.Context, c conn, datasetID string, rev int) error {
	_, err := c.exec(ctx, "UPDATE datasets SET revision = ?, updated_at = ? WHERE id = ?", rev, s.nowMS(), datasetID)
	return err
}

// zeroSHA stands in for an image's hash when only its label is checked.
const zeroSHA = "0000000000000000000000000000000000000000000000000000000000000000"
