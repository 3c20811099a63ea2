package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
)

// The job queue. A job is leased when state is leased and lease_expires is
// in the future; an expired lease is only noticed by the next Lease (which
// re-queues, fails or cancels the job) or refused by Heartbeat, Complete and
// Fail. Attempts counts the leases a job has used up: Lease adds one and
// ReleaseWorker gives it back.

const jobCols = "id, model_id, version, spec, state, lease_id, lease_expires, worker_id, attempts, cancel_requested, created_at"

func scanJob(sc interface{ Scan(...any) error }) (*Job, error) {
	var j Job
	var spec string
	var expires, created int64
	if err := sc.Scan(&j.ID, &j.ModelID, &j.Version, &spec, &j.State, &j.LeaseID, &expires, &j.WorkerID,
		&j.Attempts, &j.CancelRequested, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(spec), &j.Spec); err != nil {
		return nil, fmt.Errorf("job %s: stored spec: %w", j.ID, err)
	}
	j.LeaseExpires, j.CreatedAt = fromMS(expires), fromMS(created)
	return &j, nil
}

func (s *sqlStore) Job(ctx context.Context, id string) (*Job, error) {
	j, err := scanJob(s.rdb().row(ctx, "SELECT "+jobCols+" FROM jobs WHERE id = ?", id))
	return j, one(err, "job", id)
}

