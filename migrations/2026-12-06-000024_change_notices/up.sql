-- Nodes remember a few things between requests (the license in force); each change to them,
-- by any node or by hand, tells every node's listener at commit (see changes.rs).
CREATE FUNCTION outpost_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outpost_changes', TG_ARGV[0]);
    RETURN NULL;
END;
$$;

CREATE TRIGGER licenses_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON licenses
    FOR EACH STATEMENT EXECUTE FUNCTION outpost_notify_change('license');
CREATE TRIGGER installation_settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON installation_settings
    FOR EACH STATEMENT EXECUTE FUNCTION outpost_notify_change('license');
