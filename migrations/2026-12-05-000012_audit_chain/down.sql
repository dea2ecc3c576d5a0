DROP INDEX audit_log_action_idx;
DROP INDEX audit_log_occurred_idx;
DROP TRIGGER audit_log_sealed_at_commit ON audit_log;
DROP FUNCTION audit_log_seal();
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
DROP FUNCTION audit_log_digest(audit_log, BYTEA);
DROP SEQUENCE audit_log_chain;
ALTER TABLE audit_log DROP COLUMN row_hash;
ALTER TABLE audit_log DROP COLUMN previous_hash;
ALTER TABLE audit_log DROP COLUMN chain_position;
