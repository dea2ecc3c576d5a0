DROP TABLE usage_activity;
DROP TABLE usage_days;
