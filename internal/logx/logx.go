// Package logx holds the one rule for a library caller that passes no
// logger: its details are discarded, and nothing panics.
package logx

import "log/slog"

var discard = slog.New(slog.DiscardHandler)

// Or is l, or a logger that discards everything when l is nil.
func Or(l *slog.Logger) *slog.Logger {
	if l == nil {
		return discard
	}
	return l
}
