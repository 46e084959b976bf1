package desk

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/livechat"
)

// keepAlive is how often an idle stream sends a comment: proxies keep it open, and a desk
// whose server died notices it (the read fails) and moves to the other server.
const keepAlive = 10 * time.Second

// events is the desk's push channel (server-sent events, read with fetch so that the session
// goes in a header): hello (the operator, their status, the servers), the dialogs the desk
// shows, then each change as it happens (dialog, gone, typing, operators). The operator is at
// the desk while the stream is open; ?status= sets their status when it opens (a desk that
// moved to the other server keeps the status it had).
func (h *Handler) events(c *call) error {
	lc := h.opt.Livechat
	ctx := c.r.Context()
	watch, err := lc.OpenDesk(ctx, c.op, c.r.URL.Query().Get("status"))
	if err != nil {
		return err
	}
	defer watch.Close()
	rc := http.NewResponseController(c.w)
	_ = rc.SetWriteDeadline(time.Time{})
	hd := c.w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("X-Accel-Buffering", "no")
	c.w.WriteHeader(http.StatusOK)
	send := func(event string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(c.w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		return nil
	}
	servers := h.servers()
	if err := send("hello", map[string]any{"operator": c.op.Public(), "status": lc.Status(c.op.Login), "servers": servers}); err != nil {
		return nil
	}
	shown := map[string]bool{} // dialogs on the desk now
	list, err := lc.Dialogs(ctx, c.op)
	if err != nil {
		return err
	}
	for _, d := range list {
		shown[d.DialogID] = true
	}
	send("dialogs", list)
	if ops, err := lc.Operators(ctx); err == nil {
		send("operators", ops)
	}
	rc.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if s := h.servers(); s != servers {
				servers = s
				send("servers", s)
			}
			io.WriteString(c.w, ": ping\n\n")
		case b := <-watch.Events:
			e := livechat.ParseEvent(b)
			switch e.What {
			case livechat.EventOperators:
				ops, err := lc.Operators(ctx)
				if err != nil {
					continue
				}
				send("operators", ops)
			case livechat.EventTyping:
				if shown[e.Dialog] && e.Who == "" {
					send("typing", map[string]any{"dialog": e.Dialog, "on": e.On, "preview": e.Preview})
				}
			case livechat.EventUpdate:
				if e.Dialog == "" {
					continue
				}
				d, err := lc.Dialog(ctx, c.op, e.Dialog, false)
				switch {
				case err == nil:
					shown[e.Dialog] = true
					send("dialog", d)
				case bascule.ErrorCode(err) == bascule.CodeNotFound && shown[e.Dialog]:
					delete(shown, e.Dialog)
					send("gone", map[string]string{"dialog": e.Dialog})
				}
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}
