-- 001: the first schema. Types are chosen to mean the same in SQLite and
-- PostgreSQL: TEXT, BIGINT (Unix milliseconds, 0 = unset), INTEGER, BOOLEAN,
-- and TEXT holding JSON. Statements end with ";" at the end of a line.

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	admin         BOOLEAN NOT NULL DEFAULT FALSE,
	created_at    BIGINT NOT NULL
);

CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name       TEXT NOT NULL DEFAULT '',
	hash       TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL DEFAULT 0,
	last_used  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tokens_user ON tokens (user_id, kind);

CREATE TABLE datasets (
	id         TEXT PRIMARY KEY,
	owner_id   TEXT NOT NULL,
	name       TEXT NOT NULL,
	status     TEXT NOT NULL,
	error      TEXT NOT NULL DEFAULT '',
	revision   INTEGER NOT NULL DEFAULT 0,
	report     TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX datasets_owner ON datasets (owner_id, created_at);

-- An image is live while deleted_rev is 0; added_rev and deleted_rev are the
-- dataset revisions that added and removed it.
CREATE TABLE images (
	id          TEXT PRIMARY KEY,
	dataset_id  TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
	label       TEXT NOT NULL,
	sha256      TEXT NOT NULL,
	size        BIGINT NOT NULL,
	width       INTEGER NOT NULL,
	height      INTEGER NOT NULL,
	source      TEXT NOT NULL DEFAULT '',
	added_rev   INTEGER NOT NULL,
	deleted_rev INTEGER NOT NULL DEFAULT 0,
	created_at  BIGINT NOT NULL
);
CREATE INDEX images_list ON images (dataset_id, deleted_rev, label, created_at, id);
CREATE UNIQUE INDEX images_live ON images (dataset_id, label, sha256) WHERE deleted_rev = 0;

CREATE TABLE imports (
	id         TEXT PRIMARY KEY,
	dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
	kind       TEXT NOT NULL,
	path       TEXT NOT NULL,
	label      TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);

CREATE TABLE models (
	id          TEXT PRIMARY KEY,
	owner_id    TEXT NOT NULL,
	name        TEXT NOT NULL,
	contact     TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL
);
CREATE INDEX models_owner ON models (owner_id, created_at);

CREATE TABLE versions (
	model_id       TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
	number         INTEGER NOT NULL,
	app_type       TEXT NOT NULL,
	metric         TEXT NOT NULL,
	status         TEXT NOT NULL,
	progress       TEXT NOT NULL DEFAULT '',
	error          TEXT NOT NULL DEFAULT '',
	job_id         TEXT NOT NULL DEFAULT '',
	labels         TEXT NOT NULL DEFAULT '',
	package_sha256 TEXT NOT NULL DEFAULT '',
	report_sha256  TEXT NOT NULL DEFAULT '',
	metrics        TEXT NOT NULL DEFAULT '',
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL,
	PRIMARY KEY (model_id, number)
);

CREATE TABLE jobs (
	id               TEXT PRIMARY KEY,
	model_id         TEXT NOT NULL,
	version          INTEGER NOT NULL,
	spec             TEXT NOT NULL,
	state            TEXT NOT NULL,
	lease_id         TEXT NOT NULL DEFAULT '',
	lease_expires    BIGINT NOT NULL DEFAULT 0,
	worker_id        TEXT NOT NULL DEFAULT '',
	attempts         INTEGER NOT NULL DEFAULT 0,
	cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL,
	FOREIGN KEY (model_id, version) REFERENCES versions (model_id, number) ON DELETE CASCADE
);
CREATE INDEX jobs_queue ON jobs (state, created_at, id);
CREATE INDEX jobs_version ON jobs (model_id, version);

-- The images a job's frozen spec uses, so DeleteDataset can tell cheaply
-- whether a queued or leased job still needs them. No foreign key to images:
-- the rows outlive a deleted dataset once the job ended.
CREATE TABLE job_images (
	job_id   TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	image_id TEXT NOT NULL,
	PRIMARY KEY (job_id, image_id)
);
CREATE INDEX job_images_image ON job_images (image_id);

CREATE TABLE services (
	id         TEXT PRIMARY KEY,
	owner_id   TEXT NOT NULL,
	name       TEXT NOT NULL,
	path       TEXT NOT NULL UNIQUE,
	model_id   TEXT NOT NULL,
	version    INTEGER NOT NULL,
	online     BOOLEAN NOT NULL DEFAULT FALSE,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	FOREIGN KEY (model_id, version) REFERENCES versions (model_id, number)
);
CREATE INDEX services_model ON services (model_id, version);

CREATE TABLE sdks (
	model_id   TEXT NOT NULL,
	version    INTEGER NOT NULL,
	platform   TEXT NOT NULL,
	status     TEXT NOT NULL,
	error      TEXT NOT NULL DEFAULT '',
	sha256     TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (model_id, version, platform),
	FOREIGN KEY (model_id, version) REFERENCES versions (model_id, number) ON DELETE CASCADE
);

CREATE TABLE enrollment_tokens (
	id         TEXT PRIMARY KEY,
	hash       TEXT NOT NULL UNIQUE,
	group_name TEXT NOT NULL,
	uses_left  INTEGER NOT NULL,
	expires_at BIGINT NOT NULL DEFAULT 0,
	created_by TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);

CREATE TABLE devices (
	id                 TEXT PRIMARY KEY,
	name               TEXT NOT NULL DEFAULT '',
	group_name         TEXT NOT NULL,
	os                 TEXT NOT NULL DEFAULT '',
	arch               TEXT NOT NULL DEFAULT '',
	agent_version      TEXT NOT NULL DEFAULT '',
	mqtt_password_hash TEXT NOT NULL,
	enrolled_at        BIGINT NOT NULL,
	online             BOOLEAN NOT NULL DEFAULT FALSE,
	last_seen          BIGINT NOT NULL DEFAULT 0,
	reported           TEXT NOT NULL DEFAULT '',
	desired_model_id   TEXT NOT NULL DEFAULT '',
	desired_version    INTEGER NOT NULL DEFAULT 0,
	desired_id         TEXT NOT NULL DEFAULT '',
	desired            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX devices_group ON devices (group_name, id);
