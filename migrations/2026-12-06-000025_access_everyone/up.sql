-- What grants to everyone give in each project, kept here by triggers instead of being
-- aggregated each time a person is loaded: at 500 projects that aggregate took 12 ms on
-- every request, and every project usually has such a grant. A person's own, team and lead
-- grants stay computed with them (few rows, indexed). `epoch` names the map's content: a
-- new random number with every change, so nodes keep their parsed copy until it changes
-- (random rather than counted, so that a restored backup never reuses a number for a
-- different map).
CREATE TABLE access_everyone (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    epoch BIGINT NOT NULL,
    -- JSON as text, stored uncompressed: every request reads it, and handing on text costs
    -- far less than taking a jsonb value apart and building it again.
    map TEXT NOT NULL
);
ALTER TABLE access_everyone ALTER COLUMN map SET STORAGE EXTERNAL;

CREATE FUNCTION access_everyone_map() RETURNS JSONB LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(held.project_id, held.permissions), '{}'::jsonb) FROM (
        SELECT g.project_id, jsonb_agg(DISTINCT sg.permission) AS permissions
        FROM project_role_grants g
        JOIN projects p ON p.id = g.project_id
        JOIN permission_scheme_grants sg ON sg.scheme_id = p.permission_scheme_id AND sg.role = g.role
        WHERE g.everyone
        GROUP BY g.project_id) held
$$;

INSERT INTO access_everyone (epoch, map) VALUES ((random() * 9e18)::bigint, access_everyone_map()::text);

CREATE FUNCTION access_everyone_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The row lock first, then the map in a statement of its own, with a fresh snapshot:
    -- of two transactions changing grants at once, the second computes the map after the
    -- first has committed, so neither change is lost.
    PERFORM 1 FROM access_everyone FOR UPDATE;
    UPDATE access_everyone SET epoch = (random() * 9e18)::bigint, map = access_everyone_map()::text;
    RETURN NULL;
END;
$$;

CREATE TRIGGER access_everyone_grants AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON project_role_grants
    FOR EACH STATEMENT EXECUTE FUNCTION access_everyone_refresh();
CREATE TRIGGER access_everyone_schemes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON permission_scheme_grants
    FOR EACH STATEMENT EXECUTE FUNCTION access_everyone_refresh();
-- Only a project's scheme matters here; issue numbers and names change far more often.
CREATE TRIGGER access_everyone_projects AFTER UPDATE OF permission_scheme_id OR DELETE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION access_everyone_refresh();
