-- Bascule schema, version 3, for PostgreSQL: sqlite/migrations/0003_livechat.sql, operator
-- accounts and the livechat state of dialogs, with the same columns in the same order.

CREATE TABLE accounts (login TEXT COLLATE "C" PRIMARY KEY, data TEXT NOT NULL, version BIGINT NOT NULL, updated_at BIGINT NOT NULL);

CREATE TABLE livechat (
  dialog_id TEXT COLLATE "C" PRIMARY KEY, bot_id TEXT COLLATE "C" NOT NULL, status TEXT COLLATE "C" NOT NULL,
  operator TEXT COLLATE "C" NOT NULL, version BIGINT NOT NULL, server TEXT COLLATE "C" NOT NULL, closed_at BIGINT NOT NULL,
  data TEXT NOT NULL);
CREATE INDEX livechat_open ON livechat (status, bot_id) WHERE status IN ('queued', 'assigned');
CREATE INDEX livechat_closed ON livechat (closed_at) WHERE status = 'closed';
