package chatapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/engine"
)

// uploadPath is the servlet that receives visitors' files, under each servlet prefix.
const uploadPath = "fileupload"

// uploadField is the part the dydu chatbox puts its file in (its fin parameter).
const uploadField = "dydu-upload-file"

// multipartOverhead is what an upload's body may hold beyond its file: the boundaries, the
// part headers, a few small fields.
const multipartOverhead = 64 << 10

// callbackName accepts a JavaScript identifier, such as the dydu chatbox's
// dyduUploadCallBack_0PW: the name is written into the answer, so nothing else may be.
var callbackName = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]{0,63}$`)

// isUpload reports whether a request is for the upload servlet, whose body limit is the
// upload's rather than the chat API's.
func isUpload(path string) bool {
	for _, p := range servletPrefixes {
		if path == p+uploadPath {
			return true
		}
	}
	return false
}

// fileUpload is the servlet fileupload (reference §8.21):
// POST fileupload?ctx=CTX&fin=dydu-upload-file&cb=NAME&origin=..., multipart/form-data with
// the file in the part fin names. The answer is what the dydu chatbox parses: text holding
// {"api":"fileupload","params":{"status":"ok"|"fail","message":"..."}}, inside
// <script>NAME(...)</script> when a callback name is given. A refusal is a 200 with status
// fail, because the chatbox retries and switches servers on an error status; only an
// antivirus that gives no verdict answers 503, so that a chatbox may try the other server,
// whose antivirus may answer.
func (a *API) fileUpload(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	field := q.Get("fin")
	if field == "" {
		field = uploadField
	}
	u, msg, err := a.receiveUpload(r, strings.ToLower(q.Get("ctx")), field)
	status, params := http.StatusOK, map[string]string{"status": "ok", "message": msg}
	if err == nil {
		params["id"] = u.ID
	} else {
		if errors.Is(err, context.Canceled) {
			return nil // the visitor left; nobody reads an answer
		}
		a.failures.Add(1)
		params = map[string]string{"status": "fail", "message": a.uploadRefusal(r, err)}
		if bascule.ErrorCode(err) == bascule.CodeUnavailable {
			status = http.StatusServiceUnavailable
		}
	}
	body, _ := json.Marshal(map[string]any{"api": uploadPath, "params": params}) // strings only: never fails
	if cb := q.Get("cb"); callbackName.MatchString(cb) {
		body = []byte("<script>" + cb + "(" + string(body) + ")</script>")
	}
	h := w.Header()
	// Plain text: the chatbox reads the answer's text, and a browser sent here by another site
	// must not run the script. (encoding/json escapes < and >, so no value closes it either.)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
	return nil
}

// receiveUpload finds the file's part in the multipart body and gives it to the engine as it
// arrives: nothing is buffered here.
func (a *API) receiveUpload(r *http.Request, contextID, field string) (*bascule.Upload, string, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, "", bascule.FieldErrorf("body", "send the file as multipart/form-data")
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, "", bascule.FieldErrorf(field, "no file in the request")
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, "", mbe
		}
		if err != nil {
			return nil, "", bascule.FieldErrorf("body", "not a valid multipart/form-data body")
		}
		if part.FormName() != field {
			part.Close()
			continue
		}
		defer part.Close()
		return a.opt.Engine.Upload(r.Context(), &engine.UploadRequest{ContextID: contextID, Name: part.FileName(),
			ContentType: part.Header.Get("Content-Type"), Client: a.opt.Proxies.ClientIP(r)}, part)
	}
}

// uploadRefusal is what the visitor reads when a file is refused: the product's message, or
// a generic one (the error is logged then; it may hold internal details).
func (a *API) uploadRefusal(r *http.Request, err error) string {
	var be *bascule.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &be) && be.Code != bascule.CodeInternal:
		return be.Message
	case errors.As(err, &mbe):
		return "This request is too large."
	}
	a.opt.Log.ErrorContext(r.Context(), "upload failed", "path", r.URL.Path, "err", err)
	return "The file could not be received. Please try again."
}
