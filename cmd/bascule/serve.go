package main

import (
	"context"
	"os"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/config"
)

func runServe(ctx context.Context, args []string, s *stdio) error {
	fs := newFlags("serve", "[-config bascule.yml] [-listen ADDR] [-data DIR]", s)
	file := fs.String("config", "", "configuration file (default: built-in defaults, see etc/bascule.yml)")
	listen := fs.String("listen", "", "address to listen on, overriding server.listen (default 127.0.0.1:8080)")
	data := fs.String("data", "", "data directory, overriding data.dir (default ./data)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*file, *listen, *data)
	if err != nil {
		return err
	}
	return listenAndServe(ctx, cfg, newLogger(cfg.Log, os.Stderr), extras{}, nil)
}

// openConfigured opens the database a command works on beside (or instead of) the server:
// the configuration's, or the data directory given.
func openConfigured(ctx context.Context, file, data string) (*config.Config, bascule.Store, error) {
	cfg, err := loadConfig(file, "", data)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, cfg)
	return cfg, st, err
}

// loadConfig reads the file (or the defaults) and applies the flags that override it.
func loadConfig(file, listen, data string) (*config.Config, error) {
	cfg := config.Default()
	if file != "" {
		var err error
		if cfg, err = config.Load(file); err != nil {
			return nil, &exitError{code: 1, err: err}
		}
	}
	if listen != "" {
		cfg.Server.Listen = listen
	}
	if data != "" {
		cfg.Data.Dir = data
	}
	if err := cfg.Validate(); err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	return cfg, nil
}
