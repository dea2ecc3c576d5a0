DROP INDEX audit_log_entity_idx;
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id);
