-- Licenses as installed, newest in force: the text is kept whole and re-verified against the
-- vendor's key whenever it is read, so editing a row here grants nothing.
CREATE TABLE licenses (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    license_id   TEXT NOT NULL CHECK (length(license_id) BETWEEN 1 AND 200),
    text         TEXT NOT NULL CHECK (length(text) <= 20000),
    installed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    installed_by BIGINT REFERENCES users (id),
    replaced_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX licenses_one_in_force ON licenses ((true)) WHERE replaced_at IS NULL;
CREATE INDEX licenses_installed_by_idx ON licenses (installed_by);
