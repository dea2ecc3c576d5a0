DROP INDEX issues_sprint_idx;
CREATE INDEX issues_sprint_idx ON issues (sprint_id, rank);
