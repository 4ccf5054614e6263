package crashtest

import (
	"strings"
	"testing"
)

// Hand-built histories: each rule of the checker must fire on the history
// that breaks it and stay quiet on the one that does not.

type hist struct {
	sp  *spaceModel
	ops int
}

func newHist(strict bool) *hist { return &hist{sp: newSpaceModel("d", strict, !strict)} }

func (h *hist) write(st status, seq uint64, kv ...string) *opRec {
	o := &opRec{id: h.ops, kind: kPut}
	h.ops++
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			o.effects = append(o.effects, &effect{key: kv[i], del: true})
		} else {
			o.effects = append(o.effects, &effect{key: kv[i], value: []byte(kv[i+1])})
		}
	}
	if len(o.effects) > 1 {
		o.kind = kBatch
	}
	h.sp.addWrite(o)
	o.status, o.seq = st, seq
	h.sp.settle(o)
	return o
}

func state(lastSeq uint64, kvs ...any) recovered {
	r := recovered{values: make(map[string]version), lastSeq: lastSeq}
	for i := 0; i < len(kvs); i += 3 {
		r.values[kvs[i].(string)] = version{found: true, value: []byte(kvs[i+1].(string)), seq: uint64(kvs[i+2].(int))}
	}
	return r
}

func TestModelRules(t *testing.T) {
	cases := []struct {
		name   string
		strict bool
		build  func(h *hist)
		got    recovered
		want   string // substring of the violation; "" for none
	}{
		{"acked write present", true, func(h *hist) { h.write(stAcked, 1, "a", "x") }, state(1, "a", "x", 1), ""},
		{"acked write lost", true, func(h *hist) { h.write(stAcked, 1, "a", "x") }, state(0), "I1"},
		{"acked write lost under interval", false, func(h *hist) { h.write(stAcked, 1, "a", "x") }, state(0), ""},
		{"hole under interval", false, func(h *hist) {
			h.write(stAcked, 1, "a", "x")
			h.write(stAcked, 2, "b", "y")
		}, state(2, "b", "y", 2), "I1/I7"},
		{"unknown present", true, func(h *hist) { h.write(stUnknown, 0, "a", "x") }, state(1, "a", "x", 1), ""},
		{"unknown absent", true, func(h *hist) { h.write(stUnknown, 0, "a", "x") }, state(0), ""},
		{"failed visible", true, func(h *hist) { h.write(stFailed, 0, "a", "x") }, state(1, "a", "x", 1), "I3"},
		{"never written", true, func(h *hist) { h.write(stAcked, 1, "a", "x") }, state(1, "a", "zz", 1), "I4"},
		{"unknown key appears", true, func(h *hist) {}, state(1, "q", "x", 1), "I4"},
		{"acked seq differs (applied twice)", true, func(h *hist) { h.write(stAcked, 1, "a", "x") }, state(2, "a", "x", 2), "I3"},
		{"later acked overwrite", true, func(h *hist) {
			h.write(stAcked, 1, "a", "x")
			h.write(stAcked, 2, "a", "y")
		}, state(2, "a", "x", 1), "I1"},
		{"acked delete", true, func(h *hist) {
			h.write(stAcked, 1, "a", "x")
			h.write(stAcked, 2, "a", "")
		}, state(2), ""},
		{"batch all or nothing: all", true, func(h *hist) { h.write(stUnknown, 0, "a", "x", "b", "y") }, state(1, "a", "x", 1, "b", "y", 1), ""},
		{"batch all or nothing: none", true, func(h *hist) { h.write(stUnknown, 0, "a", "x", "b", "y") }, state(0), ""},
		{"batch all or nothing: half", true, func(h *hist) { h.write(stUnknown, 0, "a", "x", "b", "y") }, state(1, "a", "x", 1), "applied on some keys only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHist(c.strict)
			c.build(h)
			v, _ := h.sp.check(c.got, "test")
			all := strings.Join(v, "\n")
			switch {
			case c.want == "" && len(v) > 0:
				t.Fatalf("unexpected violations:\n%s", all)
			case c.want != "" && !strings.Contains(all, c.want):
				t.Fatalf("want a violation with %q, got:\n%s", c.want, all)
			}
		})
	}
}

// I2: under sync=always a read raises the floor to what it saw, so a
// write of unknown outcome that was read must survive.
func TestModelReadRaisesFloor(t *testing.T) {
	h := newHist(true)
	h.write(stAcked, 1, "a", "x")
	h.write(stUnknown, 0, "a", "y")
	if msg := h.sp.observe("a", version{found: true, value: []byte("y"), seq: 2}); msg != "" {
		t.Fatal(msg)
	}
	v, _ := h.sp.check(state(1, "a", "x", 1), "test")
	if len(v) == 0 || !strings.Contains(v[0], "I2") {
		t.Fatalf("a value read then lost must be an I2 violation, got %q", v)
	}
	// A stale read is caught at once.
	h = newHist(true)
	h.write(stAcked, 1, "a", "x")
	h.write(stAcked, 2, "a", "y")
	if msg := h.sp.observe("a", version{found: true, value: []byte("x"), seq: 1}); msg == "" {
		t.Fatal("a read of an overwritten value passed")
	}
}

// A journal-profile lie makes acknowledged writes optional.
func TestModelWeak(t *testing.T) {
	h := newHist(true)
	h.sp.weak = true
	h.write(stAcked, 1, "a", "x")
	if v, _ := h.sp.check(state(0), "test"); len(v) != 0 {
		t.Fatalf("weak ack treated as durable: %q", v)
	}
}
