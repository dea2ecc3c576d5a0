-- Rows are sealed into the chain after their transaction commits, in batches, instead of
-- inside each writer's commit. Sealing at commit held the sealers' lock through every
-- writer's WAL flush, so all writing transactions committed one at a time: at 8 clients the
-- insert of an audit row alone managed 1,311 commits a second with the seal and 4,680
-- without it, and the seal's update (0.45 ms, half of it the append-only check converting
-- both rows to JSON) was paid inside every request. Now each node's sealer (audit/sealer.rs)
-- calls audit_log_seal_pending a few times a second; the chain is built in the order rows
-- are found committed, one sealer at a time across nodes, and `outpost audit verify` seals
-- whatever is waiting before it checks. A row is unsealed for a fraction of a second; the
-- append-only trigger refuses any other change to it in that time as before.

DROP TRIGGER audit_log_sealed_at_commit ON audit_log;
DROP FUNCTION audit_log_seal();

CREATE INDEX audit_log_unsealed_idx ON audit_log (id) WHERE row_hash IS NULL;

-- Seals up to max_rows committed rows, oldest first, and returns how many it sealed. Called
-- in a transaction of its own (or a caller's: rows written earlier in it are sealed too).
CREATE FUNCTION audit_log_seal_pending(max_rows INTEGER) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    last_hash BYTEA;
    entry audit_log;
    sealed INTEGER := 0;
BEGIN
    -- One sealer at a time; each statement below sees what the one before it committed.
    PERFORM pg_advisory_xact_lock(7220714, 1);
    SELECT row_hash INTO last_hash FROM audit_log
    WHERE chain_position IS NOT NULL ORDER BY chain_position DESC LIMIT 1;
    FOR entry IN SELECT * FROM audit_log WHERE row_hash IS NULL ORDER BY id LIMIT max_rows LOOP
        UPDATE audit_log
        SET chain_position = nextval('audit_log_chain'),
            previous_hash = last_hash,
            row_hash = audit_log_digest(entry, last_hash)
        WHERE id = entry.id
        RETURNING row_hash INTO last_hash;
        sealed := sealed + 1;
    END LOOP;
    RETURN sealed;
END;
$$;

-- The same rule as before (sealing is the one change the log allows), compared as rows
-- rather than as JSON: the sealed copy with its three chain columns put back must equal the
-- row as it was. A column added later is covered without changing this.
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unsealed audit_log;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.row_hash IS NULL AND NEW.row_hash IS NOT NULL THEN
        unsealed := NEW;
        unsealed.chain_position := NULL;
        unsealed.previous_hash := NULL;
        unsealed.row_hash := NULL;
        IF unsealed IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
