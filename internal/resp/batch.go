package resp

import (
	"context"
	"strings"
)

// BatchHandler is an optional extension of Handler. When a client
// pipelines, the server reads ahead the commands already buffered: a run
// of consecutive commands that CanBatch accepts is executed by one
// ExecBatch call, which writes exactly one reply per command, in order.
// A command CanBatch refuses ends the run and is executed after it, alone.
//
// This is how pipelined writes share one commit group (one fdatasync)
// without giving up per-connection order: executing a connection's
// commands one at a time, each waiting for its outcome, would cost one
// group, and one fdatasync, per command.
type BatchHandler interface {
	Handler
	CanBatch(conn *ConnState, args [][]byte) bool
	ExecBatch(ctx context.Context, conn *ConnState, cmds [][][]byte, w *Writer)
}

// Read-ahead bounds: a batch holds at most MaxPendingReplies commands and
// about maxBatchBytes of arguments, so one pipelined client cannot make a
// group larger than the engine's default GroupCommitMaxBytes.
const maxBatchBytes = 4 << 20

// CanBatch accepts the writes that need nothing but their own outcome:
// SET (without GET, which reads first), MSET, DEL, INCR, DECR, INCRBY and
// DECRBY. ExecBatch submits them to the engine one after another without
// waiting (the engine applies a connection's submissions in order), then
// writes each reply as its outcome arrives. Each command keeps its own
// semantics and its own reply, as if run alone; only the fdatasync is
// shared.
func (h *DBHandler) CanBatch(c *ConnState, args [][]byte) bool {
	if h.opts.Password != "" && !c.Authenticated {
		return false
	}
	cmd, ok := commands[strings.ToLower(string(args[0]))]
	if !ok || cmd.submit == nil {
		return false
	}
	if strings.EqualFold(string(args[0]), "set") && len(args) > 3 {
		if _, _, get, _ := setOptions(args); get {
			return false
		}
	}
	return true
}

// ExecBatch submits every command of cmds (each accepted by CanBatch),
// then writes their replies in order. Under sync=always no reply leaves
// before its write is durable.
func (h *DBHandler) ExecBatch(ctx context.Context, c *ConnState, cmds [][][]byte, w *Writer) {
	replies := make([]func(w *Writer), len(cmds))
	for i, cmd := range cmds {
		replies[i] = h.begin(ctx, c, cmd)
	}
	for _, reply := range replies {
		reply(w)
	}
}

// batchBytes is what a command's arguments weigh against maxBatchBytes.
func batchBytes(args [][]byte) int {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	return n
}
