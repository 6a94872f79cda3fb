-- When a mission launched for later (launch --in or --at) falls due, and
-- NULL for the others. Kept after it is published: mission objects show it.
ALTER TABLE missions ADD COLUMN due_us BIGINT;
