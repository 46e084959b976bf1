package web

import (
	_ "embed"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

//go:embed demo.html
var demoHTML string

var demoPage = template.Must(template.New("demo").Parse(demoHTML))

// demoText is the shop's copy in one language.
type demoText struct {
	Tagline, Intro, Menu, Shop, DeliveryLink, OtherLang      string
	SwitchTitle, SwitchText, Stop, Start, Up, Down           string
	DeliveryTitle, DeliveryText, HelpTitle, HelpText, Footer string
	Products                                                 []demoProduct
}

type demoProduct struct{ Name, Text, Price, Color string }

var demoTexts = map[string]demoText{
	"en": {
		SwitchTitle: "Watch the switch",
		SwitchText:  "This demo runs a main and a backup server. Ask the assistant a question, stop the main, ask another: the backup answers, in the same conversation. Start the main again: the conversation in progress stays on the backup, a new one goes to the main.",
		Stop:        "Stop the main", Start: "Start the main", Up: "up", Down: "down",
		Tagline: "Things for a calm home", Menu: "Main menu", Shop: "Shop", DeliveryLink: "Delivery", OtherLang: "Français",
		Intro:         "Linen, stoneware and lamps, made to last and delivered to your door. Questions about an order? Our assistant answers day and night.",
		DeliveryTitle: "Delivery and returns",
		DeliveryText:  "Orders ship within two working days. You can return any item within 30 days. The assistant in the corner knows the details, and it keeps your conversation as you move from page to page.",
		HelpTitle:     "Need a hand?",
		HelpText:      "Open the assistant at the bottom right: ask where your order is, how to return an item or when a store opens.",
		Footer:        "Maison Bascule is a demo shop. Its assistant runs on Bascule; when the main server fails, the backup answers the next question.",
		Products: []demoProduct{
			{"Linen throw", "Washed linen, 130 × 170 cm.", "€89", "#c9b79c"},
			{"Stoneware mugs", "Set of four, glazed by hand.", "€42", "#8a9a8c"},
			{"Oak desk lamp", "Solid oak, warm LED.", "€129", "#b08452"},
			{"Wool cushion", "Undyed wool, 45 × 45 cm.", "€55", "#d8d2c4"},
		},
	},
	"fr": {
		SwitchTitle: "Voir la bascule",
		SwitchText:  "Cette démo fait tourner un serveur principal et un serveur de secours. Posez une question à l’assistant, arrêtez le principal, posez-en une autre : le secours répond, dans la même conversation. Redémarrez le principal : la conversation en cours reste sur le secours, une nouvelle va au principal.",
		Stop:        "Arrêter le principal", Start: "Démarrer le principal", Up: "en marche", Down: "arrêté",
		Tagline: "Des objets pour une maison calme", Menu: "Menu principal", Shop: "Boutique", DeliveryLink: "Livraison", OtherLang: "English",
		Intro:         "Linge de lin, grès et luminaires, faits pour durer et livrés chez vous. Une question sur une commande ? Notre assistant répond jour et nuit.",
		DeliveryTitle: "Livraison et retours",
		DeliveryText:  "Les commandes partent sous deux jours ouvrés. Vous pouvez retourner un article sous 30 jours. L’assistant en bas de page connaît les détails, et garde votre conversation d’une page à l’autre.",
		HelpTitle:     "Besoin d’aide ?",
		HelpText:      "Ouvrez l’assistant en bas à droite : demandez où en est votre commande, comment retourner un article ou quand un magasin ouvre.",
		Footer:        "Maison Bascule est une boutique de démonstration. Son assistant tourne sur Bascule ; si le serveur principal tombe, le serveur de secours répond à la question suivante.",
		Products: []demoProduct{
			{"Plaid en lin", "Lin lavé, 130 × 170 cm.", "89 €", "#c9b79c"},
			{"Tasses en grès", "Lot de quatre, émaillées à la main.", "42 €", "#8a9a8c"},
			{"Lampe de bureau en chêne", "Chêne massif, LED chaude.", "129 €", "#b08452"},
			{"Coussin en laine", "Laine non teinte, 45 × 45 cm.", "55 €", "#d8d2c4"},
		},
	},
}

func first(ss []string, i int) string {
	if i < len(ss) {
		return ss[i]
	}
	return ""
}

// demo serves the demo shop. ?lang=fr|en picks the language, ?mode=popin|teaser the chatbox's
// integration; the links keep both.
func (h *Handler) demo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lang, other := "en", "fr"
	if q.Get("lang") == "fr" {
		lang, other = "fr", "en"
	}
	mode := "teaser"
	if q.Get("mode") == "popin" {
		mode = "popin"
	}
	link := func(p, l string) string {
		v := url.Values{}
		if l != "en" {
			v.Set("lang", l)
		}
		if mode != "teaser" {
			v.Set("mode", mode)
		}
		if len(v) == 0 {
			return p
		}
		return p + "?" + v.Encode()
	}
	page := r.URL.Path
	if page == "/demo" {
		page = "/"
	}
	data := map[string]any{
		"Lang": lang, "OtherLang": other, "T": demoTexts[lang], "Mode": mode, "Bot": h.opt.Bot,
		"Servers":    strings.Join(h.opt.Servers, " "),
		"Controls":   h.opt.Controls,
		"Main":       first(h.opt.Servers, 0),
		"Backup":     first(h.opt.Servers, 1),
		"OnDelivery": page == "/delivery",
		"Home":       link("/", lang), "Delivery": link("/delivery", lang), "Other": link(page, other),
	}
	var b strings.Builder
	if err := demoPage.Execute(&b, data); err != nil {
		http.Error(w, "demo page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write([]byte(b.String()))
}
