CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.row_hash IS NULL AND NEW.row_hash IS NOT NULL
       AND (to_jsonb(OLD) - ARRAY['chain_position', 'previous_hash', 'row_hash'])
         = (to_jsonb(NEW) - ARRAY['chain_position', 'previous_hash', 'row_hash']) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

-- Whatever is waiting is sealed now, as the trigger would have done at its commit.
SELECT audit_log_seal_pending(2147483647);
DROP FUNCTION audit_log_seal_pending(INTEGER);
DROP INDEX audit_log_unsealed_idx;

CREATE FUNCTION audit_log_seal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_hash BYTEA;
BEGIN
    PERFORM pg_advisory_xact_lock(7220714, 1);
    SELECT row_hash INTO last_hash FROM audit_log
    WHERE chain_position IS NOT NULL ORDER BY chain_position DESC LIMIT 1;
    UPDATE audit_log
    SET chain_position = nextval('audit_log_chain'),
        previous_hash = last_hash,
        row_hash = audit_log_digest(NEW, last_hash)
    WHERE id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER audit_log_sealed_at_commit AFTER INSERT ON audit_log
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_log_seal();
