package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// UsageBuckets is how many latency buckets a ServiceMinute has (columns
// b0 … b11 of service_usage).
const UsageBuckets = 12

// UsageRetention is how long AddUsage keeps minutes (PruneUsage drops older).
const UsageRetention = 30 * 24 * time.Hour

// ServiceMinute is one service's calls in one minute: counts, failures by
// class and a latency histogram in fixed buckets (infer.UsageBucketsMS).
type ServiceMinute struct {
	ServiceID string
	Start     time.Time // the minute's start
	Calls     int64
	Client    int64 // 4xx
	Server    int64 // 5xx but 503
	Busy      int64 // 429, 503
	Hist      [UsageBuckets]int64
}

var usageHist = func() string {
	b := make([]string, UsageBuckets)
	for i := range b {
		b[i] = fmt.Sprintf("b%d", i)
	}
	return strings.Join(b, ", ")
}()

// AddUsage adds minutes to what is stored: a minute another replica
// stored already gets these counts added to its own, in one statement, so
// replicas never overwrite each other.
func (s *sqlStore) AddUsage(ctx context.Context, minutes []ServiceMinute) error {
	if len(minutes) == 0 {
		return nil
	}
	set := []string{"calls = service_usage.calls + excluded.calls",
		"client_errors = service_usage.client_errors + excluded.client_errors",
		"server_errors = service_usage.server_errors + excluded.server_errors",
		"busy_errors = service_usage.busy_errors + excluded.busy_errors"}
	for i := range UsageBuckets {
		set = append(set, fmt.Sprintf("b%d = service_usage.b%d + excluded.b%d", i, i, i))
	}
	q := "INSERT INTO service_usage (service_id, minute_start, calls, client_errors, server_errors, busy_errors, " + usageHist +
		") VALUES (?, ?, ?, ?, ?, ?" + strings.Repeat(", ?", UsageBuckets) + ") ON CONFLICT (service_id, minute_start) DO UPDATE SET " +
		strings.Join(set, ", ")
	// One order for every writer: two replicas upserting overlapping rows
	// in different orders would deadlock on PostgreSQL's row locks.
	minutes = slices.Clone(minutes)
	slices.SortFunc(minutes, func(a, b ServiceMinute) int {
		return cmp.Or(strings.Compare(a.ServiceID, b.ServiceID), a.Start.Compare(b.Start))
	})
	return s.tx(ctx, func(c conn) error {
		for _, m := range minutes {
			if m.ServiceID == "" || m.Calls < 0 || m.Client < 0 || m.Server < 0 || m.Busy < 0 {
				return fmt.Errorf("store: usage of service %q: counts must be ≥ 0", m.ServiceID)
			}
			args := []any{m.ServiceID, ms(m.Start.Truncate(time.Minute)), m.Calls, m.Client, m.Server, m.Busy}
			for _, n := range m.Hist {
				args = append(args, n)
			}
			if _, err := c.exec(ctx, q, args...); err != nil {
				return fmt.Errorf("store: add usage of service %s: %w", m.ServiceID, err)
			}
		}
		return nil
	})
}

// Usage lists a service's stored minutes from since on, oldest first.
func (s *sqlStore) Usage(ctx context.Context, serviceID string, since time.Time) ([]ServiceMinute, error) {
	rows, err := s.rdb().query(ctx, "SELECT minute_start, calls, client_errors, server_errors, busy_errors, "+usageHist+
		" FROM service_usage WHERE service_id = ? AND minute_start >= ? ORDER BY minute_start", serviceID, ms(since))
	if err != nil {
		return nil, fmt.Errorf("store: usage of service %s: %w", serviceID, err)
	}
	defer rows.Close()
	var out []ServiceMinute
	for rows.Next() {
		m := ServiceMinute{ServiceID: serviceID}
		var start int64
		dest := []any{&start, &m.Calls, &m.Client, &m.Server, &m.Busy}
		for i := range m.Hist {
			dest = append(dest, &m.Hist[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("store: usage of service %s: %w", serviceID, err)
		}
		m.Start = fromMS(start)
		out = append(out, m)
	}
	return out, rows.Err()
}

// PruneUsage drops minutes older than before; it returns how many.
func (s *sqlStore) PruneUsage(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.rdb().execN(ctx, "DELETE FROM service_usage WHERE minute_start < ?", ms(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune usage: %w", err)
	}
	return n, nil
}
