package engine

import (
	"testing"

	"github.com/bascule/bascule"
)

func TestDecide(t *testing.T) {
	m := func(id int64, conf float64) Match {
		return Match{Knowledge: &bascule.Knowledge{ID: id}, Score: conf * 10, Confidence: conf}
	}
	tests := []struct {
		name    string
		matches []Match
		want    Verdict
		ids     []int64
	}{
		{"nothing", nil, Misunderstood, nil},
		{"sure and alone", []Match{m(1, 0.9)}, Understood, []int64{1}},
		{"sure and ahead", []Match{m(1, 0.9), m(2, 0.6), m(3, 0.5)}, Understood, []int64{1}},
		{"exactly at the threshold", []Match{m(1, UnderstoodAt)}, Understood, []int64{1}},
		{"sure but tied", []Match{m(1, 0.9), m(2, 0.9), m(3, 0.2)}, Reword, []int64{1, 2}},
		{"sure but close", []Match{m(1, 0.9), m(2, 0.9-CloseGap/2)}, Reword, []int64{1, 2}},
		{"plausible", []Match{m(1, RewordAt+0.1), m(2, RewordAt+0.05), m(3, RewordAt), m(4, RewordAt)}, Reword, []int64{1, 2, 3}},
		{"plausible, weak ones left out", []Match{m(1, RewordAt+0.1), m(2, RewordAt-0.1)}, Reword, []int64{1}},
		{"too weak", []Match{m(1, RewordAt-0.01), m(2, 0.1)}, Misunderstood, nil},
		{"zero confidence", []Match{m(1, 0)}, Misunderstood, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, picked := Decide(tt.matches)
			if v != tt.want || !sameIDs(picked, tt.ids) {
				t.Errorf("Decide = %s %v, want %s %v", v, ids(picked), tt.want, tt.ids)
			}
		})
	}
}

func sameIDs(ms []Match, want []int64) bool {
	if len(ms) != len(want) {
		return false
	}
	for i, m := range ms {
		if m.Knowledge.ID != want[i] {
			return false
		}
	}
	return true
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Understood: "understood", Reword: "reword", Misunderstood: "misunderstood", Verdict(9): "unknown"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", v, got, want)
		}
	}
}
