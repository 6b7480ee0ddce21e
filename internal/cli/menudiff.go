package cli

import (
	"fmt"
	"io"
)

// menuDiffContext is the number of unchanged lines shown around each change, as diff -u does.
const menuDiffContext = 3

// menuUnifiedDiff writes the changes from a to b in unified diff format
// (diff -u) and reports whether there were any. Menus are a few hundred
// lines at most, so a quadratic longest-common-subsequence is plenty.
func menuUnifiedDiff(w io.Writer, aName, bName string, a, b []string) bool {
	ops := menuEditScript(a, b)
	var changes []int
	for i, op := range ops {
		if op.kind != ' ' {
			changes = append(changes, i)
		}
	}
	if len(changes) == 0 {
		return false
	}
	fmt.Fprintf(w, "--- %s\n+++ %s\n", aName, bName)
	// aLine[i] and bLine[i] count the lines of a and b before ops[i].
	aLine, bLine := make([]int, len(ops)+1), make([]int, len(ops)+1)
	for i, op := range ops {
		aLine[i+1], bLine[i+1] = aLine[i], bLine[i]
		if op.kind != '+' {
			aLine[i+1]++
		}
		if op.kind != '-' {
			bLine[i+1]++
		}
	}
	for k := 0; k < len(changes); {
		// A hunk runs from context before its first change to context after
		// its last, absorbing changes whose contexts would overlap.
		last := k
		for last+1 < len(changes) && changes[last+1]-changes[last] <= 2*menuDiffContext {
			last++
		}
		from := max(changes[k]-menuDiffContext, 0)
		to := min(changes[last]+menuDiffContext+1, len(ops))
		fmt.Fprintf(w, "@@ -%s +%s @@\n",
			menuHunkRange(aLine[from], aLine[to]-aLine[from]), menuHunkRange(bLine[from], bLine[to]-bLine[from]))
		for _, op := range ops[from:to] {
			fmt.Fprintf(w, "%c%s\n", op.kind, op.text)
		}
		k = last + 1
	}
	return true
}

// menuHunkRange formats a hunk's line range as diff -u does: an empty range
// names the line before it.
func menuHunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

type menuOp struct {
	kind byte // ' ' kept, '-' only in a, '+' only in b
	text string
}

// menuEditScript turns a into b with the fewest deletions and insertions,
// deletions first within each change, as diff -u prints them.
func menuEditScript(a, b []string) []menuOp {
	// lcs[i][j] is the longest common subsequence of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []menuOp
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, menuOp{' ', a[i]})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, menuOp{'-', a[i]})
			i++
		default:
			ops = append(ops, menuOp{'+', b[j]})
			j++
		}
	}
	return ops
}
