package logging

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// handler is the slog.Handler of a Logger. All handlers derived from
// one Logger (WithAttrs, WithGroup) share its output and level.
type handler struct {
	out    *output
	level  slog.Leveler
	prefix string // group prefix for attributes added from now on: "a.b."
	attrs  []byte // attributes added by WithAttrs, already rendered
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// Handle renders the record as CTDB's message text followed by
// " key=value" fields, and hands it to the output, which adds the
// destination's header.
func (h *handler) Handle(_ context.Context, r slog.Record) error {
	msg := strings.TrimRight(r.Message, "\n")
	body := make([]byte, 0, len(msg)+len(h.attrs)+16*r.NumAttrs())
	body = append(body, msg...)
	body = append(body, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		body = appendAttr(body, h.prefix, a)
		return true
	})
	return h.out.write(r.Time, LevelFromSlog(r.Level), body)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	h2 := *h
	h2.attrs = slices.Clip(h.attrs)
	for _, a := range as {
		h2.attrs = appendAttr(h2.attrs, h.prefix, a)
	}
	return &h2
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

// appendAttr renders one attribute as " key=value"; groups become
// dotted keys, as in slog's text handler.
func appendAttr(b []byte, prefix string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			b = appendAttr(b, prefix, ga)
		}
		return b
	}
	b = append(b, ' ')
	b = appendMaybeQuoted(b, prefix+a.Key)
	b = append(b, '=')
	if a.Value.Kind() == slog.KindTime {
		return a.Value.Time().AppendFormat(b, time.RFC3339Nano)
	}
	return appendMaybeQuoted(b, a.Value.String())
}

// appendMaybeQuoted quotes s when it would otherwise be ambiguous in a
// key=value line or carry control characters into the log.
func appendMaybeQuoted(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return true
		}
		if r == '=' || r == '"' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
