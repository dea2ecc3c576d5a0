-- The fields of an issue beyond the basics: its place in the hierarchy (a sub-task's parent,
-- or the epic of a story, task or bug), planning fields, labels, components, releases,
-- time tracking, watchers, links between issues, and each project's custom fields.
CREATE TABLE versions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    release_date DATE,
    released     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX versions_name_key ON versions (project_id, lower(name));

CREATE TABLE components (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 60)
);
CREATE UNIQUE INDEX components_name_key ON components (project_id, lower(name));

ALTER TABLE issues
    ADD COLUMN parent_id        BIGINT REFERENCES issues (id),
    ADD COLUMN due_date         DATE,
    ADD COLUMN story_points     DOUBLE PRECISION CHECK (story_points >= 0 AND story_points <= 1000),
    ADD COLUMN estimate_minutes INT CHECK (estimate_minutes BETWEEN 0 AND 5000000),
    ADD COLUMN fix_version_id   BIGINT REFERENCES versions (id),
    ADD CONSTRAINT issues_not_own_parent CHECK (parent_id <> id);
CREATE INDEX issues_parent_id_idx ON issues (parent_id);
CREATE INDEX issues_fix_version_id_idx ON issues (fix_version_id);
CREATE INDEX issues_project_due_idx ON issues (project_id, due_date);

CREATE TABLE issue_labels (
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    label    TEXT NOT NULL CHECK (label ~ '^[^[:space:],]{1,50}$'),
    PRIMARY KEY (issue_id, label)
);
-- "labels IN (db, infra)" finds the issues from the label.
CREATE INDEX issue_labels_label_idx ON issue_labels (label, issue_id);

CREATE TABLE issue_components (
    issue_id     BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    component_id BIGINT NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    PRIMARY KEY (issue_id, component_id)
);
CREATE INDEX issue_components_component_idx ON issue_components (component_id, issue_id);

CREATE TABLE issue_watchers (
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (issue_id, user_id)
);
CREATE INDEX issue_watchers_user_idx ON issue_watchers (user_id, issue_id);

CREATE TABLE work_logs (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issue_id  BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    author_id BIGINT NOT NULL REFERENCES users (id),
    minutes   INT NOT NULL CHECK (minutes BETWEEN 1 AND 100000),
    note      TEXT NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    logged_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX work_logs_issue_idx ON work_logs (issue_id, logged_at);
CREATE INDEX work_logs_author_idx ON work_logs (author_id);

-- A link reads "source <kind> target": OPS-1 blocks OPS-2; its inverse ("is blocked by")
-- is the same row seen from the target.
CREATE TABLE issue_links (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id  BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    target_id  BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('blocks', 'relates', 'duplicates')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (source_id <> target_id),
    UNIQUE (source_id, target_id, kind)
);
CREATE INDEX issue_links_target_idx ON issue_links (target_id);

CREATE TABLE custom_fields (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    kind       TEXT NOT NULL CHECK (kind IN ('text', 'number', 'date', 'select', 'multiselect', 'user')),
    -- The choices of a select or multi-select field.
    options    TEXT[] NOT NULL DEFAULT '{}',
    position   INT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX custom_fields_name_key ON custom_fields (project_id, lower(name));

-- One value per issue and field, typed by the field's kind: a JSON string (text, date as
-- YYYY-MM-DD, select), number, array of strings (multi-select) or user id (user).
CREATE TABLE custom_values (
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    field_id BIGINT NOT NULL REFERENCES custom_fields (id) ON DELETE CASCADE,
    value    JSONB NOT NULL,
    PRIMARY KEY (issue_id, field_id)
);
CREATE INDEX custom_values_field_idx ON custom_values (field_id, value);
