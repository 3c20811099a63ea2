-- Rollouts of a model version to a device group, in waves (a canary is
-- wave 0), driven by one replica at a time (lease_owner until
-- lease_expires). Each device's progress is a row of rollout_devices,
-- found again from its events by the desired state's id.
CREATE TABLE rollouts (
	id              TEXT PRIMARY KEY,
	model_id        TEXT NOT NULL,
	version         INTEGER NOT NULL,
	group_name      TEXT NOT NULL,
	strategy        TEXT NOT NULL,
	status          TEXT NOT NULL,
	error           TEXT NOT NULL DEFAULT '',
	wave            INTEGER NOT NULL DEFAULT 0,
	waves           INTEGER NOT NULL,
	wave_done_at    BIGINT NOT NULL DEFAULT 0,
	created_by      TEXT NOT NULL DEFAULT '',
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	lease_owner     TEXT NOT NULL DEFAULT '',
	lease_expires   BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE rollout_devices (
	rollout_id      TEXT NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	device_id       TEXT NOT NULL,
	wave            INTEGER NOT NULL,
	state           TEXT NOT NULL,
	reason          TEXT NOT NULL DEFAULT '',
	percent         DOUBLE PRECISION NOT NULL DEFAULT 0,
	desired_id      TEXT NOT NULL DEFAULT '',
	prev_model_id   TEXT NOT NULL DEFAULT '',
	prev_version    INTEGER NOT NULL DEFAULT 0,
	started_at      BIGINT NOT NULL DEFAULT 0,
	updated_at      BIGINT NOT NULL,
	PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX rollout_devices_desired ON rollout_devices (device_id, desired_id);
