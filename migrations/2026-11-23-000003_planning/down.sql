DROP TABLE saved_filters;
DROP INDEX issues_project_rank_idx;
DROP INDEX issues_sprint_idx;
ALTER TABLE issues DROP COLUMN rank, DROP COLUMN sprint_id;
DROP TABLE sprints;
