package resp

import (
	"context"
	"errors"
	"strings"

	"github.com/holdfast-db/holdfast"
)

// BatchHandler is an optional extension of Handler. When a client
// pipelines, the server reads ahead the commands already buffered: a run
// of consecutive commands that CanBatch accepts is executed by one
// ExecBatch call, which writes exactly one reply per command, in order.
// A command CanBatch refuses ends the run and is executed after it, alone.
//
// This is how pipelined writes share one commit group (one fdatasync)
// without giving up per-connection order: the engine has no way to submit
// a write without waiting for it, so executing a connection's commands one
// at a time would cost one group, and one fdatasync, per command.
type BatchHandler interface {
	Handler
	CanBatch(conn *ConnState, args [][]byte) bool
	ExecBatch(ctx context.Context, conn *ConnState, cmds [][][]byte, w *Writer)
}

// Read-ahead bounds: a batch holds at most MaxPendingReplies commands and
// about maxBatchBytes of arguments, so one pipelined client cannot make a
// group larger than the engine's default GroupCommitMaxBytes.
const maxBatchBytes = 4 << 20

// CanBatch accepts the writes that are plain puts: SET key value (no
// options) and MSET. Executed as one engine batch they apply in pipeline
// order (a later put of the same key wins) and become visible together,
// which no client can tell from one-by-one execution except by being
// unable to observe a prefix of the pipeline: a stronger guarantee, not a
// weaker one.
func (h *DBHandler) CanBatch(c *ConnState, args [][]byte) bool {
	if h.opts.Password != "" && !c.Authenticated {
		return false
	}
	name := string(args[0])
	switch {
	case len(args) == 3 && strings.EqualFold(name, "set"):
		return true
	case len(args) >= 3 && len(args)%2 == 1 && strings.EqualFold(name, "mset"):
		return true
	}
	return false
}

// ExecBatch applies the puts of cmds (each accepted by CanBatch) as one
// atomic engine batch, durable before any reply under sync=always, and
// replies +OK to each. When the engine refuses the batch without writing
// anything (a key or value over its limit, an empty key, a batch over
// MaxBatchSizeBytes), the commands are executed one by one instead, so
// each gets the reply it would have had alone. Any other error (fail-stop,
// outcome unknown, closed, no such dataspace) is every command's reply:
// alone, each would have met it too.
func (h *DBHandler) ExecBatch(ctx context.Context, c *ConnState, cmds [][][]byte, w *Writer) {
	ds, err := h.db.Dataspace(c.Dataspace)
	if err != nil {
		h.execEach(ctx, c, cmds, w)
		return
	}
	var b holdfast.Batch
	for _, cmd := range cmds {
		for i := 1; i+1 < len(cmd); i += 2 {
			b.Put(cmd[i], cmd[i+1])
		}
	}
	_, err = ds.Apply(ctx, &b)
	switch {
	case err == nil:
		for range cmds {
			w.WriteOK()
		}
	case errors.Is(err, holdfast.ErrKeyTooLarge), errors.Is(err, holdfast.ErrValueTooLarge),
		errors.Is(err, holdfast.ErrBatchTooLarge), errors.Is(err, holdfast.ErrEmptyKey),
		errors.Is(err, holdfast.ErrInvalidArgument):
		h.execEach(ctx, c, cmds, w)
	default:
		msg := errorText(err)
		for range cmds {
			w.WriteError(msg)
		}
	}
}

func (h *DBHandler) execEach(ctx context.Context, c *ConnState, cmds [][][]byte, w *Writer) {
	for _, cmd := range cmds {
		h.Exec(ctx, c, cmd, w)
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
