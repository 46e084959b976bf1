package chatapi

import (
	"context"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/httpx"
)

// Application statuses, as dydu's server status API names them.
const (
	StatusOk      = "Ok"
	StatusKo      = "Ko"
	StatusWarning = "Warning"
	StatusUnknown = "Unknown"
)

// Check is the state of one application the server depends on (its database, its peer, the
// antivirus...), as listed by serverstatus?details=true.
type Check struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	DurationMs int64  `json:"durationMs"`
	Message    string `json:"message,omitempty"`
}

// Status builds the answers of serverstatus, /healthz and /readyz. Components register checks
// (the database, the peer...) and sections (replication, dumps, proxy...) as they are wired.
type Status struct {
	ServerID string
	Role     func() string
	DataDir  string // volumes are measured here

	mu       sync.Mutex
	checks   []checkFunc
	sections []section
	counters func() (requests, talks, failures int64)
}

type checkFunc struct {
	name string
	// critical checks make the server not ready (serverstatus answers 503, so a chatbox
	// switches to the other server before sending its question).
	critical bool
	fn       func(ctx context.Context) error
}

type section struct {
	name string
	fn   func(ctx context.Context) any
}

// AddCheck registers a check. A failing critical check makes serverstatus and /readyz
// answer 503; a failing non-critical one is a Warning.
func (s *Status) AddCheck(name string, critical bool, fn func(ctx context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, checkFunc{name, critical, fn})
}

// AddSection registers a part of the detailed status (replication, dumps, proxy...).
func (s *Status) AddSection(name string, fn func(ctx context.Context) any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sections = append(s.sections, section{name, fn})
}

// run evaluates the checks; ready is false when a critical one failed.
func (s *Status) run(ctx context.Context) (checks []Check, ready bool) {
	s.mu.Lock()
	fns := append([]checkFunc(nil), s.checks...)
	s.mu.Unlock()
	ready = true
	for _, c := range fns {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		err := c.fn(cctx)
		cancel()
		ch := Check{Name: c.name, Status: StatusOk, DurationMs: time.Since(start).Milliseconds()}
		if err != nil {
			ch.Message = err.Error()
			ch.Status = StatusWarning
			if c.critical {
				ch.Status, ready = StatusKo, false
			}
		}
		checks = append(checks, ch)
	}
	return checks, ready
}

type volume struct {
	Name       string `json:"name"`
	Path       string `json:"path"`
	TotalBytes uint64 `json:"totalBytes"`
	FreeBytes  uint64 `json:"freeBytes"`
	Status     string `json:"status"`
}

func (s *Status) volumes() []volume {
	if s.DataDir == "" {
		return nil
	}
	v := volume{Name: "data", Path: s.DataDir, Status: StatusUnknown}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.DataDir, &st); err == nil {
		v.TotalBytes, v.FreeBytes = st.Blocks*uint64(st.Bsize), st.Bavail*uint64(st.Bsize)
		v.Status = StatusOk
		if v.TotalBytes > 0 && v.FreeBytes < v.TotalBytes/20 {
			v.Status = StatusWarning // under 5% free
		}
	}
	return []volume{v}
}

// serverStatus is GET serverstatus (§8.1): {"status":"Ok"} by default; with details=true,
// dydu's volumes, applications and request counters plus this server's identity and the
// registered sections. It answers 503 when a critical check fails, so that a chatbox that
// probes it while the visitor types switches server before the question is sent.
func (a *API) serverStatus(w http.ResponseWriter, r *http.Request) error {
	s := a.opt.Status
	if s == nil {
		httpx.WriteRaw(w, http.StatusOK, []byte(`{"status":"Ok"}`))
		return nil
	}
	checks, ready := s.run(r.Context())
	code, overall := http.StatusOK, StatusOk
	if !ready {
		code, overall = http.StatusServiceUnavailable, StatusKo
	}
	if r.URL.Query().Get("details") != "true" {
		httpx.WriteJSON(w, code, map[string]string{"status": overall})
		return nil
	}
	reqs, talks, fails := a.Counters()
	role := ""
	if s.Role != nil {
		role = s.Role()
	}
	body := map[string]any{
		"status":       overall,
		"volumes":      s.volumes(),
		"applications": checks,
		"requests":     map[string]int64{"total": reqs, "talk": talks, "errors": fails},
		"server":       map[string]string{"id": s.ServerID, "role": role, "version": bascule.Version},
	}
	s.mu.Lock()
	secs := append([]section(nil), s.sections...)
	s.mu.Unlock()
	for _, sec := range secs {
		body[sec.name] = sec.fn(r.Context())
	}
	httpx.WriteJSON(w, code, body)
	return nil
}

// Healthz answers 200 while the process runs (liveness).
func Healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// Readyz answers 200 when every critical check passes, 503 otherwise (readiness).
func (s *Status) Readyz(w http.ResponseWriter, r *http.Request) {
	checks, ready := s.run(r.Context())
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	httpx.WriteJSON(w, code, map[string]any{"ready": ready, "applications": checks})
}
