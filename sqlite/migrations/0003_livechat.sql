-- Livechat: operator accounts and the livechat state of dialogs.

-- Operator accounts are configuration (the knowledge class of the feed: written on the main
-- only), kept whole as JSON like knowledge.
CREATE TABLE accounts (login TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL, updated_at INTEGER NOT NULL);

-- The newest version of the livechat state of each dialog ever handed over (the dialogs class:
-- written wherever the dialog is served). Desks and the dispatcher read the open ones.
CREATE TABLE livechat (
  dialog_id TEXT PRIMARY KEY, bot_id TEXT NOT NULL, status TEXT NOT NULL, operator TEXT NOT NULL,
  version INTEGER NOT NULL, server TEXT NOT NULL, closed_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX livechat_open ON livechat (status, bot_id) WHERE status IN ('queued', 'assigned');
CREATE INDEX livechat_closed ON livechat (closed_at) WHERE status = 'closed';
