-- Each backup archive written, by the command or the schedule, and whether its verification
-- (checksums, trial decryption, a readable database dump) passed: what the system page shows.
CREATE TABLE backups (
    id            BIGSERIAL PRIMARY KEY,
    file_name     TEXT NOT NULL UNIQUE,
    trigger       TEXT NOT NULL CHECK (trigger IN ('command', 'schedule')),
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ NOT NULL,
    size_bytes    BIGINT NOT NULL CHECK (size_bytes > 0),
    sha256        TEXT NOT NULL,
    objects       BIGINT NOT NULL,
    verified_at   TIMESTAMPTZ,
    -- NULL with verified_at set: verification passed.
    verify_problem TEXT
);
CREATE INDEX backups_finished_at_idx ON backups (finished_at DESC);
