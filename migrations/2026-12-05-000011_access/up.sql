-- Who may do what: global roles, teams, permission schemes and per-project role grants.
--
-- A project names a permission scheme; the scheme says which project roles hold which
-- permissions; a project grants roles to users, to teams, or to everyone signed in. A
-- project's lead always holds its project_admin role.

ALTER TABLE users ADD COLUMN global_role TEXT NOT NULL DEFAULT 'user'
    CHECK (global_role IN ('admin', 'user', 'auditor'));
UPDATE users SET global_role = 'admin' WHERE is_admin;
-- is_admin stays, kept equal to global_role = 'admin' by the application, so that older
-- queries and indexes that read it keep their meaning.
ALTER TABLE users ADD CONSTRAINT users_admin_is_the_admin_role CHECK (is_admin = (global_role = 'admin'));

CREATE TABLE teams (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_name_key ON teams (lower(name));

CREATE TABLE team_members (
    team_id  BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id),
    added_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

CREATE TABLE permission_schemes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    description TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX permission_schemes_name_key ON permission_schemes (lower(name));

CREATE TABLE permission_scheme_grants (
    scheme_id  BIGINT NOT NULL REFERENCES permission_schemes (id) ON DELETE CASCADE,
    permission TEXT NOT NULL CHECK (permission IN ('browse', 'create_issues', 'edit_own_issues',
        'edit_all_issues', 'transition_issues', 'comment', 'delete_issues', 'manage_sprints',
        'edit_pages', 'administer_project', 'view_audit')),
    role       TEXT NOT NULL CHECK (role IN ('project_admin', 'member', 'reporter', 'viewer')),
    PRIMARY KEY (scheme_id, permission, role)
);

INSERT INTO permission_schemes (name, description) VALUES
    ('Default scheme', 'Viewers read; reporters also create, comment and edit their own issues; members work on every issue, plan sprints and write pages; project admins also delete issues, administer the project and read its audit trail.');
INSERT INTO permission_scheme_grants (scheme_id, permission, role)
SELECT s.id, g.permission, g.role
FROM permission_schemes s, (VALUES
    ('browse', 'project_admin'), ('browse', 'member'), ('browse', 'reporter'), ('browse', 'viewer'),
    ('create_issues', 'project_admin'), ('create_issues', 'member'), ('create_issues', 'reporter'),
    ('edit_own_issues', 'project_admin'), ('edit_own_issues', 'member'), ('edit_own_issues', 'reporter'),
    ('edit_all_issues', 'project_admin'), ('edit_all_issues', 'member'),
    ('transition_issues', 'project_admin'), ('transition_issues', 'member'),
    ('comment', 'project_admin'), ('comment', 'member'), ('comment', 'reporter'),
    ('delete_issues', 'project_admin'),
    ('manage_sprints', 'project_admin'), ('manage_sprints', 'member'),
    ('edit_pages', 'project_admin'), ('edit_pages', 'member'),
    ('administer_project', 'project_admin'),
    ('view_audit', 'project_admin')
) AS g (permission, role);

-- The scheme a new project starts with: the oldest one, which the installation began with.
CREATE FUNCTION default_permission_scheme() RETURNS BIGINT LANGUAGE sql STABLE
    AS 'SELECT min(id) FROM permission_schemes';
ALTER TABLE projects ADD COLUMN permission_scheme_id BIGINT NOT NULL DEFAULT default_permission_scheme()
    REFERENCES permission_schemes (id);
CREATE INDEX projects_permission_scheme_idx ON projects (permission_scheme_id);

-- A role in a project, held by one user, by every member of one team, or by everyone
-- signed in (every active account).
CREATE TABLE project_role_grants (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('project_admin', 'member', 'reporter', 'viewer')),
    user_id    BIGINT REFERENCES users (id),
    team_id    BIGINT REFERENCES teams (id) ON DELETE CASCADE,
    everyone   BOOLEAN NOT NULL DEFAULT FALSE,
    granted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(user_id, team_id) + everyone::int = 1)
);
CREATE UNIQUE INDEX project_role_grants_user_key ON project_role_grants (project_id, role, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX project_role_grants_team_key ON project_role_grants (project_id, role, team_id) WHERE team_id IS NOT NULL;
CREATE UNIQUE INDEX project_role_grants_everyone_key ON project_role_grants (project_id, role) WHERE everyone;
CREATE INDEX project_role_grants_user_idx ON project_role_grants (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX project_role_grants_team_idx ON project_role_grants (team_id) WHERE team_id IS NOT NULL;

-- Until now every active user worked in every project: keep that for existing projects,
-- as an explicit grant their admins can now narrow.
INSERT INTO project_role_grants (project_id, role, everyone) SELECT id, 'member', TRUE FROM projects;

-- The profile: the zone a person reads times in (an IANA name, checked by the application).
ALTER TABLE users ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64);
