package transport

import (
	"context"
	"log/slog"
)

// warnings is the handler of the logger a nil Config.Logger stands for:
// Warn and above, to the program's default logger as it is when each line
// is written. A library should not fill a program's log with Info lines it
// did not ask for, nor hide the warnings that something is wrong.
type warnings struct {
	with []func(slog.Handler) slog.Handler // WithAttrs and WithGroup calls, in order
}

func defaultLogger() *slog.Logger { return slog.New(warnings{}) }

func (w warnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && slog.Default().Handler().Enabled(ctx, l)
}

func (w warnings) Handle(ctx context.Context, r slog.Record) error {
	h := slog.Default().Handler()
	for _, f := range w.with {
		h = f(h)
	}
	return h.Handle(ctx, r)
}

func (w warnings) WithAttrs(attrs []slog.Attr) slog.Handler {
	return w.and(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

func (w warnings) WithGroup(name string) slog.Handler {
	return w.and(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (w warnings) and(f func(slog.Handler) slog.Handler) warnings {
	return warnings{with: append(w.with[:len(w.with):len(w.with)], f)}
}