func (s *sqlStore) Lease(ctx context.Context, workerID string, ttl time.Duration, maxAttempts int) (*Job, error) {
	switch {
	case workerID == "" || len(workerID) > 128:
		return nil, fmt.Errorf("store: worker id %q must be 1–128 bytes", workerID)
	case ttl < time.Millisecond:
		return nil, fmt.Errorf("store: lease ttl %v is too short", ttl)
	case maxAttempts < 1:
		return nil, fmt.Errorf("store: maxAttempts %d, need at least 1", maxAttempts)
	}
	var leased *Job
	err := s.tx(ctx, func(c conn) error {
		leased = nil
		now := s.now()
		for {
			j, err := scanJob(c.row(ctx, "SELECT "+jobCols+` FROM jobs
				WHERE state = ? OR (state = ? AND lease_expires <= ?)
				ORDER BY created_at, id LIMIT 1`+s.d.skipLocked(), JobQueued, JobLeased, ms(now)))
			if err := one(err, "job", "(queue)"); err != nil {
				if isNotFound(err) {
					return nil
				}
				return err
			}
			if j.State == JobLeased { // its lease expired
				switch {
				case j.CancelRequested:
					if err := s.endJob(ctx, c, j, JobCancelled, VersionStopped, ""); err != nil {
						return err
					}
					continue
				case j.Attempts >= maxAttempts:
					msg := fmt.Sprintf("training stopped answering: the job's lease expired %d times", j.Attempts)
					if err := s.endJob(ctx, c, j, JobFailed, VersionFailed, msg); err != nil {
						return err
					}
					continue
				}
			}
			j.State, j.LeaseID, j.WorkerID = JobLeased, newID("ls"), workerID
			j.LeaseExpires, j.Attempts = fromMS(ms(now.Add(ttl))), j.Attempts+1
			if _, err := c.exec(ctx, `UPDATE jobs SET state = ?, lease_id = ?, lease_expires = ?, worker_id = ?,
				attempts = ?, updated_at = ? WHERE id = ?`,
				j.State, j.LeaseID, ms(j.LeaseExpires), workerID, j.Attempts, ms(now), j.ID); err != nil {
				return fmt.Errorf("store: lease job %s: %w", j.ID, err)
			}
			if _, err := c.exec(ctx, "UPDATE versions SET status = ?, error = '', updated_at = ? WHERE model_id = ? AND number = ?",
				VersionTraining, ms(now), j.ModelID, j.Version); err != nil {
				return fmt.Errorf("store: lease job %s: version: %w", j.ID, err)
			}
			leased = j
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	return leased, nil
}

// endJob ends a job in state and its version in status (with msg as its
// error), inside a transaction.
func (s *sqlStore) endJob(ctx context.Context, c conn, j *Job, state, status, msg string) error {
	now := s.nowMS()
	if _, err := c.exec(ctx, "UPDATE jobs SET state = ?, updated_at = ? WHERE id = ?", state, now, j.ID); err != nil {
		return fmt.Errorf("store: end job %s %s: %w", j.ID, state, err)
	}
	if _, err := c.exec(ctx, "UPDATE versions SET status = ?, error = ?, updated_at = ? WHERE model_id = ? AND number = ?",
		status, msg, now, j.ModelID, j.Version); err != nil {
		return fmt.Errorf("store: end job %s: version %s: %w", j.ID, status, err)
	}
	j.State = state
	return nil
}

// heldJob reads a job for update and checks leaseID holds it now.
func (s *sqlStore) heldJob(ctx context.Context, c conn, jobID, leaseID string) (*Job, error) {
	j, err := scanJob(c.row(ctx, "SELECT "+jobCols+" FROM jobs WHERE id = ?"+s.d.forUpdate(), jobID))
	if err := one(err, "job", jobID); err != nil {
		return nil, err
	}
	if err := s.holds(j, leaseID); err != nil {
		return nil, err
	}
	return j, nil
}

func (s *sqlStore) holds(j *Job, leaseID string) error {
	switch {
	case j.State != JobLeased:
		return fmt.Errorf("store: job %s is %s: %w", j.ID, j.State, ErrLeaseLost)
	case leaseID == "" || j.LeaseID != leaseID:
		return fmt.Errorf("store: job %s is leased to another worker now: %w", j.ID, ErrLeaseLost)
	case !s.now().Before(j.LeaseExpires):
		return fmt.Errorf("store: job %s: lease expired at %s: %w", j.ID, j.LeaseExpires.Format(time.RFC3339), ErrLeaseLost)
	}
	return nil
}

func (s *sqlStore) CheckLease(ctx context.Context, jobID, leaseID string) (*Job, error) {
	j, err := s.Job(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if err := s.holds(j, leaseID); err != nil {
		return nil, err
	}
	return j, nil
}

func (s *sqlStore) LeasedImage(ctx context.Context, jobID, leaseID, imageID string) (string, error) {
	var (
		state, lease string
		expires      int64
	)
	err := s.rdb().row(ctx, "SELECT state, lease_id, lease_expires FROM jobs WHERE id = ?", jobID).Scan(&state, &lease, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: job %s does not exist: %w", jobID, ErrLeaseLost)
	}
	if err := one(err, "job", jobID); err != nil {
		return "", err
	}
	if err := s.holds(&Job{ID: jobID, State: state, LeaseID: lease, LeaseExpires: fromMS(expires)}, leaseID); err != nil {
		return "", err
	}
	var sha string
	err = s.rdb().row(ctx, `SELECT i.sha256 FROM job_images ji JOIN images i ON i.id = ji.image_id
		WHERE ji.job_id = ? AND ji.image_id = ?`, jobID, imageID).Scan(&sha)
	return sha, one(err, "image of job "+jobID, imageID)
}

func (s *sqlStore) Heartbeat(ctx context.Context, jobID, leaseID string, p jobs.Progress, ttl time.Duration) (time.Time, bool, error) {
	if ttl < time.Millisecond {
		return time.Time{}, false, fmt.Errorf("store: lease ttl %v is too short", ttl)
	}
	if p.Percent < 0 || p.Percent > 100 || p.ETASeconds < 0 || len(p.Stage) > 64 || len(p.Message) > 4096 {
		return time.Time{}, false, fmt.Errorf("store: job %s: progress out of range (percent 0–100, eta ≥ 0, stage ≤ 64 bytes, message ≤ 4096)", jobID)
	}
	var (
		expires time.Time
		cancel  bool
	)
	err := s.tx(ctx, func(c conn) error {
		j, err := s.heldJob(ctx, c, jobID, leaseID)
		if err != nil {
			return err
		}
		if j.CancelRequested {
			cancel = true
			return s.endJob(ctx, c, j, JobCancelled, VersionStopped, "")
		}
		now := s.now()
		expires = fromMS(ms(now.Add(ttl)))
		if _, err := c.exec(ctx, "UPDATE jobs SET lease_expires = ?, updated_at = ? WHERE id = ?", ms(expires), ms(now), jobID); err != nil {
			return fmt.Errorf("store: heartbeat job %s: %w", jobID, err)
		}
		prog, _ := json.Marshal(p)
		if _, err := c.exec(ctx, "UPDATE versions SET status = ?, progress = ?, updated_at = ? WHERE model_id = ? AND number = ?",
			VersionTraining, string(prog), ms(now), j.ModelID, j.Version); err != nil {
			return fmt.Errorf("store: heartbeat job %s: progress: %w", jobID, err)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, false, err
	}
	return expires, cancel, nil
}

// CompleteJob: a job its user asked to stop ends stopped even when its
// result arrives before the next heartbeat could say so (ErrLeaseLost then).
func (s *sqlStore) CompleteJob(ctx context.Context, jobID, leaseID, packageSHA, reportSHA string, metrics map[string]float64) error {
	if err := checkHash("package sha256", packageSHA); err != nil {
		return err
	}
	if err := checkHash("report sha256", reportSHA); err != nil {
		return err
	}
	m, err := json.Marshal(metrics)
	if err != nil {
		return fmt.Errorf("store: job %s metrics: %w", jobID, err) // NaN or ±Inf
	}
	var stopped error
	err = s.tx(ctx, func(c conn) error {
		j, err := s.heldJob(ctx, c, jobID, leaseID)
		if err != nil {
			return err
		}
		if stopped, err = s.endIfCancelled(ctx, c, j); stopped != nil || err != nil {
			return err
		}
		if err := s.endJob(ctx, c, j, JobDone, VersionSucceeded, ""); err != nil {
			return err
		}
		_, err = c.exec(ctx, "UPDATE versions SET package_sha256 = ?, report_sha256 = ?, metrics = ? WHERE model_id = ? AND number = ?",
			packageSHA, reportSHA, string(m), j.ModelID, j.Version)
		return err
	})
	if err != nil {
		return err
	}
	return stopped
}

func (s *sqlStore) FailJob(ctx context.Context, jobID, leaseID, msg string) error {
	if msg == "" {
		msg = "training failed (the trainer gave no reason)"
	}
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	var stopped error
	err := s.tx(ctx, func(c conn) error {
		j, err := s.heldJob(ctx, c, jobID, leaseID)
		if err != nil {
			return err
		}
		if stopped, err = s.endIfCancelled(ctx, c, j); stopped != nil || err != nil {
			return err
		}
		return s.endJob(ctx, c, j, JobFailed, VersionFailed, msg)
	})
	if err != nil {
		return err
	}
	return stopped
}

// endIfCancelled ends a job its user asked to stop (cancelled, version
// stopped) and returns the ErrLeaseLost to give its worker once the
// transaction committed; nil, nil when no stop was asked.
func (s *sqlStore) endIfCancelled(ctx context.Context, c conn, j *Job) (stopped, err error) {
	if !j.CancelRequested {
		return nil, nil
	}
	if err := s.endJob(ctx, c, j, JobCancelled, VersionStopped, ""); err != nil {
		return nil, err
	}
	return fmt.Errorf("store: job %s was stopped by its user: %w", j.ID, ErrLeaseLost), nil
}

func (s *sqlStore) StopVersion(ctx context.Context, modelID string, number int) error {
	return s.tx(ctx, func(c conn) error {
		j, err := scanJob(c.row(ctx, "SELECT "+jobCols+" FROM jobs WHERE model_id = ? AND version = ?"+s.d.forUpdate(), modelID, number))
		if err := one(err, "version", fmt.Sprintf("%s/%d", modelID, number)); err != nil {
			return err
		}
		switch {
		case j.State == JobQueued || j.State == JobLeased && !s.now().Before(j.LeaseExpires):
			return s.endJob(ctx, c, j, JobCancelled, VersionStopped, "")
		case j.State == JobLeased:
			now := s.nowMS()
			if _, err := c.exec(ctx, "UPDATE jobs SET cancel_requested = TRUE, updated_at = ? WHERE id = ?", now, j.ID); err != nil {
				return fmt.Errorf("store: stop job %s: %w", j.ID, err)
			}
			// stopping until the trainer's next heartbeat (or the lease's
			// end) acknowledges it and the job ends stopped
			_, err := c.exec(ctx, "UPDATE versions SET status = ?, updated_at = ? WHERE model_id = ? AND number = ?",
				VersionStopping, now, j.ModelID, j.Version)
			return err
		}
		return fmt.Errorf("store: version %s/%d is not training (its job is %s): %w", modelID, number, j.State, ErrConflict)
	})
}

func (s *sqlStore) EndExpiredStops(ctx context.Context) (int, error) {
	n := 0
	err := s.tx(ctx, func(c conn) error {
		n = 0
		rows, err := c.query(ctx, "SELECT "+jobCols+" FROM jobs WHERE state = ? AND cancel_requested AND lease_expires <= ?"+s.d.forUpdate(),
			JobLeased, s.nowMS())
		if err != nil {
			return fmt.Errorf("store: expired stops: %w", err)
		}
		var stale []*Job
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("store: expired stops: %w", err)
			}
			stale = append(stale, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: expired stops: %w", err)
		}
		for _, j := range stale {
			if err := s.endJob(ctx, c, j, JobCancelled, VersionStopped, ""); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func (s *sqlStore) ReleaseWorker(ctx context.Context, workerID string) error {
	return s.tx(ctx, func(c conn) error {
		rows, err := c.query(ctx, "SELECT "+jobCols+" FROM jobs WHERE state = ? AND worker_id = ?"+s.d.forUpdate(), JobLeased, workerID)
		if err != nil {
			return fmt.Errorf("store: release worker %s: %w", workerID, err)
		}
		var held []*Job
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("store: release worker %s: %w", workerID, err)
			}
			held = append(held, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := s.nowMS()
		for _, j := range held {
			if j.CancelRequested {
				if err := s.endJob(ctx, c, j, JobCancelled, VersionStopped, ""); err != nil {
					return err
				}
				continue
			}
			if _, err := c.exec(ctx, `UPDATE jobs SET state = ?, lease_id = '', lease_expires = 0, worker_id = '',
				attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = ? WHERE id = ?`, JobQueued, now, j.ID); err != nil {
				return fmt.Errorf("store: release job %s: %w", j.ID, err)
			}
			if _, err := c.exec(ctx, "UPDATE versions SET status = ?, updated_at = ? WHERE model_id = ? AND number = ?",
				VersionQueued, now, j.ModelID, j.Version); err != nil {
				return fmt.Errorf("store: release job %s: version: %w", j.ID, err)
			}
		}
		return nil
	})
}
