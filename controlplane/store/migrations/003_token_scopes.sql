-- What an API key may do (space-separated scopes: infer, full, keys) and,
-- for inference, which service paths (newline-separated; empty: all the
-- owner's). Keys made before scopes existed could do everything a session
-- can, so they keep "full"; new keys are "infer" unless asked otherwise.
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'full';
ALTER TABLE tokens ADD COLUMN services TEXT NOT NULL DEFAULT '';
