-- The foundation: accounts, sessions, API tokens, projects, issues, comments, and the two
-- tables every state change writes beside itself (audit_log and outbox).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,31}$'),
    display_name  TEXT NOT NULL CHECK (length(display_name) BETWEEN 1 AND 80),
    email         TEXT NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash TEXT NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Browser sessions. The cookie holds a random token; only its SHA-256 is stored.
CREATE TABLE sessions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash   BYTEA NOT NULL UNIQUE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Failed sign-ins, counted per account and per address to slow down password guessing.
CREATE TABLE login_failures (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username  TEXT NOT NULL,
    ip        TEXT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_username_idx ON login_failures (username, failed_at);
CREATE INDEX login_failures_ip_idx ON login_failures (ip, failed_at);

-- Personal API tokens: shown once, stored as SHA-256.
CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    token_hash   BYTEA NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE projects (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key               TEXT NOT NULL UNIQUE CHECK (key ~ '^[A-Z][A-Z0-9]{1,9}$'),
    name              TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    description       TEXT NOT NULL DEFAULT '',
    lead_id           BIGINT NOT NULL REFERENCES users (id),
    -- Handed out under the row lock of an UPDATE ... RETURNING, so concurrent creates
    -- get distinct consecutive numbers.
    next_issue_number BIGINT NOT NULL DEFAULT 1,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX projects_lead_id_idx ON projects (lead_id);

CREATE TABLE issues (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects (id),
    number      BIGINT NOT NULL CHECK (number > 0),
    issue_type  TEXT NOT NULL CHECK (issue_type IN ('epic', 'story', 'task', 'bug', 'subtask')),
    status      TEXT NOT NULL CHECK (status IN ('todo', 'in_progress', 'in_review', 'done')),
    -- 1 = highest … 5 = lowest, so that sorting by priority is sorting by number.
    priority    SMALLINT NOT NULL CHECK (priority BETWEEN 1 AND 5),
    title       TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 100000),
    assignee_id BIGINT REFERENCES users (id),
    reporter_id BIGINT NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (project_id, number)
);
CREATE INDEX issues_project_updated_idx ON issues (project_id, updated_at DESC);
CREATE INDEX issues_project_status_idx ON issues (project_id, status);
CREATE INDEX issues_assignee_updated_idx ON issues (assignee_id, updated_at DESC);
CREATE INDEX issues_reporter_id_idx ON issues (reporter_id);
CREATE INDEX issues_updated_idx ON issues (updated_at DESC);
CREATE INDEX issues_title_trgm_idx ON issues USING gin (title gin_trgm_ops);

CREATE TABLE comments (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id   BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    author_id  BIGINT NOT NULL REFERENCES users (id),
    body       TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 65536),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX comments_issue_id_idx ON comments (issue_id, created_at);
CREATE INDEX comments_author_id_idx ON comments (author_id);

-- Who did what, when, from where, with the state before and after. Append-only.
CREATE TABLE audit_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_id     BIGINT REFERENCES users (id),
    actor_ip     TEXT,
    action       TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    entity_id    BIGINT NOT NULL,
    before_state JSONB,
    after_state  JSONB
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id);
CREATE INDEX audit_log_actor_id_idx ON audit_log (actor_id);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

-- Events for everything derived (search index, notifications, webhooks, automation), written
-- in the same transaction as the change. Consumers arrive in later releases.
CREATE TABLE outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    topic        TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    entity_id    BIGINT NOT NULL,
    payload      JSONB NOT NULL,
    processed_at TIMESTAMPTZ
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE processed_at IS NULL;
