-- Automation rules: a trigger, an OQL condition and actions, run by the job queue as the
-- rule's owner; every run (or deliberate non-run) is kept in the execution log.
CREATE TABLE automation_rules (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- Whoever last saved the rule: it acts with their permissions.
    owner_id        BIGINT NOT NULL REFERENCES users (id),
    trigger_kind    TEXT NOT NULL CHECK (trigger_kind IN
                    ('issue_created', 'field_changed', 'transitioned', 'commented', 'scheduled', 'incoming_webhook')),
    -- field_changed: the field's name (empty: any field); transitioned: the target status
    -- (empty: any); scheduled: the cron expression.
    trigger_value   TEXT NOT NULL DEFAULT '',
    -- OQL; for scheduled and incoming-webhook rules it selects the issues acted on.
    condition       TEXT NOT NULL DEFAULT '',
    actions         JSONB NOT NULL CHECK (jsonb_typeof(actions) = 'array' AND jsonb_array_length(actions) > 0),
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    -- incoming_webhook: the SHA-256 of the URL's secret, which is shown once.
    hook_token_hash BYTEA UNIQUE,
    hook_token_prefix TEXT,
    -- scheduled: the last cron time the rule was queued for.
    last_fired_at   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX automation_rules_project_idx ON automation_rules (project_id) WHERE enabled;
CREATE INDEX automation_rules_owner_id_idx ON automation_rules (owner_id);

CREATE TABLE automation_runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id     BIGINT NOT NULL REFERENCES automation_rules (id) ON DELETE CASCADE,
    -- What set it off: "event:<outbox id>" or "job:<job id>" (schedule, incoming webhook).
    source      TEXT NOT NULL,
    issue_id    BIGINT REFERENCES issues (id) ON DELETE SET NULL,
    depth       INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('succeeded', 'no_match', 'failed', 'loop_stopped')),
    -- One line per change made, in order.
    changes     JSONB NOT NULL DEFAULT '[]',
    error       TEXT,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    duration_ms INTEGER NOT NULL DEFAULT 0,
    -- A retried job runs a rule at most once per source and issue.
    UNIQUE NULLS NOT DISTINCT (rule_id, source, issue_id)
);
CREATE INDEX automation_runs_log_idx ON automation_runs (rule_id, id DESC);
CREATE INDEX automation_runs_issue_id_idx ON automation_runs (issue_id);
CREATE INDEX automation_runs_started_at_idx ON automation_runs (started_at);

-- Changes a rule made name it, so the history says "by alice via rule Escalate".
ALTER TABLE audit_log ADD COLUMN via_rule_id BIGINT;

-- A rule's "send a notification" action is a reason of its own, with its own mail preference.
ALTER TABLE notifications DROP CONSTRAINT notifications_reason_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_reason_check
    CHECK (reason IN ('assigned', 'mentioned', 'my_issue_commented', 'watching', 'sprint', 'due_soon', 'automation'));
