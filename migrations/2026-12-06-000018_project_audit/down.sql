ALTER TABLE team_members DROP COLUMN added_by;
DROP FUNCTION audit_project_entities(BIGINT);
