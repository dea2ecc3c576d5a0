-- Where an account comes from: made here, or found in the LDAP directory (whose password and
-- groups then decide, and whose sync deactivates it when the directory no longer has it).
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'ldap'));
ALTER TABLE users ADD COLUMN directory_dn TEXT;
