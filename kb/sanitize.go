package kb

import (
	"regexp"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
)

// The chatbox inserts answers with innerHTML, so every answer is sanitised when it is written
// (import, admin API, CLI): no script or style element, no event handler attribute, no
// javascript: or data: URL. bluemonday is a well-kept allow-list sanitiser; hand-made
// filtering of HTML is a known source of XSS.
var policy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto", "tel")
	p.RequireNoReferrerOnLinks(false)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^[\w\- ]{1,100}$`)).Globally()
	return p
})

// SanitizeHTML returns html with everything that could run code removed.
func SanitizeHTML(html string) string {
	return strings.TrimSpace(policy().Sanitize(html))
}
