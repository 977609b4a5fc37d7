-- V005: failed sign-in windows shared by every process on the database (issue 6), so the login
-- throttle holds across nodes. key: hex SHA-256 of "user:<name>" or "addr:<address>".
CREATE TABLE login_failures (
  key TEXT PRIMARY KEY,
  window_start INTEGER NOT NULL,
  window_end INTEGER NOT NULL,
  failures INTEGER NOT NULL
);
CREATE INDEX login_failures_by_end ON login_failures (window_end);
