DROP TABLE mail_messages;
DROP TABLE notification_preferences;
DROP TABLE notifications;
DROP TABLE installation_secrets;
DROP TABLE jobs;
