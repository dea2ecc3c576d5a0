DROP TABLE deployment_issues;
DROP TABLE deployments;
DROP TABLE incoming_hooks;
