package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/bascule/bascule/config"
	"github.com/bascule/bascule/outbound"
)

// runCheck validates a configuration and the options.env it names (outbound.options, or
// ~/.bascule/options.env), or an options.env alone, and reports every problem with its line.
func runCheck(ctx context.Context, args []string, s *stdio) error {
	fs := newFlags("check", "-config bascule.yml | -options options.env", s)
	file := fs.String("config", "", "configuration file to validate, with the options.env it names")
	options := fs.String("options", "", "options.env to validate (the proxy settings of outbound calls)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" && *options == "" {
		fs.Usage()
		return &exitError{code: 2}
	}
	var errs []error
	if *file != "" {
		cfg, err := config.Load(*file)
		if err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(s.out, "%s: ok\n", *file)
		}
		if err == nil && *options == "" {
			path, err := optionsPath(cfg)
			if err == nil {
				err = checkOptions(path, false, s)
			}
			errs = append(errs, err)
		}
	}
	if *options != "" {
		errs = append(errs, checkOptions(*options, true, s))
	}
	if err := errors.Join(errs...); err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}

// checkOptions is bascule check's verdict on an options.env: "PATH: ok (settings)" or every
// problem, one per line (PATH:LINE: key: problem). A missing file is fine (no proxy) unless
// named on the command line.
func checkOptions(path string, named bool, s *stdio) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if named {
			return fmt.Errorf("%s: no such file", path)
		}
		fmt.Fprintf(s.out, "%s: none; outbound calls go out directly\n", path)
		return nil
	}
	settings, err := outbound.ReadOptions(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "%s: ok (%s)\n", path, settings)
	return nil
}
