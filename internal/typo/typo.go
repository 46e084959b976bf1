// Package typo finds the name someone probably meant: configuration keys, options.env keys.
package typo

import (
	"slices"
	"strings"
)

// Closest returns the candidate nearest to word (case aside) within maxEdits edits, or "".
// Ties go to the first candidate in sorted order, so a message does not change between runs.
func Closest(word string, candidates []string, maxEdits int) string {
	sorted := slices.Clone(candidates)
	slices.Sort(sorted)
	best, bestD := "", maxEdits+1
	w := strings.ToLower(word)
	for _, c := range sorted {
		if d := Distance(w, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, on bytes (keys are ASCII).
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
