-- Two-factor sign-in with time-based one-time passwords (RFC 6238), recovery codes, and an
-- installation-wide rule on who must use it.

ALTER TABLE users ADD COLUMN totp_secret BYTEA;
-- A secret being enrolled: it becomes totp_secret once a code from it is confirmed.
ALTER TABLE users ADD COLUMN totp_pending_secret BYTEA;
ALTER TABLE users ADD COLUMN totp_enabled_at TIMESTAMPTZ;
-- The time step of the last code accepted: a code is good once, even within its 30 seconds.
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

-- Single-use codes for when the authenticator is lost; only their SHA-256 is kept.
CREATE TABLE mfa_recovery_codes (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   BIGINT NOT NULL REFERENCES users (id),
    code_hash BYTEA NOT NULL UNIQUE,
    used_at   TIMESTAMPTZ
);
CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (user_id);

-- A sign-in whose password was right and whose second factor is awaited. The browser holds
-- the token (only its SHA-256 is kept); it lasts minutes and a few wrong codes.
CREATE TABLE mfa_challenges (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash  BYTEA NOT NULL UNIQUE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    failures    INT NOT NULL DEFAULT 0
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);

-- Installation-wide settings that administrators change in the pages.
CREATE TABLE installation_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO installation_settings (key, value) VALUES ('mfa_required', 'none');
ALTER TABLE installation_settings ADD CONSTRAINT mfa_required_values
    CHECK (key <> 'mfa_required' OR value IN ('none', 'admins', 'everyone'));
