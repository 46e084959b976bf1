-- Bascule schema, version 2: the files visitors send, scanned by the antivirus before they are
-- stored here. The content is a blob in the row: a file is bounded by uploads.max_size (10 MiB
-- by default), and keeping it in the database makes it part of every transaction, replication
-- and dump like the rest of the dialog, with no second storage to keep in step.

CREATE TABLE uploads (
  id TEXT PRIMARY KEY, dialog_id TEXT NOT NULL, bot_id TEXT NOT NULL, name TEXT NOT NULL,
  content_type TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, scan TEXT NOT NULL,
  at INTEGER NOT NULL, server TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX uploads_dialog ON uploads (dialog_id, at);

-- A dialog's files go with it, whatever deletes the dialog (a GDPR erasure made here or applied
-- from the peer): no code path can leave a visitor's file behind its dialog.
CREATE TRIGGER uploads_follow_their_dialog AFTER DELETE ON dialogs
BEGIN
  DELETE FROM uploads WHERE dialog_id = OLD.id;
END;
