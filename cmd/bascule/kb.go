package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/kb"
)

// runKB is "bascule kb export|import". It works on a data directory (or the database of a
// configuration) through the same kb.Service as the admin API; a running server notices the
// change within a second and reloads the bot.
func runKB(ctx context.Context, args []string, s *stdio) error {
	if len(args) == 0 || (args[0] != "export" && args[0] != "import") {
		fmt.Fprintln(s.err, "Usage: bascule kb export -bot ID [-format json|csv] [-o FILE] [-config FILE | -data DIR]")
		fmt.Fprintln(s.err, "       bascule kb import [-bot ID] [-format json|csv] [-config FILE | -data DIR] FILE")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return &exitError{code: 2}
	}
	verb := args[0]
	fs := newFlags("kb "+verb, "[flags]", s)
	file := fs.String("config", "", "configuration file naming the database")
	data := fs.String("data", "", "data directory (default ./data)")
	bot := fs.String("bot", "", "bot id (export; CSV import)")
	format := fs.String("format", "json", "json (the complete model) or csv (question/answer list)")
	out := fs.String("o", "", "export: write to this file instead of standard output")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *format != "json" && *format != "csv" {
		return &exitError{code: 2, err: fmt.Errorf("-format must be json or csv")}
	}
	_, st, err := openConfigured(ctx, *file, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := &kb.Service{Store: st}
	if verb == "export" {
		if *bot == "" {
			return &exitError{code: 2, err: fmt.Errorf("export needs -bot ID")}
		}
		m, err := svc.Export(ctx, *bot)
		if err != nil {
			return err
		}
		w := s.out
		if *out != "" {
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		if *format == "csv" {
			return kb.WriteCSV(w, m)
		}
		return kb.EncodeJSON(w, m)
	}
	if fs.NArg() != 1 {
		return &exitError{code: 2, err: fmt.Errorf("import needs one FILE (or - for standard input)")}
	}
	var r io.Reader = os.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	var m *bascule.KnowledgeBase
	if *format == "csv" {
		if *bot == "" {
			return &exitError{code: 2, err: fmt.Errorf("a CSV import needs -bot ID (the bot must exist)")}
		}
		if m, err = svc.Export(ctx, *bot); err != nil {
			return err
		}
		if m.Knowledge, err = kb.ReadCSV(r, &m.Bot); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("%s: nothing imported:\n%w", fs.Arg(0), err)}
		}
	} else {
		if m, err = kb.DecodeJSON(r); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("%s: nothing imported:\n%w", fs.Arg(0), err)}
		}
		if *bot != "" && *bot != m.Bot.ID {
			return &exitError{code: 1, err: fmt.Errorf("%s is for bot %s, not %s", fs.Arg(0), m.Bot.ID, *bot)}
		}
	}
	rep, err := svc.Import(ctx, m)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%s: nothing imported:\n%w", fs.Arg(0), err)}
	}
	fmt.Fprintf(s.out, "imported bot %s: %d knowledge items, %d matching groups, %d sentences\n", m.Bot.ID, rep.Knowledge, rep.Groups, rep.Sentences)
	for _, f := range rep.Sanitized {
		fmt.Fprintf(s.out, "  sanitised %s (script, event handlers or unsafe links removed)\n", f)
	}
	return nil
}
