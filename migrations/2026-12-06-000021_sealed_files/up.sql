-- Attached files and their thumbnails are sealed in the object store, each by a data key of
-- its own; files stored before this have none and are served as they are.
ALTER TABLE attachments ADD COLUMN data_key_id BIGINT REFERENCES data_keys (id),
                        ADD COLUMN thumbnail_data_key_id BIGINT REFERENCES data_keys (id);
CREATE INDEX attachments_data_key_id_idx ON attachments (data_key_id);
CREATE INDEX attachments_thumbnail_data_key_id_idx ON attachments (thumbnail_data_key_id);
