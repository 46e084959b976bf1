package pair

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/engine"
	"github.com/bascule/bascule/internal/httpx"
)

// The peer API, served on the peer listener only (HTTPS; client certificates or a secret).
const (
	pathChanges = "/peer/v1/changes"
	pathState   = "/peer/v1/state"
	pathTalk    = "/peer/v1/talk"
)

// maxBatch bounds the changes of one answer.
const maxBatch = 2000

// ChangesResponse is the answer to a pull.
type ChangesResponse struct {
	State   State            `json:"state"`
	Now     time.Time        `json:"now"`  // the peer's clock, to measure lag without trusting ours
	Last    int64            `json:"last"` // the newest seq of the stream
	Changes []bascule.Change `json:"changes"`
}

// StateResponse is the answer to a state query.
type StateResponse struct {
	State State     `json:"state"`
	Now   time.Time `json:"now"`
}

// Handler serves the peer API; talker answers the questions the peer forwards.
func (n *Node) Handler(talker *engine.Engine) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathChanges, n.serveChanges)
	mux.HandleFunc("GET "+pathState, func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, StateResponse{State: n.State(), Now: n.opt.Now()})
	})
	mux.HandleFunc("POST "+pathTalk, func(w http.ResponseWriter, r *http.Request) {
		var req engine.TalkRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 256<<10)).Decode(&req); err != nil {
			httpx.WriteError(w, r, n.opt.Log, bascule.FieldErrorf("body", "not a talk request: %v", err))
			return
		}
		req.Forwarded = true
		res, err := talker.Talk(r.Context(), &req)
		if err != nil {
			httpx.WriteError(w, r, n.opt.Log, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, res)
	})
	return httpx.Recover(n.opt.Log, n.authenticate(mux))
}

// authenticate refuses requests without the shared secret when one is configured. Client
// certificates, when a CA is configured, are checked by the TLS listener itself.
func (n *Node) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			httpx.WriteError(w, r, n.opt.Log, bascule.Errorf(bascule.CodeUnauthorized, "the peer API is served over TLS only"))
			return
		}
		if n.opt.Secret != "" {
			got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(n.opt.Secret)) != 1 {
				httpx.WriteError(w, r, n.opt.Log, bascule.Errorf(bascule.CodeUnauthorized, "wrong or missing peer secret"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// serveChanges answers a pull: the stream's changes after since, waiting up to wait for the
// first one when there is none yet (long poll: a change reaches the peer as soon as it is
// committed, without polling every few milliseconds).
func (n *Node) serveChanges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	class := bascule.FeedClass(q.Get("class"))
	if class != bascule.ClassKnowledge && class != bascule.ClassDialogs {
		httpx.WriteError(w, r, n.opt.Log, bascule.FieldErrorf("class", "must be knowledge or dialogs"))
		return
	}
	since, err := strconv.ParseInt(q.Get("since"), 10, 64)
	if err != nil || since < 0 {
		httpx.WriteError(w, r, n.opt.Log, bascule.FieldErrorf("since", "must be a sequence number"))
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	limit = min(max(limit, 1), maxBatch)
	wait, _ := time.ParseDuration(q.Get("wait"))
	wait = min(max(wait, 0), 5*time.Minute)
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	st := n.opt.Store
	for {
		sig := st.ChangeSignal() // taken before reading, so a commit in between is not missed
		changes, err := st.Changes(r.Context(), class, since, limit)
		if err != nil {
			if r.Context().Err() == nil { // a puller that went away is not an error
				httpx.WriteError(w, r, n.opt.Log, err)
			}
			return
		}
		if len(changes) > 0 || ctx.Err() != nil {
			last, err := st.ClassSeq(r.Context(), class)
			if err != nil {
				httpx.WriteError(w, r, n.opt.Log, err)
				return
			}
			if changes == nil {
				changes = []bascule.Change{}
			}
			httpx.WriteJSON(w, http.StatusOK, ChangesResponse{State: n.State(), Now: n.opt.Now(), Last: last, Changes: changes})
			return
		}
		select {
		case <-sig:
		case <-ctx.Done():
		}
	}
}
