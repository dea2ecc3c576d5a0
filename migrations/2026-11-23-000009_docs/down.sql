DELETE FROM notifications WHERE reason = 'page_watched';
ALTER TABLE notifications DROP CONSTRAINT notifications_reason_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_reason_check
    CHECK (reason IN ('assigned', 'mentioned', 'my_issue_commented', 'watching', 'sprint', 'due_soon', 'automation'));
DELETE FROM attachments WHERE page_id IS NOT NULL;
DROP INDEX attachments_by_page;
ALTER TABLE attachments DROP COLUMN thumbnail_note;
ALTER TABLE attachments DROP COLUMN thumbnail_key;
ALTER TABLE attachments DROP CONSTRAINT attachments_one_owner;
ALTER TABLE attachments DROP COLUMN page_id;
ALTER TABLE attachments ALTER COLUMN issue_id SET NOT NULL;
DROP TABLE page_watchers;
DROP TABLE page_mentions;
DROP TABLE page_versions;
DROP TABLE pages;
DROP TABLE spaces;
