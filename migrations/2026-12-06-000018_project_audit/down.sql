DROP FUNCTION audit_project_entities(BIGINT);
