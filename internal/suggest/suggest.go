// Package suggest finds what a user probably meant by a word the program
// does not know (a command, a mission type, a backend), for "did you
// mean" hints.
package suggest

import "strings"

// Closest returns the candidates nearest to word: those at the smallest
// edit distance, if it is small for the word's length (at most 2, and
// less than half the word), or those that start with it. Comparisons
// ignore case. None when nothing is close.
func Closest(word string, candidates []string) []string {
	w := strings.ToLower(strings.TrimSpace(word))
	if w == "" {
		return nil
	}
	limit := min(2, (len(w)-1)/2)
	best, out := limit+1, []string(nil)
	for _, c := range candidates {
		d := distance(w, strings.ToLower(c))
		switch {
		case d > limit:
		case d < best:
			best, out = d, []string{c}
		case d == best:
			out = append(out, c)
		}
	}
	if out != nil {
		return out
	}
	for _, c := range candidates {
		if len(w) >= 2 && strings.HasPrefix(strings.ToLower(c), w) {
			out = append(out, c)
		}
	}
	return out
}

// Hint is "; did you mean X?" (or "X or Y?") for Closest's answer, or "".
func Hint(word string, candidates []string) string {
	c := Closest(word, candidates)
	switch len(c) {
	case 0:
		return ""
	case 1:
		return "; did you mean " + c[0] + "?"
	default:
		return "; did you mean " + strings.Join(c[:len(c)-1], ", ") + " or " + c[len(c)-1] + "?"
	}
}

// distance is the Levenshtein distance between a and b, counting an
// exchange of two neighbouring letters as one edit (the commonest typo).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// prev2, prev, cur are three rows of the table.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
