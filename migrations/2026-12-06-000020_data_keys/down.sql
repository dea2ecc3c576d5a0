ALTER TABLE users DROP COLUMN totp_key_id, DROP COLUMN totp_pending_key_id;
DROP TABLE data_keys;
