-- Background work: the job queue every derived effect runs on (notifications, mail,
-- webhooks, automation, later search indexing), and what the first consumers keep.

-- One row per unit of background work. Workers claim with FOR UPDATE SKIP LOCKED; a claim is
-- a lease (locked_until) so a job held by a worker that died is picked up again.
CREATE TABLE jobs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 80),
    payload         JSONB NOT NULL DEFAULT '{}',
    -- Higher runs first.
    priority        SMALLINT NOT NULL DEFAULT 0,
    state           TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'succeeded', 'dead', 'discarded')),
    run_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 10 CHECK (max_attempts BETWEEN 1 AND 100),
    -- The same (kind, key) is queued at most once: re-dispatching an event adds nothing.
    idempotency_key TEXT,
    -- Jobs sharing an ordering key run one at a time, in id order (events of one object).
    ordering_key    TEXT,
    locked_by       TEXT,
    locked_until    TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ
);
CREATE UNIQUE INDEX jobs_idempotency_idx ON jobs (kind, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_ready_idx ON jobs (priority DESC, run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE state = 'running';
CREATE INDEX jobs_ordering_idx ON jobs (ordering_key, id)
    WHERE ordering_key IS NOT NULL AND state IN ('queued', 'running');
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_state_idx ON jobs (state, id DESC);

-- Secrets the installation generates for itself on first use (signing unsubscribe links).
CREATE TABLE installation_secrets (
    name       TEXT PRIMARY KEY,
    value      BYTEA NOT NULL CHECK (length(value) >= 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- In-app notifications: one per user per outbox event at most, whatever retries happen.
CREATE TABLE notifications (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id   BIGINT NOT NULL,
    reason     TEXT NOT NULL
               CHECK (reason IN ('assigned', 'mentioned', 'my_issue_commented', 'watching', 'sprint', 'due_soon')),
    actor_id   BIGINT REFERENCES users (id),
    subject    TEXT NOT NULL,
    summary    TEXT NOT NULL,
    link       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    read_at    TIMESTAMPTZ,
    -- Set when the notification went out by mail, alone or in a digest.
    emailed_at TIMESTAMPTZ,
    UNIQUE (user_id, event_id)
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
CREATE INDEX notifications_digest_idx ON notifications (user_id) WHERE emailed_at IS NULL;
CREATE INDEX notifications_actor_id_idx ON notifications (actor_id);

-- How each user wants each kind of notification by mail; no row means the default.
CREATE TABLE notification_preferences (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason  TEXT NOT NULL,
    email   TEXT NOT NULL CHECK (email IN ('immediate', 'digest', 'off')),
    PRIMARY KEY (user_id, reason)
);

-- Every mail Outpost sends, kept with its fate; the mail.send job delivers and retries.
CREATE TABLE mail_messages (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    to_address TEXT NOT NULL,
    subject    TEXT NOT NULL,
    text_body  TEXT NOT NULL,
    html_body  TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at    TIMESTAMPTZ
);
CREATE INDEX mail_messages_created_idx ON mail_messages (created_at DESC);
CREATE INDEX mail_messages_user_id_idx ON mail_messages (user_id);
