-- The device's line for an external Mosquitto's password_file (a salted
-- PBKDF2 hash of its MQTT password, made at enrolment), so the server can
-- rewrite that file from the database. Empty when no external broker file
-- is kept.
ALTER TABLE devices ADD COLUMN broker_credential TEXT NOT NULL DEFAULT '';
