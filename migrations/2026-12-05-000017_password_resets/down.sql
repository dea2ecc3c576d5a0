ALTER TABLE users DROP COLUMN password_must_change;
DROP TABLE password_resets;
