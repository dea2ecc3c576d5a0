DROP TRIGGER access_everyone_spaces ON spaces;
DROP TRIGGER access_everyone_projects_added ON projects;
