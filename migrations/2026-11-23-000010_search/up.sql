-- Requests to rebuild the search index. Each node keeps its own index and rebuilds it when the
-- newest generation here is newer than the one its index was built for.
CREATE TABLE search_rebuilds (
    generation   BIGSERIAL PRIMARY KEY,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    requested_by BIGINT REFERENCES users (id),
    reason       TEXT NOT NULL
);
CREATE INDEX search_rebuilds_requested_by ON search_rebuilds (requested_by);
