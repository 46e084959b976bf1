// Command bascule is the Bascule chatbot server: one binary that serves the chat API, the
// chatbox and the admin API, replicates with its peer, and manages knowledge, dumps and
// benchmarks. Run "bascule help" for the list of commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

// command is one subcommand. Each has its own FlagSet, built by the command itself.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io *stdio) error
}

// stdio is where a command writes, so tests can capture it.
type stdio struct {
	out, err io.Writer
}

var commands []command

func init() {
	commands = []command{
		{"serve", "run one server (main, backup or standalone)", runServe},
		{"demo", "start a demo with the sample bot and print its URL", runDemo},
		{"kb", "export or import a bot's knowledge (JSON or CSV)", runKB},
		{"dump", "dump a server's database to a directory or an SFTP server, while it serves", runDump},
		{"restore", "replace a stopped server's database with a dump, verified first", runRestore},
		{"check", "validate a configuration file (and its options.env)", runCheck},
		{"promote", "make the backup the main when the main is lost for good", runPromote},
		{"bench", "load-test a running server with realistic dialogs", runBench},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], &stdio{os.Stdout, os.Stderr}))
}

// exitError carries a specific exit status (check exits 1 on a bad file, 2 on bad usage).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func run(ctx context.Context, args []string, s *stdio) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(s.out)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == args[0] })
	if i < 0 {
		fmt.Fprintf(s.err, "bascule: unknown command %q\n\n", args[0])
		usage(s.err)
		return 2
	}
	err := commands[i].run(ctx, args[1:], s)
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(s.err, "%v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(s.err, "bascule %s: %v\n", args[0], err)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Bascule: a chatbot server built for high availability (a main and a backup).")
	fmt.Fprintln(w, "\nUsage: bascule COMMAND [flags]   (bascule COMMAND -h for its flags)\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
}

// newFlags makes a subcommand's FlagSet that reports errors instead of exiting.
func newFlags(name, synopsis string, s *stdio) *flag.FlagSet {
	fs := flag.NewFlagSet("bascule "+name, flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: bascule %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; usage errors exit 2 (as flag's own convention).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2}
	}
	return nil
}
