package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/internal/loadgen"
	"github.com/bascule/bascule/samplebot"
)

// runBench is "bascule bench": realistic dialogs against a running server, then the same
// server's /healthz with the same concurrency, and the ratio of the two. Absolute figures vary
// with the machine and its neighbours; the ratio, measured in one run, is what compares.
// Several targets are nodes of one role: requests go to them in turn, as a round-robin load
// balancer without sticky sessions sends them.
func runBench(ctx context.Context, args []string, s *stdio) error {
	fs := newFlags("bench", "-target URL[,URL...] [-c N] [-d 10s] [-bot ID] [-questions FILE] [-json]", s)
	target := fs.String("target", "http://127.0.0.1:8080", "base URL of the server; several, comma-separated, for nodes of one role (round-robin)")
	conc := fs.Int("c", 64, "concurrent visitors")
	dur := fs.Duration("d", 10*time.Second, "duration of each phase")
	bot := fs.String("bot", bascule.SampleBotID, "bot to talk to")
	qfile := fs.String("questions", "", "file of questions, one per line, asked in the bot's default language (default: the sample bot's held-out questions, each in its language)")
	perDialog := fs.Int("q", 4, "questions per dialog after the welcome")
	asJSON := fs.Bool("json", false, "print the figures as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent) // the generator is measured with the server: as light
	}
	questions, err := benchQuestions(*qfile)
	if err != nil {
		return err
	}
	targets := strings.Split(*target, ",")
	var health []string
	for i, t := range targets {
		targets[i] = strings.TrimRight(strings.TrimSpace(t), "/")
		health = append(health, targets[i]+"/healthz")
	}
	client := loadgen.NewClient(*conc)
	// Warm up (connections, the bot's index) so the first phase is not penalised.
	loadgen.Dialogs(ctx, loadgen.Options{Targets: targets, Bot: *bot, Concurrency: *conc, Duration: time.Second, Questions: questions, Client: client})
	c0 := loadgen.ReadCPU(ctx, client, targets)
	talk := loadgen.Dialogs(ctx, loadgen.Options{Targets: targets, Bot: *bot, Concurrency: *conc, Duration: *dur,
		Questions: questions, QuestionsPerDialog: *perDialog, Client: client})
	c1 := loadgen.ReadCPU(ctx, client, targets)
	hz := loadgen.GET(ctx, health, *conc, *dur, client)
	c2 := loadgen.ReadCPU(ctx, client, targets)
	talk.PerRequest(c0, c1)
	hz.PerRequest(c1, c2)
	ratio := 0.0
	if hz.PerSecond > 0 {
		ratio = talk.PerSecond / hz.PerSecond
	}
	if *asJSON {
		if err := json.NewEncoder(s.out).Encode(map[string]any{"talk": talk, "healthz": hz, "ratio": ratio, "concurrency": *conc, "targets": targets}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(s.out, "bascule bench: %s, %d concurrent visitors, %s per phase, %d dialogs\n", *target, *conc, *dur, talk.Dialogs)
		fmt.Fprintln(s.out, talk)
		fmt.Fprintln(s.out, hz)
		fmt.Fprintf(s.out, "ratio talk/healthz: %.2f (requests per second, same server, same run)\n", ratio)
	}
	// A run that got no answer is a failure in either form: scripts read the exit code.
	if talk.Requests == 0 {
		return &exitError{code: 1, err: fmt.Errorf("no question was answered: is the server at %s serving bot %s?", *target, *bot)}
	}
	return nil
}

func benchQuestions(file string) ([]loadgen.Question, error) {
	if file == "" {
		var qs []loadgen.Question
		for _, h := range samplebot.HeldOut() {
			qs = append(qs, loadgen.Question{Text: h.Question, Language: h.Language})
		}
		return qs, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var qs []loadgen.Question
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if q := strings.TrimSpace(sc.Text()); q != "" {
			qs = append(qs, loadgen.Question{Text: q})
		}
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("%s holds no question", file)
	}
	return qs, sc.Err()
}
