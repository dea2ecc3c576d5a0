ALTER TABLE issues ADD COLUMN status TEXT;
UPDATE issues i SET status = CASE s.category WHEN 'todo' THEN 'todo' WHEN 'done' THEN 'done'
                                             ELSE CASE WHEN s.name = 'In review' THEN 'in_review' ELSE 'in_progress' END END
  FROM workflow_statuses s WHERE s.id = i.status_id;
ALTER TABLE issues ALTER COLUMN status SET NOT NULL;
ALTER TABLE issues ADD CONSTRAINT issues_status_check CHECK (status IN ('todo', 'in_progress', 'in_review', 'done'));
DROP INDEX issues_project_status_idx;
DROP INDEX issues_status_id_idx;
ALTER TABLE issues DROP COLUMN status_id;
CREATE INDEX issues_project_status_idx ON issues (project_id, status);
DROP TABLE workflow_transitions;
DROP TABLE workflow_statuses;
