ALTER TABLE audit_log RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
