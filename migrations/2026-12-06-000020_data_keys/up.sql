-- Data keys, one per protected object, stored only wrapped by a key-encryption key the
-- customer controls (`kek_id` names which); rotation re-wraps them without touching the data.
CREATE TABLE data_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kek_id       TEXT NOT NULL CHECK (length(kek_id) BETWEEN 1 AND 200),
    wrapped      BYTEA NOT NULL CHECK (length(wrapped) BETWEEN 16 AND 4096),
    purpose      TEXT NOT NULL CHECK (purpose IN ('totp_seed', 'attachment', 'secret', 'backup')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    rewrapped_at TIMESTAMPTZ
);
CREATE INDEX data_keys_kek_idx ON data_keys (kek_id, id);

-- Two-factor seeds are sealed by a data key of their own (plain seeds written before this are
-- sealed by the first start with a key-encryption key).
ALTER TABLE users ADD COLUMN totp_key_id BIGINT REFERENCES data_keys (id),
                  ADD COLUMN totp_pending_key_id BIGINT REFERENCES data_keys (id);
CREATE INDEX users_totp_key_id_idx ON users (totp_key_id);
CREATE INDEX users_totp_pending_key_id_idx ON users (totp_pending_key_id);
