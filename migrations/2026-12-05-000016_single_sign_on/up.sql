-- Single sign-on with OpenID Connect: accounts may come from the identity provider, and each
-- sign-in started here is remembered (its state, nonce and PKCE verifier) until the provider
-- sends the browser back, once.
ALTER TABLE users DROP CONSTRAINT users_source_check;
ALTER TABLE users ADD CONSTRAINT users_source_check CHECK (source IN ('local', 'ldap', 'oidc'));

CREATE TABLE oidc_logins (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state_hash  BYTEA NOT NULL UNIQUE,
    nonce       TEXT NOT NULL,
    verifier    TEXT NOT NULL,
    next        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
