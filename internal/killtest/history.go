// Package killtest checks holdfast against kill -9 on a real file system.
//
// A child process (the test binary, re-executed) writes with many
// goroutines and is killed with SIGKILL at a random moment; the parent
// reopens the data directory and checks what it holds against the
// child's history. The history is a text protocol on the child's stdout,
// one line per event, each line written with one write(2) to a pipe:
//
//	R                                  the database is open, writes begin
//	B <id> put <key> <value>           a request is about to be submitted
//	B <id> del <key>
//	B <id> incr <key> <delta>
//	B <id> batch <n> <key> <value|-> …  n operations; "-" is a delete
//	A <id> ok <seq> [<result>]          acknowledged; result: the new value
//	                                    of an incr, 1/0 "existed" of a del
//	A <id> err <class> <message…>       failed: class unknown|failstop|definite
//	X <message…>                        the child gave up (a harness failure)
//
// A "B" line is written before the request is submitted and an "A" line
// only after its result is known, so an "A … ok" line is never seen for a
// write that was not acknowledged. A request with a "B" line and no "A"
// line was cut by the kill: its outcome is unknown ("maybe").
//
// The rules the checker applies are in checker.go; they are pure and
// tested on hand-built histories (checker_test.go).
package killtest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Status is a request's outcome as the client saw it.
type Status uint8

const (
	// Maybe: no answer (killed first) or ErrOutcomeUnknown; it may or may
	// not be applied.
	Maybe Status = iota
	// Acked: acknowledged; under sync=always it must survive (I1).
	Acked
	// Failed: a definite error (including ErrFailStop without
	// ErrOutcomeUnknown); it must never become visible (I3).
	Failed
)

func (s Status) String() string {
	switch s {
	case Acked:
		return "acked"
	case Failed:
		return "failed"
	}
	return "maybe"
}

// Error classes in "A <id> err <class>" lines.
const (
	ClassUnknown  = "unknown"
	ClassFailStop = "failstop"
	ClassDefinite = "definite"
)

// Request kinds.
const (
	KindPut   = "put"
	KindDel   = "del"
	KindIncr  = "incr"
	KindBatch = "batch"
)

// Op is one key's part of a request. An incr's Value is empty: the engine
// computes it.
type Op struct {
	Key    string
	Value  string
	Delete bool
}

// Request is one client request and its outcome.
type Request struct {
	ID    string
	Kind  string
	Ops   []Op
	Delta int64 // incr only

	Status Status
	// Seq is the sequence number an acknowledged request returned; 0 for
	// a delete of a missing key, which writes nothing.
	Seq uint64
	// Result is what an acknowledged incr returned (the new value).
	Result int64
	// Existed is what an acknowledged del returned.
	Existed  bool
	ErrClass string
	ErrMsg   string
}

func (r *Request) String() string {
	s := fmt.Sprintf("%s %s", r.Kind, r.ID)
	if r.Status == Acked {
		s += fmt.Sprintf(" (acked seq %d)", r.Seq)
	} else if r.Status == Failed {
		s += fmt.Sprintf(" (failed: %s)", r.ErrClass)
	} else if r.ErrClass != "" {
		s += " (outcome unknown: error)"
	} else {
		s += " (outcome unknown: no answer)"
	}
	return s
}

// History is what one child process reported.
type History struct {
	Ready    bool   // the child opened the database and began writing
	Fatal    string // the child's "X" line, if any
	Requests []*Request
	// CutBytes is the length of an incomplete final line, ignored.
	CutBytes int
}

// Count returns how many requests have each status.
func (h *History) Count() (acked, maybe, failed int) {
	for _, r := range h.Requests {
		switch r.Status {
		case Acked:
			acked++
		case Failed:
			failed++
		default:
			maybe++
		}
	}
	return acked, maybe, failed
}

