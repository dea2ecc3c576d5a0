-- Which workflow a project has: a new random number whenever one of its statuses or
-- transitions changes. A node keeps each project's workflow as it parsed it and reads the
-- statuses again only when the project row it has just read names another epoch: the issue
-- page, a create, the lists and the board each read the workflow, one statement of the issue
-- page's seven. Random rather than counted, so that a restored backup never reuses a number
-- for a different workflow (as access_everyone's epoch).
ALTER TABLE projects ADD COLUMN workflow_epoch BIGINT NOT NULL DEFAULT (random() * 9e18)::bigint;

CREATE FUNCTION workflow_epoch_renew() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'workflow_statuses' THEN
        IF TG_OP <> 'DELETE' THEN
            UPDATE projects SET workflow_epoch = (random() * 9e18)::bigint WHERE id = NEW.project_id;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            UPDATE projects SET workflow_epoch = (random() * 9e18)::bigint WHERE id = OLD.project_id;
        END IF;
    ELSE
        -- A transition belongs to the project of the status it leaves. When that status is
        -- being deleted, its own trigger has renewed the epoch.
        IF TG_OP <> 'DELETE' THEN
            UPDATE projects SET workflow_epoch = (random() * 9e18)::bigint
             WHERE id = (SELECT project_id FROM workflow_statuses WHERE id = NEW.from_status_id);
        END IF;
        IF TG_OP <> 'INSERT' THEN
            UPDATE projects SET workflow_epoch = (random() * 9e18)::bigint
             WHERE id = (SELECT project_id FROM workflow_statuses WHERE id = OLD.from_status_id);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER workflow_epoch_statuses AFTER INSERT OR UPDATE OR DELETE ON workflow_statuses
    FOR EACH ROW EXECUTE FUNCTION workflow_epoch_renew();
CREATE TRIGGER workflow_epoch_transitions AFTER INSERT OR UPDATE OR DELETE ON workflow_transitions
    FOR EACH ROW EXECUTE FUNCTION workflow_epoch_renew();
-- TRUNCATE has no rows to name a project by: every project's epoch is renewed.
CREATE FUNCTION workflow_epoch_renew_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE projects SET workflow_epoch = (random() * 9e18)::bigint;
    RETURN NULL;
END;
$$;
CREATE TRIGGER workflow_epoch_statuses_truncated AFTER TRUNCATE ON workflow_statuses
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_epoch_renew_all();
CREATE TRIGGER workflow_epoch_transitions_truncated AFTER TRUNCATE ON workflow_transitions
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_epoch_renew_all();
