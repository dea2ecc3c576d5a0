ALTER TABLE attachments DROP COLUMN data_key_id, DROP COLUMN thumbnail_data_key_id;