// ParseHistory parses a child's stdout. An incomplete final line (the
// kill cut it) is ignored; anything else that does not follow the
// protocol is an error, since a harness that misreads its history cannot
// check anything.
func ParseHistory(out []byte) (*History, error) {
	h := &History{}
	if i := bytes.LastIndexByte(out, '\n'); i+1 < len(out) {
		h.CutBytes = len(out) - (i + 1)
		out = out[:i+1]
	}
	byID := make(map[string]*Request)
	for n, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		if err := h.parseLine(line, byID); err != nil {
			return nil, fmt.Errorf("line %d %q: %w", n+1, line, err)
		}
	}
	return h, nil
}

func (h *History) parseLine(line string, byID map[string]*Request) error {
	f := strings.Split(line, " ")
	switch f[0] {
	case "R":
		h.Ready = true
		return nil
	case "X":
		h.Fatal = strings.TrimPrefix(line, "X ")
		return nil
	case "B":
		if len(f) < 4 {
			return fmt.Errorf("short begin line")
		}
		if _, dup := byID[f[1]]; dup {
			return fmt.Errorf("request id %s begun twice", f[1])
		}
		r := &Request{ID: f[1], Kind: f[2], Status: Maybe}
		args := f[3:]
		switch r.Kind {
		case KindPut:
			if len(args) != 2 {
				return fmt.Errorf("put wants key and value")
			}
			r.Ops = []Op{{Key: args[0], Value: args[1]}}
		case KindDel:
			if len(args) != 1 {
				return fmt.Errorf("del wants a key")
			}
			r.Ops = []Op{{Key: args[0], Delete: true}}
		case KindIncr:
			if len(args) != 2 {
				return fmt.Errorf("incr wants key and delta")
			}
			d, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil {
				return err
			}
			r.Ops, r.Delta = []Op{{Key: args[0]}}, d
		case KindBatch:
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 || len(args) != 1+2*n {
				return fmt.Errorf("batch wants n and n key/value pairs")
			}
			seen := make(map[string]bool)
			for i := 0; i < n; i++ {
				k, v := args[1+2*i], args[2+2*i]
				if seen[k] {
					return fmt.Errorf("batch names key %s twice", k)
				}
				seen[k] = true
				if v == "-" {
					r.Ops = append(r.Ops, Op{Key: k, Delete: true})
				} else {
					r.Ops = append(r.Ops, Op{Key: k, Value: v})
				}
			}
		default:
			return fmt.Errorf("unknown kind %q", r.Kind)
		}
		byID[r.ID] = r
		h.Requests = append(h.Requests, r)
		return nil
	case "A":
		if len(f) < 4 {
			return fmt.Errorf("short answer line")
		}
		r, ok := byID[f[1]]
		if !ok {
			return fmt.Errorf("answer for request id %s that never began", f[1])
		}
		if r.Status != Maybe || r.ErrClass != "" {
			return fmt.Errorf("request id %s answered twice", f[1])
		}
		switch f[2] {
		case "ok":
			seq, err := strconv.ParseUint(f[3], 10, 64)
			if err != nil {
				return err
			}
			r.Status, r.Seq = Acked, seq
			switch r.Kind {
			case KindIncr:
				if len(f) != 5 {
					return fmt.Errorf("incr answer wants the new value")
				}
				if r.Result, err = strconv.ParseInt(f[4], 10, 64); err != nil {
					return err
				}
			case KindDel:
				if len(f) != 5 || (f[4] != "0" && f[4] != "1") {
					return fmt.Errorf("del answer wants existed 0 or 1")
				}
				r.Existed = f[4] == "1"
			}
		case "err":
			r.ErrClass = f[3]
			r.ErrMsg = strings.Join(f[4:], " ")
			switch r.ErrClass {
			case ClassUnknown:
				r.Status = Maybe
			case ClassFailStop, ClassDefinite:
				r.Status = Failed
			default:
				return fmt.Errorf("unknown error class %q", r.ErrClass)
			}
		default:
			return fmt.Errorf("answer is neither ok nor err")
		}
		return nil
	}
	return fmt.Errorf("unknown line type")
}
