package broker

import (
	"context"
	"log/slog"
	"regexp"
	"strconv"
)

// raftLogHandler names members by node id in the raft package's log
// records, which name them by raft member id (node id + 1): the node's own
// id ("node"), leaders ("leader", "previous"), senders ("from"), member
// lists ("voters", "learners") and the members in a membership change's
// description ("change").
type raftLogHandler struct{ h slog.Handler }

var raftIDAttrs = map[string]bool{"node": true, "leader": true, "previous": true, "from": true, "voters": true, "learners": true}

// changeMember matches the member id in "add voter 3 at ...", "add
// learner 3", "remove 3".
var changeMember = regexp.MustCompile(`\b(add voter|add learner|remove|promote) (\d+)\b`)

func (r raftLogHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r raftLogHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(raftAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r raftLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	mapped := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		mapped[i] = raftAttr(a)
	}
	return raftLogHandler{r.h.WithAttrs(mapped)}
}

func (r raftLogHandler) WithGroup(name string) slog.Handler {
	return raftLogHandler{r.h.WithGroup(name)}
}

// raftAttr maps one attribute's raft member ids to node ids.
func raftAttr(a slog.Attr) slog.Attr {
	if a.Key == "change" && a.Value.Kind() == slog.KindString {
		return slog.String(a.Key, changeMember.ReplaceAllStringFunc(a.Value.String(), func(m string) string {
			sub := changeMember.FindStringSubmatch(m)
			id, err := strconv.ParseUint(sub[2], 10, 64)
			if err != nil {
				return m
			}
			return sub[1] + " " + strconv.Itoa(int(nodeIDOf(id)))
		}))
	}
	if !raftIDAttrs[a.Key] {
		return a
	}
	switch v := a.Value.Any().(type) {
	case uint64:
		return slog.Int(a.Key, int(nodeIDOf(v)))
	case []uint64:
		ids := make([]int32, len(v))
		for i, id := range v {
			ids[i] = nodeIDOf(id)
		}
		return slog.Any(a.Key, ids)
	}
	return a
}
