package main

import (
	"context"
	"fmt"

	"github.com/bascule/bascule/config"
)

func runCheck(ctx context.Context, args []string, s *stdio) error {
	fs := newFlags("check", "-config bascule.yml", s)
	file := fs.String("config", "", "configuration file to validate")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" {
		fs.Usage()
		return &exitError{code: 2}
	}
	if _, err := config.Load(*file); err != nil {
		return &exitError{code: 1, err: err}
	}
	fmt.Fprintf(s.out, "%s: ok\n", *file)
	return nil
}
