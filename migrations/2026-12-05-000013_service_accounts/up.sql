-- API tokens get a scope: read (GET only), write (what the account may do in projects), or
-- admin (also the account's installation-wide powers). Tokens made before scopes existed did
-- everything their account could, so they keep admin.
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write', 'admin'));
UPDATE api_tokens SET scope = 'admin';

-- Service accounts are for integrations: they have tokens, never a password or a session.
ALTER TABLE users ADD COLUMN is_service BOOLEAN NOT NULL DEFAULT FALSE;
