ALTER TABLE users DROP COLUMN is_service;
ALTER TABLE api_tokens DROP COLUMN scope;
