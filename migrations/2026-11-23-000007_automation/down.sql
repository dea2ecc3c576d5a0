DELETE FROM notifications WHERE reason = 'automation';
ALTER TABLE notifications DROP CONSTRAINT notifications_reason_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_reason_check
    CHECK (reason IN ('assigned', 'mentioned', 'my_issue_commented', 'watching', 'sprint', 'due_soon'));
ALTER TABLE audit_log DROP COLUMN via_rule_id;
DROP TABLE automation_runs;
DROP TABLE automation_rules;
