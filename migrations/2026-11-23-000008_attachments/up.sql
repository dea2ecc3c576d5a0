-- Files attached to issues. The bytes live in the object store under object_key; this row is
-- what makes them exist for users, written in the same transaction as the audit row. An
-- object without a row (an upload that failed before its commit, an issue deleted) is
-- removed by the cleanup job; a deleted row's object by a storage.delete job.
CREATE TABLE attachments (
    id BIGSERIAL PRIMARY KEY,
    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    object_key TEXT NOT NULL UNIQUE,
    file_name TEXT NOT NULL CHECK (length(file_name) BETWEEN 1 AND 255),
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL CHECK (size_bytes > 0),
    sha256 TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_by BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX attachments_by_issue ON attachments (issue_id, id);
CREATE INDEX attachments_by_uploader ON attachments (uploaded_by);
