-- Usage metering, a row a day: what an enterprise shows procurement, and what a renewal is
-- based on. api_calls accumulates as nodes flush their counts; the rest is measured by the
-- daily `usage` job (and for today, live).
CREATE TABLE usage_days (
    day            DATE PRIMARY KEY,
    active_users   INTEGER NOT NULL DEFAULT 0 CHECK (active_users >= 0),
    issues_created INTEGER NOT NULL DEFAULT 0 CHECK (issues_created >= 0),
    pages_created  INTEGER NOT NULL DEFAULT 0 CHECK (pages_created >= 0),
    storage_bytes  BIGINT NOT NULL DEFAULT 0 CHECK (storage_bytes >= 0),
    api_calls      BIGINT NOT NULL DEFAULT 0 CHECK (api_calls >= 0),
    measured_at    TIMESTAMPTZ
);

-- Who used Outpost on which day (a page or an API call), kept 400 days.
CREATE TABLE usage_activity (
    day     DATE NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (day, user_id)
);
-- Deleting a person deletes their activity rows.
CREATE INDEX usage_activity_user_id_idx ON usage_activity (user_id);
