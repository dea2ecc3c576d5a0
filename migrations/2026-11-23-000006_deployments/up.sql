-- Deployments reported by CI systems through incoming webhooks (a secret URL per hook), and
-- the issues each deployment shipped.
CREATE TABLE incoming_hooks (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    -- The URL's secret is shown once; only its SHA-256 is kept.
    token_hash   BYTEA NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_by   BIGINT NOT NULL REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX incoming_hooks_project_id_idx ON incoming_hooks (project_id);
CREATE INDEX incoming_hooks_created_by_idx ON incoming_hooks (created_by);

CREATE TABLE deployments (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    environment TEXT NOT NULL CHECK (environment ~ '^[a-z0-9][a-z0-9._-]{0,39}$'),
    version     TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 100),
    commit_sha  TEXT CHECK (commit_sha ~ '^[0-9a-f]{7,64}$'),
    status      TEXT NOT NULL CHECK (status IN ('started', 'succeeded', 'failed', 'rolled_back')),
    url         TEXT CHECK (url ~ '^https?://' AND length(url) <= 2000),
    notes       TEXT NOT NULL DEFAULT '' CHECK (length(notes) <= 65536),
    hook_id     BIGINT REFERENCES incoming_hooks (id) ON DELETE SET NULL,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A version goes to an environment once; later reports update its status.
    UNIQUE (project_id, environment, version)
);
CREATE INDEX deployments_recent_idx ON deployments (project_id, environment, updated_at DESC);
CREATE INDEX deployments_hook_id_idx ON deployments (hook_id);

CREATE TABLE deployment_issues (
    deployment_id BIGINT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    issue_id      BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    PRIMARY KEY (deployment_id, issue_id)
);
CREATE INDEX deployment_issues_issue_id_idx ON deployment_issues (issue_id);
