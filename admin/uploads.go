package admin

import (
	"mime"
	"net/http"
	"strconv"

	"github.com/bascule/bascule"
)

// getUpload is GET /uploads/{id}: a visitor's file, as an attachment. It is always served as
// application/octet-stream, whatever the visitor's browser declared, so that a file never
// opens as a page in the operator's browser; X-Bascule-Scan says whether the antivirus
// scanned it (clean) or antivirus.fail_open let it through (unscanned).
func (a *API) getUpload(w http.ResponseWriter, r *http.Request) error {
	u, err := a.opt.KB.Store.Upload(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": u.Name}))
	h.Set("Content-Length", strconv.Itoa(len(u.Data)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("ETag", `"`+u.SHA256+`"`)
	h.Set("X-Bascule-Scan", u.Scan)
	w.WriteHeader(http.StatusOK)
	w.Write(u.Data)
	return nil
}

// dialogUploads lists a dialog's files (without their content) for GET /dialogs/{id}.
func (a *API) dialogUploads(r *http.Request, dialogID string) ([]bascule.Upload, error) {
	list, err := a.opt.KB.Store.Uploads(r.Context(), dialogID)
	return nonNil(list), err
}
