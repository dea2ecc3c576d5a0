DROP INDEX pages_in_tree;
CREATE INDEX pages_in_tree ON pages (space_id, parent_id, position);
DROP INDEX pages_at_top;
