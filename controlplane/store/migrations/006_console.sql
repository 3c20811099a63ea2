-- 006: what the console shows beside the lists. 其他要求 (notes) of a
-- cloud service and of an SDK request; and a service's calls per minute,
-- one row per (service, minute_start in Unix ms) that every replica adds
-- its counts into (INSERT … ON CONFLICT DO UPDATE), so the rows are the
-- sum over replicas. Latencies are counted in fixed buckets b0 … b11
-- (infer.UsageBucketsMS: upper bounds in ms; b11 is everything slower) so
-- percentiles survive the sum.
ALTER TABLE services ADD COLUMN notes TEXT NOT NULL DEFAULT '';
ALTER TABLE sdks ADD COLUMN notes TEXT NOT NULL DEFAULT '';
CREATE TABLE service_usage (
	service_id    TEXT NOT NULL,
	minute_start  BIGINT NOT NULL,
	calls         BIGINT NOT NULL DEFAULT 0,
	client_errors BIGINT NOT NULL DEFAULT 0,
	server_errors BIGINT NOT NULL DEFAULT 0,
	busy_errors   BIGINT NOT NULL DEFAULT 0,
	b0  BIGINT NOT NULL DEFAULT 0,
	b1  BIGINT NOT NULL DEFAULT 0,
	b2  BIGINT NOT NULL DEFAULT 0,
	b3  BIGINT NOT NULL DEFAULT 0,
	b4  BIGINT NOT NULL DEFAULT 0,
	b5  BIGINT NOT NULL DEFAULT 0,
	b6  BIGINT NOT NULL DEFAULT 0,
	b7  BIGINT NOT NULL DEFAULT 0,
	b8  BIGINT NOT NULL DEFAULT 0,
	b9  BIGINT NOT NULL DEFAULT 0,
	b10 BIGINT NOT NULL DEFAULT 0,
	b11 BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (service_id, minute_start)
);
CREATE INDEX service_usage_minute ON service_usage (minute_start);
