// Command gen writes web/dist from web/src (run by `go generate ./web/...` in web/). It
// replaces the whole directory, so that the chatbox of an earlier build does not linger.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bascule/bascule/web/internal/bundle"
)

func main() {
	if err := run("src", "dist"); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(src, dist string) error {
	files, err := bundle.Build(src)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dist); err != nil {
		return err
	}
	if err := os.MkdirAll(dist, 0o755); err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dist, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
