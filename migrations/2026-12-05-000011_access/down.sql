DROP TABLE project_role_grants;
ALTER TABLE projects DROP COLUMN permission_scheme_id;
DROP FUNCTION default_permission_scheme();
DROP TABLE permission_scheme_grants;
DROP TABLE permission_schemes;
DROP TABLE team_members;
DROP TABLE teams;
ALTER TABLE users DROP CONSTRAINT users_admin_is_the_admin_role;
ALTER TABLE users DROP COLUMN global_role;
