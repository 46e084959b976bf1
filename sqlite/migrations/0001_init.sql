-- Bascule schema, version 1. Times are milliseconds since the epoch (UTC).
-- Knowledge-side rows keep the entity as JSON (data) beside their key columns.
-- The feed's rows, small and written for every answer, are WITHOUT ROWID: clustered on their
-- key, an insert updates one B-tree instead of a table and its key index.

CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters (name, value) VALUES ('feed', 0);

CREATE TABLE bots (id TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE knowledge (
  bot_id TEXT NOT NULL, id INTEGER NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (bot_id, id));
CREATE TABLE matching_groups (
  bot_id TEXT NOT NULL, name TEXT NOT NULL, language TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (bot_id, name, language));
CREATE TABLE sentences (
  bot_id TEXT NOT NULL, kind TEXT NOT NULL, language TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (bot_id, kind, language));

-- seq numbers dialogs locally, in creation order: interactions are indexed by it, so the
-- entries of the dialogs in progress (the recent ones) share the index's last pages instead
-- of landing on a random page for every answer, as a random context id would make them.
CREATE TABLE dialogs (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, bot_id TEXT NOT NULL, client_id TEXT NOT NULL, language TEXT NOT NULL,
  space TEXT NOT NULL, origin TEXT NOT NULL, continues TEXT NOT NULL, continues_via TEXT NOT NULL, started_at INTEGER NOT NULL,
  user_url TEXT NOT NULL, browser TEXT NOT NULL, os TEXT NOT NULL);
CREATE INDEX dialogs_bot_started ON dialogs (bot_id, started_at);
CREATE INDEX dialogs_client ON dialogs (bot_id, client_id, started_at);

CREATE TABLE interactions (
  id TEXT PRIMARY KEY, dialog_id TEXT NOT NULL, dialog_seq INTEGER NOT NULL, bot_id TEXT NOT NULL, n INTEGER NOT NULL,
  at INTEGER NOT NULL, server TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, type TEXT NOT NULL,
  knowledge_id INTEGER NOT NULL, score REAL NOT NULL, language TEXT NOT NULL, space TEXT NOT NULL, author TEXT NOT NULL);
CREATE INDEX interactions_dialog ON interactions (dialog_seq, n, at);
CREATE INDEX interactions_bot_at ON interactions (bot_id, at);

CREATE TABLE variables (dialog_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (dialog_id, name));
CREATE TABLE feedback (
  id TEXT PRIMARY KEY, dialog_id TEXT NOT NULL, interaction_id TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX feedback_dialog ON feedback (dialog_id);
CREATE TABLE visits (
  id TEXT PRIMARY KEY, bot_id TEXT NOT NULL, client_id TEXT NOT NULL, language TEXT NOT NULL, space TEXT NOT NULL,
  at INTEGER NOT NULL, server TEXT NOT NULL);
CREATE INDEX visits_bot_at ON visits (bot_id, at);
CREATE INDEX visits_client ON visits (bot_id, client_id);

CREATE TABLE erased_clients (bot_id TEXT NOT NULL, client_id TEXT NOT NULL, before INTEGER NOT NULL, PRIMARY KEY (bot_id, client_id));
CREATE TABLE erased_dialogs (id TEXT PRIMARY KEY);

-- The feed: each server's own changes (origin), numbered by one sequence, read per class.
CREATE TABLE changes (
  origin TEXT NOT NULL, class TEXT NOT NULL, seq INTEGER NOT NULL, entity TEXT NOT NULL, key TEXT NOT NULL,
  op TEXT NOT NULL, data TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (origin, class, seq)) WITHOUT ROWID;
-- What was applied from each peer's stream.
CREATE TABLE cursors (origin TEXT NOT NULL, class TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (origin, class));
