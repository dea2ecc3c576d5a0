-- Sealing a row updates it, and the row's old version keeps an entry in audit_log_unsealed_idx
-- until the table is vacuumed. The sealer reads that index from its start ten times a second,
-- so it read past every such entry: on the 1M-issue bench, after 206,711 sealed rows since the
-- last autovacuum (four hours of benchmarks), each look took 2.4 ms and 362 buffers even with
-- nothing to seal (a few percent of a core while idle, and growing). PostgreSQL's default
-- waits for a fifth of the table to be dead (about 550,000 rows here, more as the log grows).
-- Vacuuming this table is cheap (1.5 s for 834 MB and its 440 MB of indexes, and its pages
-- are mostly all-visible), so it is vacuumed after every 10,000 dead rows instead: at most
-- about once a minute under a benchmark's load, a few times an hour in everyday use.
ALTER TABLE audit_log SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);
