package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/bascule/bascule"
)

func runVersion(ctx context.Context, args []string, s *stdio) error {
	fs := newFlags("version", "", s)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "bascule %s (%s, %s/%s)\n", bascule.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
