-- Row by row again, as migration 29 wrote it.
CREATE OR REPLACE FUNCTION audit_log_seal_pending(max_rows INTEGER) RETURNS INTEGER LANGUAGE plpgsql AS $$
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
