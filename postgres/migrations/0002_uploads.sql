-- Bascule schema, version 2, for PostgreSQL: sqlite/migrations/0002_uploads.sql, the files
-- visitors send, with the same columns in the same order. The content is bytea.

CREATE TABLE uploads (
  id TEXT COLLATE "C" PRIMARY KEY, dialog_id TEXT COLLATE "C" NOT NULL, bot_id TEXT COLLATE "C" NOT NULL,
  name TEXT NOT NULL, content_type TEXT NOT NULL, size BIGINT NOT NULL, sha256 TEXT COLLATE "C" NOT NULL,
  scan TEXT COLLATE "C" NOT NULL, at BIGINT NOT NULL, server TEXT COLLATE "C" NOT NULL, data BYTEA NOT NULL);
CREATE INDEX uploads_dialog ON uploads (dialog_id, at);

-- A dialog's files go with it, whatever deletes the dialog (a GDPR erasure made here or applied
-- from the peer): no code path can leave a visitor's file behind its dialog.
CREATE FUNCTION uploads_follow_their_dialog() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM uploads WHERE dialog_id = OLD.id;
  RETURN OLD;
END $$;
CREATE TRIGGER uploads_follow_their_dialog AFTER DELETE ON dialogs
  FOR EACH ROW EXECUTE FUNCTION uploads_follow_their_dialog();
