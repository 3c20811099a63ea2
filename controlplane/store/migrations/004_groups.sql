-- Device groups as objects (a fleet manager creates them, enrolment
-- tokens name them); names may be in any script ("车间A"). The groups
-- devices and tokens already use are created here ("WHERE true": SQLite
-- needs a WHERE before ON CONFLICT in INSERT … SELECT).
CREATE TABLE device_groups (
	name        TEXT PRIMARY KEY,
	description TEXT NOT NULL DEFAULT '',
	created_at  BIGINT NOT NULL
);
INSERT INTO device_groups (name, created_at)
	SELECT DISTINCT group_name, 0 FROM devices WHERE true ON CONFLICT DO NOTHING;
INSERT INTO device_groups (name, created_at)
	SELECT DISTINCT group_name, 0 FROM enrollment_tokens WHERE true ON CONFLICT DO NOTHING;
