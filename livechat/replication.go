package livechat

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/bascule/bascule"
)

// ObserveReplication returns store, whose Apply also tells this server's chatboxes and desks
// what the peer changed in livechats: an operator on one server and a visitor on the other
// (each stays where they are after a failover, until they move) hear from each other as soon
// as the change is applied. The pair applies the peer's changes through it.
func ObserveReplication(store bascule.Store, bus bascule.Bus) bascule.Store {
	return &observer{Store: store, bus: bus}
}

type observer struct {
	bascule.Store
	bus bascule.Bus
}

// livechatTypes are the answer types of interactions that belong to a livechat.
var livechatTypes = append([]string{bascule.TypeOperator, bascule.TypeVisitorMessage, bascule.TypeLivechatStarted,
	bascule.TypeLivechatQueued}, notices...)

// Apply implements bascule.FeedStore.
func (o *observer) Apply(ctx context.Context, origin string, class bascule.FeedClass, changes []bascule.Change, cursor int64) error {
	if err := o.Store.Apply(ctx, origin, class, changes, cursor); err != nil {
		return err
	}
	dialogs := map[string]string{} // dialog -> bot
	var queues []string            // bots whose queue may have changed
	accounts := false
	for i := range changes {
		c := &changes[i]
		switch c.Entity {
		case bascule.EntityLivechat:
			var st bascule.LivechatState
			if json.Unmarshal(c.Data, &st) == nil {
				dialogs[st.DialogID] = st.BotID
				queues = append(queues, st.BotID)
			}
		case bascule.EntityInteraction:
			var in bascule.Interaction
			if json.Unmarshal(c.Data, &in) == nil && slices.Contains(livechatTypes, in.Type) {
				dialogs[in.DialogID] = in.BotID
			}
		case bascule.EntityAccount:
			accounts = true
		}
	}
	for id, bot := range dialogs {
		e, _ := json.Marshal(Event{Dialog: id, Bot: bot, What: EventUpdate})
		o.bus.Publish(ctx, dialogTopic+id, e)
		o.bus.Publish(ctx, deskTopic, e)
	}
	slices.Sort(queues)
	for _, bot := range slices.Compact(queues) {
		waiting, err := o.Store.LivechatStates(ctx, bascule.LivechatFilter{BotID: bot, Open: true})
		if err != nil {
			continue // the dialogs' own events went out; positions refresh at the next change
		}
		e, _ := json.Marshal(Event{Bot: bot, What: EventUpdate})
		for _, st := range waiting {
			if st.Status == bascule.LivechatQueued {
				if _, done := dialogs[st.DialogID]; !done {
					o.bus.Publish(ctx, dialogTopic+st.DialogID, e)
				}
			}
		}
	}
	if accounts {
		e, _ := json.Marshal(Event{What: EventOperators})
		o.bus.Publish(ctx, deskTopic, e)
	}
	return nil
}
