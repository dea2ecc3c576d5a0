-- The audit log becomes a hash chain. At commit, every new row is sealed: it gets the next
-- position in the chain, the hash of the row before it, and its own hash over its content
-- and that previous hash. Editing a sealed row breaks its own hash; deleting one breaks the
-- link of the row after it; `outpost audit verify` finds both. Sealing at commit, under a
-- lock held only while committing, keeps the chain in commit order without serialising the
-- transactions that write audit rows.

ALTER TABLE audit_log ADD COLUMN chain_position BIGINT UNIQUE;
ALTER TABLE audit_log ADD COLUMN previous_hash BYTEA;
ALTER TABLE audit_log ADD COLUMN row_hash BYTEA;
CREATE SEQUENCE audit_log_chain AS BIGINT;

-- What is hashed: each field as "<bytes>:<text>", so no value can pass for two fields.
-- `outpost audit verify` builds the same text from the same columns.
CREATE FUNCTION audit_log_digest(entry audit_log, previous BYTEA) RETURNS BYTEA LANGUAGE sql STABLE AS $$
    SELECT sha256(convert_to(
        (SELECT string_agg(octet_length(part)::text || ':' || part, '|' ORDER BY n)
         FROM unnest(ARRAY[
             entry.id::text,
             ((extract(epoch FROM entry.occurred_at) * 1000000)::bigint)::text,
             coalesce(entry.actor_id::text, ''),
             coalesce(entry.actor_ip, ''),
             entry.action,
             entry.entity_type,
             entry.entity_id::text,
             coalesce(entry.before_state::text, ''),
             coalesce(entry.after_state::text, ''),
             coalesce(entry.via_rule_id::text, ''),
             coalesce(encode(previous, 'hex'), '')
         ]) WITH ORDINALITY AS fields (part, n)),
        'UTF8'))
$$;

-- Sealing is the one change the log allows: giving an unsealed row its place in the chain.
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

CREATE FUNCTION audit_log_seal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_hash BYTEA;
    sealed audit_log;
BEGIN
    -- One sealer at a time, held until this transaction's commit is visible to the next.
    PERFORM pg_advisory_xact_lock(7220714, 1);
    SELECT row_hash INTO last_hash FROM audit_log
    WHERE chain_position IS NOT NULL ORDER BY chain_position DESC LIMIT 1;
    SELECT * INTO sealed FROM audit_log WHERE id = NEW.id;
    UPDATE audit_log
    SET chain_position = nextval('audit_log_chain'),
        previous_hash = last_hash,
        row_hash = audit_log_digest(sealed, last_hash)
    WHERE id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER audit_log_sealed_at_commit AFTER INSERT ON audit_log
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_log_seal();

-- Seal what is already there, oldest first.
DO $$
DECLARE
    last_hash BYTEA;
    r audit_log;
BEGIN
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
        UPDATE audit_log
        SET chain_position = nextval('audit_log_chain'),
            previous_hash = last_hash,
            row_hash = audit_log_digest(r, last_hash)
        WHERE id = r.id
        RETURNING row_hash INTO last_hash;
    END LOOP;
END;
$$;

CREATE INDEX audit_log_occurred_idx ON audit_log (occurred_at);
CREATE INDEX audit_log_action_idx ON audit_log (action text_pattern_ops);
