// Package pair makes a main and a backup one service: each pulls the other's change feed over
// HTTPS (long poll, per stream, with a cursor stored in the same transaction as what it
// applied), knows the other's role, refuses knowledge writes when it is not the main, answers
// questions of dialogs that live on the other server by sending them there, and learns, when
// it comes back after a promotion, that it was replaced.
package pair

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bascule/bascule"
)

// Roles, as in the configuration.
const (
	RoleMain       = "main"
	RoleBackup     = "backup"
	RoleStandalone = "standalone"
)

// State is a server's place in the pair, kept with its database (not in its configuration: a
// promotion must survive a restart).
type State struct {
	ServerID string `json:"serverId"`
	Role     string `json:"role"`
	// Epoch grows with each promotion: of two servers that both say main, the higher epoch is
	// the main and the other was replaced.
	Epoch int64 `json:"epoch"`
	// Promoted is set by "bascule promote": the role then wins over the configuration's.
	Promoted bool `json:"promoted,omitempty"`
	// ReplacedBy names the server that was promoted while this one, the old main, was away.
	ReplacedBy string `json:"replacedBy,omitempty"`
	// PublicURL is how visitors and operators reach the server (server.public_url).
	PublicURL string `json:"publicUrl,omitempty"`
}

const stateKey = "pair_state"

// LoadState reads the stored state, or makes the first one from the configured role.
func LoadState(ctx context.Context, st bascule.Store, configured, publicURL string) (State, error) {
	raw, err := st.Meta(ctx, stateKey)
	if err != nil {
		return State{}, err
	}
	s := State{ServerID: st.ServerID(), Role: configured}
	if configured == RoleMain {
		s.Epoch = 1
	}
	if raw != "" {
		var stored State
		if err := json.Unmarshal([]byte(raw), &stored); err != nil {
			return State{}, fmt.Errorf("stored pair state: %w", err)
		}
		switch {
		case stored.ReplacedBy != "" || stored.Promoted:
			s = stored // an event of the pair's life wins over the configuration
		case stored.Epoch > s.Epoch:
			s.Epoch = stored.Epoch
		}
		s.ServerID = st.ServerID()
	}
	s.PublicURL = publicURL
	return s, SaveState(ctx, st, s)
}

// SaveState stores the state.
func SaveState(ctx context.Context, st bascule.Store, s State) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return st.SetMeta(ctx, stateKey, string(b))
}

// Promote makes the server of st the main: the backup takes over when the main is lost for
// good. Its epoch goes above any the pair has known, so the old main, if it comes back,
// learns from it that it was replaced.
func Promote(ctx context.Context, st bascule.Store, configured, publicURL string) (State, error) {
	s, err := LoadState(ctx, st, configured, publicURL)
	if err != nil {
		return s, err
	}
	if s.Role == RoleMain && s.ReplacedBy == "" {
		return s, bascule.Errorf(bascule.CodeConflict, "server %s is already the main (epoch %d)", s.ServerID, s.Epoch)
	}
	peerEpoch := int64(0)
	if raw, err := st.Meta(ctx, peerStateKey); err == nil && raw != "" {
		var p State
		if json.Unmarshal([]byte(raw), &p) == nil {
			peerEpoch = p.Epoch
		}
	}
	s.Role, s.Promoted, s.ReplacedBy = RoleMain, true, ""
	s.Epoch = max(s.Epoch, peerEpoch, 1) + 1
	return s, SaveState(ctx, st, s)
}

// peerStateKey keeps the last state learned from the peer (for promotions while it is away).
const peerStateKey = "pair_peer_state"
