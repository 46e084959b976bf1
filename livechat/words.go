package livechat

import (
	"fmt"
	"html"
)

// What the visitor is told of the hand-over, in the dialog's language (English otherwise).
// Bots give their own escalation answers and failure answers in their knowledge; these are the
// notices around them. Names are escaped: they are written into HTML.

type words struct {
	handover, unavailable, closed, queued, joined, transferred, operatorLeft, ended, leftQueue, visitorLeft string
}

var vocabulary = map[string]words{
	"en": {
		handover:     "<p>I am putting you in touch with an advisor.</p>",
		unavailable:  "<p>No advisor is available at the moment. Please try again later, or ask me your question.</p>",
		closed:       "<p>Our advisors are not available at this time. Please try again during opening hours.</p>",
		queued:       "<p>All our advisors are busy. You are number %d in the queue; expected wait: about %d min.</p>",
		joined:       "<p>%s joined the conversation.</p>",
		transferred:  "<p>%s hands the conversation over to %s.</p>",
		operatorLeft: "<p>%s was disconnected. Another advisor will answer you shortly.</p>",
		ended:        "<p>%s ended the conversation. The assistant is back to help you.</p>",
		leftQueue:    "<p>You left the queue. The assistant is back to help you.</p>",
		visitorLeft:  "<p>The visitor left the conversation.</p>",
	},
	"fr": {
		handover:     "<p>Je vous mets en relation avec un conseiller.</p>",
		unavailable:  "<p>Aucun conseiller n'est disponible pour le moment. Réessayez plus tard, ou posez-moi votre question.</p>",
		closed:       "<p>Nos conseillers ne sont pas disponibles à cette heure. Réessayez pendant les heures d'ouverture.</p>",
		queued:       "<p>Tous nos conseillers sont occupés. Vous êtes le numéro %d dans la file ; attente estimée : environ %d min.</p>",
		joined:       "<p>%s a rejoint la conversation.</p>",
		transferred:  "<p>%s transmet la conversation à %s.</p>",
		operatorLeft: "<p>%s a été déconnecté. Un autre conseiller va vous répondre.</p>",
		ended:        "<p>%s a terminé la conversation. L'assistant est de retour pour vous aider.</p>",
		leftQueue:    "<p>Vous avez quitté la file d'attente. L'assistant est de retour pour vous aider.</p>",
		visitorLeft:  "<p>Le visiteur a quitté la conversation.</p>",
	},
}

func say(lang string) words {
	if w, ok := vocabulary[lang]; ok {
		return w
	}
	return vocabulary["en"]
}

// queuedText tells the visitor their place in the queue.
func (w words) queuedText(position int, wait int) string {
	return fmt.Sprintf(w.queued, position, max((wait+59)/60, 1))
}

func (w words) name(format string, names ...string) string {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = html.EscapeString(n)
	}
	return fmt.Sprintf(format, args...)
}
