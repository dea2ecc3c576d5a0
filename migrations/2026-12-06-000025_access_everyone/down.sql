DROP TRIGGER access_everyone_projects ON projects;
DROP TRIGGER access_everyone_schemes ON permission_scheme_grants;
DROP TRIGGER access_everyone_grants ON project_role_grants;
DROP FUNCTION access_everyone_refresh();
DROP FUNCTION access_everyone_map();
DROP TABLE access_everyone;
