package main

import (
	"context"
	"fmt"

	"github.com/bascule/bascule/pair"
)

// runPromote is "bascule promote": the backup becomes the main when the main is lost for good.
// It works on the backup's database, beside the running server, which takes the new role
// within a second. The old main, if it comes back, learns from its peer that it was replaced.
func runPromote(ctx context.Context, args []string, s *stdio) error {
	fs := newFlags("promote", "-config backup.yml [-data DIR]", s)
	file := fs.String("config", "", "configuration of the server to promote")
	data := fs.String("data", "", "its data directory, overriding data.dir")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" {
		fs.Usage()
		return &exitError{code: 2}
	}
	cfg, st, err := openConfigured(ctx, *file, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	state, err := pair.Promote(ctx, st, cfg.Server.Role, cfg.Server.PublicURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "server %s is now the main (epoch %d). Set server.role: main in %s so its configuration says so.\n",
		state.ServerID, state.Epoch, *file)
	return nil
}
