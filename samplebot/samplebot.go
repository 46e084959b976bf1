// Package samplebot is the sample bot bundled in the binary: Maison Bascule, an online
// home-goods retailer answering in French and English, and the held-out visitor questions that
// measure how well the matcher understands it.
package samplebot

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/bascule/bascule"
)

//go:embed knowledge.json
var knowledgeJSON []byte

//go:embed heldout.tsv
var heldoutTSV []byte

// KnowledgeBase returns the sample bot's knowledge, freshly decoded: callers may change it.
func KnowledgeBase() *bascule.KnowledgeBase {
	var kb bascule.KnowledgeBase
	if err := json.Unmarshal(knowledgeJSON, &kb); err != nil {
		// The file is embedded and checked by the tests: failing here is a build defect.
		panic("samplebot: knowledge.json: " + err.Error())
	}
	return &kb
}

// HeldOutQuestion is a visitor question kept out of the knowledge, with the item that should
// answer it (0 when the bot should not understand it).
type HeldOutQuestion struct {
	Language    string
	KnowledgeID int64
	Question    string
}

// HeldOut returns the held-out questions, in file order.
func HeldOut() []HeldOutQuestion {
	qs, err := parseHeldOut(heldoutTSV)
	if err != nil {
		panic("samplebot: heldout.tsv: " + err.Error())
	}
	return qs
}

// parseHeldOut reads lang<TAB>id<TAB>question lines; blank lines and # comments are skipped.
func parseHeldOut(b []byte) ([]HeldOutQuestion, error) {
	var qs []HeldOutQuestion
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 || !bascule.IsLanguage(f[0]) || strings.TrimSpace(f[2]) == "" {
			return nil, fmt.Errorf("line %d: want lang<TAB>id<TAB>question", n)
		}
		id, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("line %d: bad knowledge id %q", n, f[1])
		}
		qs = append(qs, HeldOutQuestion{Language: f[0], KnowledgeID: id, Question: f[2]})
	}
	return qs, sc.Err()
}
