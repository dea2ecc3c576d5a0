-- An issue's history is read a stretch at a time, newest or oldest first: with the time and
-- id in the entity index, the stretch is read in order and the scan stops at its end (the
-- planner had walked audit_log_occurred_idx backwards through every recent record: 90 ms
-- for the latest 50 of an issue with 24,327 records, among 93,000 newer records of others).
-- The action rides along so that counting the history, and picking out the records of
-- links, reads the index alone.
DROP INDEX audit_log_entity_idx;
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, occurred_at, id) INCLUDE (action);
