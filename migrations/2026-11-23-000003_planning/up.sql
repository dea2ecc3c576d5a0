-- Planning: a ranked backlog, sprints, and saved OQL filters (which boards can use as
-- their source).
CREATE TABLE sprints (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    goal         TEXT NOT NULL DEFAULT '' CHECK (length(goal) <= 1000),
    starts_on    DATE,
    ends_on      DATE,
    state        TEXT NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'active', 'closed')),
    started_at   TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on)
);
CREATE INDEX sprints_project_idx ON sprints (project_id, state);
-- A project runs one sprint at a time.
CREATE UNIQUE INDEX sprints_one_active ON sprints (project_id) WHERE state = 'active';

-- The backlog order: lower ranks first. Ranks are spaced apart so that a move writes one row;
-- when two neighbours leave no room, the project's ranks are spaced out again.
ALTER TABLE issues
    ADD COLUMN rank BIGINT,
    ADD COLUMN sprint_id BIGINT REFERENCES sprints (id);
UPDATE issues SET rank = number * 1048576;
ALTER TABLE issues ALTER COLUMN rank SET NOT NULL;
CREATE INDEX issues_project_rank_idx ON issues (project_id, rank);
CREATE INDEX issues_sprint_idx ON issues (sprint_id, rank);

CREATE TABLE saved_filters (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    oql        TEXT NOT NULL CHECK (length(oql) <= 10000),
    -- Shared filters are seen (and usable as board sources) by everyone in the project.
    shared     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX saved_filters_owner_idx ON saved_filters (owner_id);
CREATE INDEX saved_filters_project_idx ON saved_filters (project_id, shared);
