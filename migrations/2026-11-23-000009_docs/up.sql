-- Documentation: spaces (one per project, made with it, plus standalone spaces), pages in a
-- tree within a space, every saved text kept as a version, and the issues pages mention.
CREATE TABLE spaces (
    id          BIGSERIAL PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE CHECK (key ~ '^[A-Z][A-Z0-9]{1,9}$'),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    description TEXT NOT NULL DEFAULT '',
    -- The project whose space this is; NULL for a standalone space.
    project_id  BIGINT UNIQUE REFERENCES projects (id) ON DELETE CASCADE,
    created_by  BIGINT NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX spaces_by_creator ON spaces (created_by);

INSERT INTO spaces (key, name, project_id, created_by, created_at)
SELECT key, name, id, lead_id, created_at FROM projects;

CREATE TABLE pages (
    id          BIGSERIAL PRIMARY KEY,
    space_id    BIGINT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    -- A page with child pages cannot be deleted (the application refuses it), so RESTRICT.
    parent_id   BIGINT REFERENCES pages (id) ON DELETE RESTRICT CHECK (parent_id <> id),
    -- Order among the pages with the same parent, 0 first, kept gap-free by the application.
    position    INT NOT NULL CHECK (position >= 0),
    title       TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body        TEXT NOT NULL,
    -- The number of the latest version; a save names the version it edited (optimistic lock).
    version     INT NOT NULL CHECK (version >= 1),
    created_by  BIGINT NOT NULL REFERENCES users (id),
    updated_by  BIGINT NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX pages_in_tree ON pages (space_id, parent_id, position);
CREATE INDEX pages_by_parent ON pages (parent_id);
CREATE INDEX pages_by_creator ON pages (created_by);
CREATE INDEX pages_by_updater ON pages (updated_by);

CREATE TABLE page_versions (
    page_id     BIGINT NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    version     INT NOT NULL CHECK (version >= 1),
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    author_id   BIGINT NOT NULL REFERENCES users (id),
    -- Why this version exists when it is not a plain edit ("Restored version 3").
    note        TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (page_id, version)
);
CREATE INDEX page_versions_by_author ON page_versions (author_id);

-- Issues a page's latest text names (OPS-42), for "mentioned in" on the issue.
CREATE TABLE page_mentions (
    page_id  BIGINT NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    PRIMARY KEY (page_id, issue_id)
);
CREATE INDEX page_mentions_by_issue ON page_mentions (issue_id);

CREATE TABLE page_watchers (
    page_id BIGINT NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (page_id, user_id)
);
CREATE INDEX page_watchers_by_user ON page_watchers (user_id);

-- Attachments belong to exactly one issue or one page. A picture's thumbnail is an object of
-- its own, named here so the orphan sweep keeps it; when a picture gets none, the note says why.
ALTER TABLE attachments ALTER COLUMN issue_id DROP NOT NULL;
ALTER TABLE attachments ADD COLUMN page_id BIGINT REFERENCES pages (id) ON DELETE CASCADE;
ALTER TABLE attachments ADD CONSTRAINT attachments_one_owner CHECK ((issue_id IS NULL) <> (page_id IS NULL));
ALTER TABLE attachments ADD COLUMN thumbnail_key TEXT UNIQUE;
ALTER TABLE attachments ADD COLUMN thumbnail_note TEXT;
CREATE INDEX attachments_by_page ON attachments (page_id, id);

ALTER TABLE notifications DROP CONSTRAINT notifications_reason_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_reason_check
    CHECK (reason IN ('assigned', 'mentioned', 'my_issue_commented', 'watching', 'sprint', 'due_soon', 'automation',
                      'page_watched'));
