CREATE OR REPLACE FUNCTION audit_log_seal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_hash BYTEA;
    sealed audit_log;
BEGIN
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

CREATE OR REPLACE FUNCTION audit_log_digest(entry audit_log, previous BYTEA) RETURNS BYTEA LANGUAGE sql STABLE AS $$
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
