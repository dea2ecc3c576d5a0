-- Workflows: each project has its own statuses, each in one of three categories that boards,
-- reports and "open" filters understand, and the transitions allowed between them.
CREATE TABLE workflow_statuses (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    category   TEXT NOT NULL CHECK (category IN ('todo', 'in_progress', 'done')),
    -- Board column order; the first status is where new issues start.
    position   INT NOT NULL,
    -- Kanban boards flag a column holding more issues than this.
    wip_limit  INT CHECK (wip_limit BETWEEN 1 AND 999)
);
CREATE UNIQUE INDEX workflow_statuses_name_key ON workflow_statuses (project_id, lower(name));
CREATE INDEX workflow_statuses_project_idx ON workflow_statuses (project_id, position);

CREATE TABLE workflow_transitions (
    from_status_id BIGINT NOT NULL REFERENCES workflow_statuses (id) ON DELETE CASCADE,
    to_status_id   BIGINT NOT NULL REFERENCES workflow_statuses (id) ON DELETE CASCADE,
    PRIMARY KEY (from_status_id, to_status_id),
    CHECK (from_status_id <> to_status_id)
);
CREATE INDEX workflow_transitions_to_idx ON workflow_transitions (to_status_id);

-- Every existing project gets the default workflow, and its issues the matching status.
INSERT INTO workflow_statuses (project_id, name, category, position)
SELECT p.id, s.name, s.category, s.position
  FROM projects p
 CROSS JOIN (VALUES ('To do', 'todo', 0), ('In progress', 'in_progress', 1),
                    ('In review', 'in_progress', 2), ('Done', 'done', 3)) AS s (name, category, position);

INSERT INTO workflow_transitions (from_status_id, to_status_id)
SELECT f.id, t.id
  FROM workflow_statuses f
  JOIN workflow_statuses t ON t.project_id = f.project_id
  JOIN (VALUES ('To do', 'In progress'), ('To do', 'Done'),
               ('In progress', 'To do'), ('In progress', 'In review'), ('In progress', 'Done'),
               ('In review', 'In progress'), ('In review', 'Done'),
               ('Done', 'To do')) AS d (from_name, to_name)
    ON d.from_name = f.name AND d.to_name = t.name;

ALTER TABLE issues ADD COLUMN status_id BIGINT REFERENCES workflow_statuses (id);
UPDATE issues i SET status_id = s.id
  FROM workflow_statuses s
 WHERE s.project_id = i.project_id
   AND s.name = CASE i.status WHEN 'todo' THEN 'To do' WHEN 'in_progress' THEN 'In progress'
                              WHEN 'in_review' THEN 'In review' ELSE 'Done' END;
ALTER TABLE issues ALTER COLUMN status_id SET NOT NULL;
DROP INDEX issues_project_status_idx;
ALTER TABLE issues DROP COLUMN status;
-- Status filters and board columns read (project, status) together.
CREATE INDEX issues_project_status_idx ON issues (project_id, status_id);
CREATE INDEX issues_status_id_idx ON issues (status_id);
