// Package bundle builds the chatbox from web/src with esbuild: the loader (loader.js, with the
// teaser's style inlined) and the full chatbox (chatbox.HASH.js and chatbox.HASH.css, named
// after their content so that browsers may cache them for a year), and the operator desk
// (desk.HASH.js and desk.HASH.css, named the same way). `go generate ./web/...`
// writes the result to web/dist; a test rebuilds it in memory with the same options to prove
// web/dist is not stale.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// Build builds the chatbox from the sources in dir (web/src) and returns the files of web/dist
// by name.
func Build(dir string) (map[string][]byte, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	teaser, err := build(dir, "teaser.css", nil)
	if err != nil {
		return nil, err
	}
	js, err := build(dir, "chatbox/main.js", nil)
	if err != nil {
		return nil, err
	}
	css, err := build(dir, "chatbox.css", nil)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(string(js) + "\x00" + string(css)))
	name := "chatbox." + hex.EncodeToString(sum[:5])
	teaserText, err := json.Marshal(strings.TrimSpace(string(teaser)))
	if err != nil {
		return nil, err
	}
	loader, err := build(dir, "loader.js", map[string]string{
		"CHATBOX":    `"` + name + `"`,
		"TEASER_CSS": string(teaserText),
	})
	if err != nil {
		return nil, err
	}
	deskJS, err := build(dir, "desk/main.js", nil)
	if err != nil {
		return nil, err
	}
	deskCSS, err := build(dir, "desk.css", nil)
	if err != nil {
		return nil, err
	}
	deskSum := sha256.Sum256([]byte(string(deskJS) + "\x00" + string(deskCSS)))
	desk := "desk." + hex.EncodeToString(deskSum[:5])
	return map[string][]byte{"loader.js": loader, name + ".js": js, name + ".css": css, desk + ".js": deskJS, desk + ".css": deskCSS}, nil
}

// build bundles and minifies one entry point. The target is ES2020: every browser of the last
// five years runs it as it is, so nothing is transpiled and the files stay small.
func build(dir, entry string, define map[string]string) ([]byte, error) {
	res := api.Build(api.BuildOptions{
		AbsWorkingDir:     dir,
		EntryPoints:       []string{entry},
		Outdir:            filepath.Join(dir, "out"),
		Bundle:            true,
		Write:             false,
		Format:            api.FormatIIFE,
		Target:            api.ES2020,
		Platform:          api.PlatformBrowser,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		LegalComments:     api.LegalCommentsNone,
		Define:            define,
		LogLevel:          api.LogLevelSilent,
	})
	if len(res.Errors) > 0 {
		var errs []error
		for _, m := range res.Errors {
			loc := ""
			if m.Location != nil {
				loc = fmt.Sprintf("%s:%d:%d: ", m.Location.File, m.Location.Line, m.Location.Column)
			}
			errs = append(errs, fmt.Errorf("%s%s", loc, m.Text))
		}
		return nil, fmt.Errorf("build %s: %w", entry, errors.Join(errs...))
	}
	if len(res.OutputFiles) != 1 {
		return nil, fmt.Errorf("build %s: %d output files, want 1", entry, len(res.OutputFiles))
	}
	return res.OutputFiles[0].Contents, nil
}
