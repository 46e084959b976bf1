package main

import (
	"context"
	"fmt"
	"os"

	"github.com/bascule/bascule/config"
)

func runDemo(ctx context.Context, args []string, s *stdio) error {
	fs := newFlags("demo", "[-listen ADDR] [-data DIR]", s)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the demo server")
	data := fs.String("data", "", "data directory (default: a new temporary directory)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg := config.Default()
	cfg.Server.Listen = *listen
	cfg.Bots.Sample = true
	cfg.Log.Level = "warn"
	if *data == "" {
		dir, err := os.MkdirTemp("", "bascule-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*data = dir
	}
	cfg.Data.Dir = *data
	return listenAndServe(ctx, cfg, newLogger(cfg.Log, os.Stderr), func(addr string) {
		fmt.Fprintf(s.out, "Bascule demo: the sample bot answers at http://%s/\n", addr)
		fmt.Fprintf(s.out, "Chat API: http://%s/servlet/api/  (data in %s; Ctrl-C to stop)\n", addr, cfg.Data.Dir)
	})
}
