package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"os"
	"strings"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/clamav"
)

// UploadOptions configure the files visitors send to bots that accept them
// (BotSettings.Uploads).
type UploadOptions struct {
	// Antivirus scans every file before it is stored (nil: none is configured, and files are
	// refused unless FailOpen).
	Antivirus Antivirus
	// FailOpen stores a file the antivirus could not scan (none configured, or unreachable)
	// instead of refusing it. Each such file is logged as an error and stored as unscanned.
	FailOpen bool
	// MaxSize bounds a file (default DefaultMaxUpload).
	MaxSize int64
	// ScanTimeout bounds a scan (default 30 s): an antivirus that hangs refuses the file.
	ScanTimeout time.Duration
	// SpoolDir is where a file waits while it is scanned ("": the system's temporary directory).
	SpoolDir string
}

// DefaultMaxUpload is the largest file a visitor may send unless configured otherwise.
const DefaultMaxUpload = 10 << 20

// maxStoringUploads bounds the files read into memory at once to be stored: a file is spooled
// to disk while it is scanned, but the database takes it as one value.
const maxStoringUploads = 4

// maxDialogUploads bounds the files of one dialog: a visitor sends a few documents, and the
// bound keeps one dialog from filling the database with files of the size limit.
const maxDialogUploads = 20

func (o *UploadOptions) defaults() {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxUpload
	}
	if o.ScanTimeout <= 0 {
		o.ScanTimeout = 30 * time.Second
	}
}

// Antivirus scans a file before it is stored; *clamav.Client is the one a server uses. A nil
// error means clean. Errors with bascule.CodeInfected (the Result names the signature),
// bascule.CodeLimit (more than the antivirus accepts) and bascule.CodeUnavailable (no verdict)
// refuse the file; any other error is the reader's.
type Antivirus interface {
	Scan(ctx context.Context, r io.Reader) (clamav.Result, error)
}

// UploadRequest is a file a visitor sends in a dialog.
type UploadRequest struct {
	ContextID   string // the dialog
	Name        string // the file's name, as the browser gave it
	ContentType string // as the browser declared it
	Client      string // the visitor's address, for the audit log
}

// MaxUpload returns the largest file accepted.
func (e *Engine) MaxUpload() int64 { return e.opt.Uploads.MaxSize }

// uploadsOpen reports whether the bot takes files on this server: the bot allows them, and
// the server can scan them or is told to take them unscanned.
func (e *Engine) uploadsOpen(bot *Bot) bool {
	return bot.KB.Bot.Settings.Uploads && (e.opt.Uploads.Antivirus != nil || e.opt.Uploads.FailOpen)
}

