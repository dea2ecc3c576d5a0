-- What belongs to a project in the audit log, for the project's own audit trail: the project,
-- its issues and their comments (deleted ones too, by what their deletion row records),
-- its sprints, filters, hooks, deployments and rules, its space and that space's pages
-- (deleted ones too). Derived when read, so the sealed audit rows stay as they were written.
CREATE FUNCTION audit_project_entities(BIGINT)
RETURNS TABLE (entity_type TEXT, entity_id BIGINT) LANGUAGE sql STABLE AS $$
    SELECT 'project', $1
    UNION ALL SELECT 'issue', id FROM issues WHERE project_id = $1
    UNION ALL SELECT 'issue', a.entity_id FROM audit_log a
        WHERE a.action = 'issue.deleted' AND a.before_state ->> 'project_id' = $1::text
    UNION ALL SELECT 'comment', c.id FROM comments c JOIN issues i ON i.id = c.issue_id WHERE i.project_id = $1
    UNION ALL SELECT 'comment', jsonb_array_elements_text(a.before_state -> 'comment_ids')::bigint FROM audit_log a
        WHERE a.action = 'issue.deleted' AND a.before_state ->> 'project_id' = $1::text
    UNION ALL SELECT 'sprint', id FROM sprints WHERE project_id = $1
    UNION ALL SELECT 'saved_filter', id FROM saved_filters WHERE project_id = $1
    UNION ALL SELECT 'webhook', id FROM webhooks WHERE project_id = $1
    UNION ALL SELECT 'incoming_hook', id FROM incoming_hooks WHERE project_id = $1
    UNION ALL SELECT 'deployment', id FROM deployments WHERE project_id = $1
    UNION ALL SELECT 'automation_rule', id FROM automation_rules WHERE project_id = $1
    UNION ALL SELECT 'space', id FROM spaces WHERE project_id = $1
    UNION ALL SELECT 'page', p.id FROM pages p JOIN spaces s ON s.id = p.space_id WHERE s.project_id = $1
    UNION ALL SELECT 'page', a.entity_id FROM audit_log a JOIN spaces s ON s.id = (a.before_state ->> 'space_id')::bigint
        WHERE a.action = 'page.deleted' AND s.project_id = $1
$$;

-- Who made each team membership: an administrator here ('local'), the LDAP directory or the
-- single sign-on provider. What a directory or provider made, it may undo; an OIDC provider
-- lists only the groups a person is in, so this is how leaving a group leaves its team.
ALTER TABLE team_members ADD COLUMN added_by TEXT NOT NULL DEFAULT 'local'
    CHECK (added_by IN ('local', 'ldap', 'oidc'));
