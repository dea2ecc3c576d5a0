DROP TRIGGER workflow_epoch_transitions_truncated ON workflow_transitions;
DROP TRIGGER workflow_epoch_statuses_truncated ON workflow_statuses;
DROP FUNCTION workflow_epoch_renew_all();
DROP TRIGGER workflow_epoch_transitions ON workflow_transitions;
DROP TRIGGER workflow_epoch_statuses ON workflow_statuses;
DROP FUNCTION workflow_epoch_renew();
ALTER TABLE projects DROP COLUMN workflow_epoch;