// Upload receives a visitor's file for a live dialog of a bot that accepts files: it is copied
// to a spool file while the antivirus reads it, within the size limit, and stored only once
// the antivirus found it clean. It returns the stored upload (without its content) and a
// message for the visitor. Refusals are *bascule.Error whose message is for the visitor, in
// the dialog's language; an infected file is refused with an audit log line (the signature,
// the dialog, the visitor's address; never the content).
func (e *Engine) Upload(ctx context.Context, req *UploadRequest, body io.Reader) (*bascule.Upload, string, error) {
	w := uploadWords["en"]
	refuse := func(code bascule.Code, msg string) (*bascule.Upload, string, error) {
		return nil, "", &bascule.Error{Code: code, Message: msg}
	}
	if !bascule.IsID(req.ContextID) {
		return refuse(bascule.CodeNotFound, w.ended)
	}
	d, err := e.store.Dialog(ctx, req.ContextID)
	if errors.Is(err, bascule.ErrNotFound) {
		return refuse(bascule.CodeNotFound, w.ended)
	}
	if err != nil {
		return nil, "", err
	}
	bot, err := e.Bot(ctx, d.BotID)
	if err != nil {
		return nil, "", err
	}
	if t, ok := uploadWords[bot.Language(d.Language)]; ok {
		w = t
	}
	name := fileName(req.Name)
	switch {
	case !bot.KB.Bot.Settings.Uploads:
		return refuse(bascule.CodeInvalid, w.closed)
	case !d.Live(e.opt.Now(), e.opt.Idle):
		return refuse(bascule.CodeNotFound, w.ended)
	}
	sent, err := e.store.Uploads(ctx, d.ID)
	if err != nil {
		return nil, "", err
	}
	if len(sent) >= maxDialogUploads {
		return refuse(bascule.CodeLimit, fmt.Sprintf(w.tooMany, maxDialogUploads))
	}
	spool, err := os.CreateTemp(e.opt.Uploads.SpoolDir, "bascule-upload-")
	if err != nil {
		return nil, "", fmt.Errorf("spool an upload: %w", err)
	}
	// The name goes at once: the file lives while it is open, and a crash leaves nothing.
	os.Remove(spool.Name())
	defer spool.Close()
	audit := []slog.Attr{slog.String("dialog", d.ID), slog.String("bot", d.BotID), slog.String("client", req.Client), slog.String("file", name)}
	size, scan, err := e.receive(ctx, body, spool, audit, w)
	if err != nil {
		return nil, "", err
	}
	if size == 0 {
		return refuse(bascule.CodeInvalid, w.empty)
	}
	select {
	case e.storing <- struct{}{}:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	defer func() { <-e.storing }()
	data := make([]byte, size)
	if _, err := spool.ReadAt(data, 0); err != nil {
		return nil, "", fmt.Errorf("read the spooled upload: %w", err)
	}
	sum := sha256.Sum256(data)
	now := e.opt.Now().UTC().Truncate(time.Millisecond)
	u := &bascule.Upload{ID: bascule.NewOrderedID(now), DialogID: d.ID, BotID: d.BotID, Name: name, ContentType: mediaType(req.ContentType),
		Size: size, SHA256: hex.EncodeToString(sum[:]), Scan: scan, At: now, Server: e.store.ServerID(), Data: data}
	if err := e.store.SaveUpload(ctx, u); err != nil {
		return nil, "", err
	}
	u.Data = nil
	e.opt.Log.LogAttrs(ctx, slog.LevelInfo, "upload stored", append(audit, slog.String("upload", u.ID), slog.Int64("bytes", size),
		slog.String("sha256", u.SHA256), slog.String("scan", scan))...)
	return u, fmt.Sprintf(w.received, name), nil
}

// receive copies the file to spool while the antivirus reads it, and returns its size and
// the scan's verdict. Refusals by the antivirus are logged here, with audit's attributes.
func (e *Engine) receive(ctx context.Context, body io.Reader, spool io.Writer, audit []slog.Attr, w uploadText) (int64, string, error) {
	o := &e.opt.Uploads
	in := &counter{r: io.LimitReader(body, o.MaxSize+1)} // one byte more tells a file too large
	tee := io.TeeReader(in, spool)
	var res clamav.Result
	var err error
	if o.Antivirus == nil {
		err = bascule.Errorf(bascule.CodeUnavailable, "no antivirus is configured (antivirus.addr)")
	} else {
		sctx, cancel := context.WithTimeout(ctx, o.ScanTimeout)
		res, err = o.Antivirus.Scan(sctx, tee)
		cancel()
	}
	tooLarge := &bascule.Error{Code: bascule.CodeLimit, Message: fmt.Sprintf(w.tooLarge, humanSize(o.MaxSize))}
	scan := bascule.ScanClean
	switch code := bascule.ErrorCode(err); {
	case err == nil:
	case ctx.Err() != nil:
		return 0, "", ctx.Err() // the visitor left: nobody waits for a verdict
	case code == bascule.CodeInfected:
		e.opt.Log.LogAttrs(ctx, slog.LevelWarn, "upload refused: the antivirus found a virus",
			append(audit, slog.String("signature", res.Signature), slog.Int64("bytes", in.n))...)
		return 0, "", &bascule.Error{Code: bascule.CodeInfected, Message: fmt.Sprintf(w.infected, res.Signature)}
	case code == bascule.CodeLimit:
		return 0, "", tooLarge
	case code == bascule.CodeUnavailable && o.FailOpen:
		e.opt.Log.LogAttrs(ctx, slog.LevelError, "UPLOAD NOT SCANNED, stored all the same because antivirus.fail_open is true",
			append(audit, slog.String("err", err.Error()))...)
		scan = bascule.ScanSkipped
	case code == bascule.CodeUnavailable:
		e.opt.Log.LogAttrs(ctx, slog.LevelError, "upload refused: the antivirus gave no verdict (antivirus.fail_open is false)",
			append(audit, slog.String("err", err.Error()))...)
		return 0, "", &bascule.Error{Code: bascule.CodeUnavailable, Message: w.unavailable, Err: err}
	default:
		return 0, "", err // reading the visitor's file failed
	}
	// An antivirus that could not be reached read nothing: the rest of the file is spooled now.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return 0, "", err
	}
	if in.n > o.MaxSize {
		return 0, "", tooLarge
	}
	return in.n, scan, nil
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// fileName keeps the last element of the name a browser gave (old browsers send the whole
// path), cleaned like any visitor input.
func fileName(name string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	if name = limit(name, 255); name == "" {
		return "file"
	}
	return name
}

// mediaType keeps the type a browser declared when it is one.
func mediaType(ct string) string {
	t, _, err := mime.ParseMediaType(ct)
	if err != nil || len(t) > 100 {
		return "application/octet-stream"
	}
	return t
}

// humanSize writes a byte count for people: 10 MiB, 64 KiB, 1500 bytes.
func humanSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// uploadText is what the visitor reads about a file.
type uploadText struct {
	closed, ended, tooMany, empty, tooLarge, infected, unavailable, received string
}

var uploadWords = map[string]uploadText{
	"en": {
		closed:      "This assistant does not accept files.",
		ended:       "This conversation has ended: start a new one to send a file.",
		tooMany:     "This conversation already holds %d files, as many as it can.",
		empty:       "This file is empty.",
		tooLarge:    "This file is too large: the limit is %s.",
		infected:    "Our antivirus found a virus in this file (%s). It was not accepted.",
		unavailable: "Files cannot be checked for viruses at the moment, so none are accepted. Please try again later.",
		received:    "File received: %s.",
	},
	"fr": {
		closed:      "Cet assistant n’accepte pas de fichiers.",
		ended:       "Cette conversation est terminée : commencez-en une nouvelle pour envoyer un fichier.",
		tooMany:     "Cette conversation contient déjà %d fichiers, autant qu’elle peut en recevoir.",
		empty:       "Ce fichier est vide.",
		tooLarge:    "Ce fichier est trop volumineux : la limite est de %s.",
		infected:    "Notre antivirus a trouvé un virus dans ce fichier (%s). Il n’a pas été accepté.",
		unavailable: "Les fichiers ne peuvent pas être vérifiés par l’antivirus pour le moment ; aucun n’est accepté. Réessayez plus tard.",
		received:    "Fichier reçu : %s.",
	},
}
