-- Sandbox schema: the metadata the retention and storage runbooks (seed 003) work against.
-- Later issues add their tables here; the sandbox applies this file to a fresh database.

CREATE TABLE IF NOT EXISTS recordings (
    id           bigserial PRIMARY KEY,
    bucket       text        NOT NULL,
    object_key   text        NOT NULL,
    archive_key  text,
    size_bytes   bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    deleted_at   timestamptz,
    UNIQUE (bucket, object_key)
);
CREATE INDEX IF NOT EXISTS recordings_expiry_idx ON recordings (expires_at) WHERE deleted_at IS NULL;

-- Outstanding legal holds block deletion of the recordings they name (released_at IS NULL).
CREATE TABLE IF NOT EXISTS legal_holds (
    id            bigserial PRIMARY KEY,
    recording_id  bigint      NOT NULL REFERENCES recordings (id),
    reason        text        NOT NULL,
    requested_by  text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    released_at   timestamptz
);
CREATE INDEX IF NOT EXISTS legal_holds_open_idx ON legal_holds (recording_id) WHERE released_at IS NULL;
