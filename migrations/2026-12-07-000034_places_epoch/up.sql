-- Every search reads which projects and spaces exist (to turn a reader's permissions into the
-- places their search may cover). Nodes now keep that list under the epoch of access_everyone,
-- which each loaded person already carries; so the epoch is also renewed whenever a project or
-- space comes or goes, or a space moves to another project. (A project's deletion and its
-- scheme's change renew it already: migration 000025.)
CREATE TRIGGER access_everyone_projects_added AFTER INSERT OR TRUNCATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION access_everyone_refresh();
CREATE TRIGGER access_everyone_spaces AFTER INSERT OR DELETE OR UPDATE OF project_id OR TRUNCATE ON spaces
    FOR EACH STATEMENT EXECUTE FUNCTION access_everyone_refresh();
