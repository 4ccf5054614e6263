package fusefs

import (
	"slices"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// Torn writes, as LazyFS makes them: a fault that lets only some parts of
// one write (torn-op) or some writes of a run without fsync (torn-seq)
// reach the medium, then crashes the file system. They act on whole FUSE
// write requests, which is where the mount sees a program's write calls,
// and use the model's WriteDurable and CrashStop.

type tornOp struct {
	file       string
	parts      int
	partsBytes []int64
	persist    []int
	occurrence int
	seen       int
}

type tornSeq struct {
	file       string
	persist    []int
	occurrence int
	runs       int  // runs of writes started so far
	inRun      bool // a run is open (no fsync since its first write)
	writes     []pendingWrite
}

type pendingWrite struct {
	off  int64
	data []byte
}

type tornState struct {
	ops  []*tornOp
	seqs []*tornSeq
}

func (t *tornState) init() { *t = tornState{} }

func (s *Server) addTorn(inj Injection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.modelPath(inj.File)
	if inj.Type == "torn-op" {
		s.torn.ops = append(s.torn.ops, &tornOp{file: p, parts: inj.Parts, partsBytes: inj.PartsBytes, persist: inj.Persist, occurrence: inj.Occurrence})
		s.injectors = append(s.injectors, namedInjector{name: "torn-op " + p})
		s.setInjectorsLocked()
		return
	}
	s.torn.seqs = append(s.torn.seqs, &tornSeq{file: p, persist: inj.Persist, occurrence: inj.Occurrence})
	s.injectors = append(s.injectors, namedInjector{name: "torn-seq " + p})
	s.setInjectorsLocked()
}

// splitWrite cuts a write into parts: n equal parts (the last takes the
// rest), or parts of the given sizes (the last takes what is left).
func splitWrite(data []byte, n int, sizes []int64) [][]byte {
	var out [][]byte
	if len(sizes) == 0 {
		step := (len(data) + n - 1) / n
		for i := 0; i < n; i++ {
			lo := min(i*step, len(data))
			out = append(out, data[lo:min(lo+step, len(data))])
		}
		return out
	}
	rest := data
	for i, sz := range sizes {
		if i == len(sizes)-1 {
			out = append(out, rest)
			break
		}
		k := int(min(sz, int64(len(rest))))
		out = append(out, rest[:k])
		rest = rest[k:]
	}
	return out
}

// tornBeforeWrite runs before a write of data at off to p reaches the
// model. It reports true when a torn fault fired: the chosen pieces are on
// the medium, the model has crashed and stopped, and the write fails.
func (s *Server) tornBeforeWrite(p string, data []byte, off int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.torn.ops) == 0 && len(s.torn.seqs) == 0 {
		return false
	}
	for i, t := range s.torn.ops {
		if t.file != p {
			continue
		}
		t.seen++
		if t.seen != t.occurrence {
			continue
		}
		pos := off
		for k, part := range splitWrite(data, t.parts, t.partsBytes) {
			if slices.Contains(t.persist, k+1) && len(part) > 0 {
				s.fsys.WriteDurable(p, pos, part)
			}
			pos += int64(len(part))
		}
		s.torn.ops = slices.Delete(s.torn.ops, i, i+1)
		s.fsys.CrashStop(faultfs.CrashOptions{})
		s.log.Printf("torn-op: write %d to %s (%d bytes at %d) split, parts %v persisted; file system crashed", t.occurrence, p, len(data), off, t.persist)
		return true
	}
	for i, t := range s.torn.seqs {
		if t.file != p {
			continue
		}
		if !t.inRun {
			t.inRun = true
			t.runs++
			t.writes = nil
		}
		if t.runs != t.occurrence {
			continue
		}
		t.writes = append(t.writes, pendingWrite{off: off, data: slices.Clone(data)})
		if len(t.writes) < slices.Max(t.persist) {
			continue
		}
		for _, k := range t.persist {
			w := t.writes[k-1]
			s.fsys.WriteDurable(p, w.off, w.data)
		}
		s.torn.seqs = slices.Delete(s.torn.seqs, i, i+1)
		s.fsys.CrashStop(faultfs.CrashOptions{})
		s.log.Printf("torn-seq: run %d of writes to %s: writes %v persisted; file system crashed", t.occurrence, p, t.persist)
		return true
	}
	return false
}

// tornSync ends the current run of writes to p (torn-seq counts runs
// between fsyncs).
func (s *Server) tornSync(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.torn.seqs {
		if t.file == p {
			t.inRun = false
		}
	}
}
