// Package textutil holds the small text helpers more than one package
// needs, so that each is written (and behaves) once.
package textutil

import "strings"

// LastLines returns the last n lines of text, without the trailing
// newline; none for empty text.
func LastLines(text string, n int) []string {
	text = strings.TrimRight(text, "\n")
	if text == "" || n <= 0 {
		return nil
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// FirstLine is text up to its first newline: an error or a report in one
// line.
func FirstLine(text string) string {
	l, _, _ := strings.Cut(text, "\n")
	return l
}
