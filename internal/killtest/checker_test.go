package killtest

import (
	"strings"
	"testing"
)

type cycleCase struct {
	lines []string
	got   Snapshot
}

func snap(lastSeq uint64, kv ...any) Snapshot {
	s := Snapshot{Exists: true, LastSeq: lastSeq, Keys: map[string]KV{}}
	for i := 0; i < len(kv); i += 3 {
		s.Keys[kv[i].(string)] = KV{Value: kv[i+1].(string), Seq: uint64(kv[i+2].(int))}
	}
	return s
}

// TestCheckerDetectsLoss feeds the checker histories an engine that keeps
// I1 and I3 could not produce, and histories it could; the first must
// give a violation naming the problem, the second none. A checker that
// never complains would fail the first half, one that always complains
// the second.
func TestCheckerDetectsLoss(t *testing.T) {
	// Cycle 1 of every case, unless a case says otherwise: a put, a
	// counter, and a batch, all acknowledged.
	cycle1 := cycleCase{
		lines: []string{
			"B a1 put r/1 v.a1~xx",
			"A a1 ok 1",
			"B a2 incr c/1 5",
			"A a2 ok 2 5",
			"B a3 batch 2 r/2 v.a3.0 r/3 v.a3.1",
			"A a3 ok 3",
		},
		got: snap(3, "r/1", "v.a1~xx", 1, "c/1", "5", 2, "r/2", "v.a3.0", 3, "r/3", "v.a3.1", 3),
	}
	tests := []struct {
		name   string
		cycles []cycleCase
		want   string // "" means no violation
	}{
		{
			name: "lost acknowledged put",
			cycles: []cycleCase{{
				lines: []string{"B p1 put r/1 v.p1", "A p1 ok 1"},
				got:   snap(0),
			}},
			want: "acknowledged write lost",
		},
		{
			name: "invented value",
			cycles: []cycleCase{{
				lines: []string{"B p1 put r/1 v.p1", "A p1 ok 1"},
				got:   snap(1, "r/1", "v.bogus", 1),
			}},
			want: "invented",
		},
		{
			name: "invented key",
			cycles: []cycleCase{{
				lines: []string{"B p1 put r/1 v.p1", "A p1 ok 1"},
				got:   snap(2, "r/1", "v.p1", 1, "zz", "v.p1", 2),
			}},
			want: "a key nobody wrote",
		},
		{
			name: "failed write visible",
			cycles: []cycleCase{{
				lines: []string{"B p1 put r/1 v.p1", "A p1 err definite holdfast: nope"},
				got:   snap(1, "r/1", "v.p1", 1),
			}},
			want: "I3",
		},
		{
			name: "fail-stop without outcome-unknown is a failure",
			cycles: []cycleCase{{
				lines: []string{"B p1 put r/1 v.p1", "A p1 err failstop holdfast: stopped"},
				got:   snap(1, "r/1", "v.p1", 1),
			}},
			want: "I3",
		},
		{
			name: "older acknowledged value after a newer acknowledged one",
			cycles: []cycleCase{{
				lines: []string{"B p1 put r/1 v.p1", "B p2 put r/1 v.p2", "A p1 ok 1", "A p2 ok 2"},
				got:   snap(2, "r/1", "v.p1", 1),
			}},
			want: "acknowledged write lost",
		},
		{
			name: "value at the wrong sequence number",
			cycles: []cycleCase{{
				lines: []string{"B p1 put r/1 v.p1", "A p1 ok 1"},
				got:   snap(7, "r/1", "v.p1", 7),
			}},
			want: "but put p1",
		},
		{
			name: "acknowledged delete lost",
			cycles: []cycleCase{cycle1, {
				lines: []string{"B d1 del r/1", "A d1 ok 4 1"},
				got:   snap(4, "r/1", "v.a1~xx", 1, "c/1", "5", 2, "r/2", "v.a3.0", 3, "r/3", "v.a3.1", 3),
			}},
			want: "deleted it",
		},
		{
			name: "earlier cycle's write lost later",
			cycles: []cycleCase{cycle1, {
				lines: nil,
				got:   snap(3, "c/1", "5", 2, "r/2", "v.a3.0", 3, "r/3", "v.a3.1", 3),
			}},
			want: "lost",
		},
		{
			name: "unanswered write visible, then gone without a delete",
			cycles: []cycleCase{
				{lines: []string{"B m1 put r/9 v.m1"}, got: snap(1, "r/9", "v.m1", 1)},
				{lines: nil, got: snap(1)},
			},
			want: "lost",
		},
		{
			name: "unanswered write invisible, then back from the dead",
			cycles: []cycleCase{
				{lines: []string{"B m1 put r/9 v.m1"}, got: snap(0)},
				{lines: nil, got: snap(1, "r/9", "v.m1", 1)},
			},
			want: "came back",
		},
		{
			name: "sequence number reused after recovery",
			cycles: []cycleCase{cycle1, {
				lines: []string{"B p4 put r/4 v.p4", "A p4 ok 3"},
				got:   snap(3, "c/1", "5", 2, "r/1", "v.a1~xx", 1, "r/2", "v.a3.0", 3, "r/3", "v.a3.1", 3, "r/4", "v.p4", 3),
			}},
			want: "reused",
		},
		{
			name: "last sequence number below an acknowledged one",
			cycles: []cycleCase{{
				lines: []string{"B p1 put r/1 v.p1", "A p1 ok 5"},
				got:   snap(4, "r/1", "v.p1", 5),
			}},
			want: "above the last sequence number",
		},
		{
			name: "unanswered batch half applied",
			cycles: []cycleCase{cycle1, {
				lines: []string{"B b1 batch 2 r/2 v.b1.0 r/3 v.b1.1"},
				got:   snap(4, "r/1", "v.a1~xx", 1, "c/1", "5", 2, "r/2", "v.b1.0", 4, "r/3", "v.a3.1", 3),
			}},
			want: "all or nothing",
		},
		{
			name: "unanswered batch half applied, the other key missing",
			cycles: []cycleCase{{
				lines: []string{"B b1 batch 2 r/2 v.b1.0 r/3 v.b1.1"},
				got:   snap(1, "r/2", "v.b1.0", 1),
			}},
			want: "all or nothing",
		},
		{
			name: "dataspace vanished",
			cycles: []cycleCase{cycle1, {
				got: Snapshot{},
			}},
			want: "dataspace is missing",
		},
		{
			name: "acknowledged increment lost",
			cycles: []cycleCase{cycle1, {
				lines: []string{"B i1 incr c/1 3", "A i1 ok 4 8"},
				got:   snap(4, "r/1", "v.a1~xx", 1, "c/1", "5", 2, "r/2", "v.a3.0", 3, "r/3", "v.a3.1", 3),
			}},
			want: "lost",
		},
		{
			name: "increment applied twice",
			cycles: []cycleCase{cycle1, {
				lines: []string{"B i1 incr c/1 3", "A i1 ok 4 8"},
				got:   snap(5, "r/1", "v.a1~xx", 1, "c/1", "11", 5, "r/2", "v.a3.0", 3, "r/3", "v.a3.1", 3),
			}},
			want: "applied twice",
		},
		{
			name: "increment returned a value no history explains",
			cycles: []cycleCase{{
				lines: []string{"B i1 incr c/1 3", "B i2 incr c/1 4", "A i1 ok 1 3", "A i2 ok 2 9"},
				got:   snap(2, "c/1", "9", 2),
			}},
			want: "returned 9",
		},
		{
			name: "counter invented",
			cycles: []cycleCase{{
				lines: nil,
				got:   snap(1, "c/2", "0", 1),
			}},
			want: "invented",
		},
		// Histories a correct engine can produce: no violation.
		{
			name:   "all acknowledged, all present",
			cycles: []cycleCase{cycle1},
		},
		{
			name: "unanswered writes: applied, not applied, deleted",
			cycles: []cycleCase{cycle1, {
				lines: []string{
					"B m1 put r/1 v.m1",                  // applied after the ack of p5
					"B p5 put r/1 v.p5",                  //
					"A p5 ok 4",                          //
					"B m2 put r/5 v.m2",                  // not applied
					"B m3 del r/2",                       // applied
					"B m4 incr c/1 2",                    // applied
					"B i5 incr c/1 1",                    // acknowledged after m4
					"A i5 ok 6 8",                        //
					"B m6 incr c/1 7",                    // not applied
					"B m7 batch 2 r/3 v.m7.0 r/6 v.m7.1", // applied
					"B u8 put r/8 v.u8",                  // outcome-unknown error, applied
					"A u8 err unknown holdfast: outcome unknown",
					"B f9 put r/9 v.f9", // failed, not applied
					"A f9 err definite holdfast: no",
				},
				got: snap(9, "r/1", "v.m1", 8, "c/1", "8", 6, "r/3", "v.m7.0", 7, "r/6", "v.m7.1", 7, "r/8", "v.u8", 9),
			}},
		},
		{
			name: "incomplete final line ignored, state carried over cycles",
			cycles: []cycleCase{
				{lines: []string{"B p1 put r/1 v.p1", "A p1 ok 1", "B p2 put r/1 v.p"}, got: snap(1, "r/1", "v.p1", 1)},
				{lines: nil, got: snap(1, "r/1", "v.p1", 1)},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChecker()
			var all []Violation
			for i, cy := range tc.cycles {
				text := strings.Join(cy.lines, "\n")
				if len(cy.lines) > 0 && !strings.HasPrefix(tc.name, "incomplete") {
					text += "\n"
				}
				h, err := ParseHistory([]byte(text))
				if err != nil {
					t.Fatalf("cycle %d: %v", i+1, err)
				}
				all = append(all, c.Check(h.Requests, cy.got)...)
			}
			if tc.want == "" {
				for _, v := range all {
					t.Errorf("unexpected violation: %s", v)
				}
				return
			}
			if len(all) == 0 {
				t.Fatalf("no violation; want one mentioning %q", tc.want)
			}
			found := false
			for _, v := range all {
				t.Logf("violation: %s", v)
				if strings.Contains(v.String(), tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no violation mentions %q", tc.want)
			}
		})
	}
}

func TestParseHistory(t *testing.T) {
	h, err := ParseHistory([]byte("R\nB a put r/1 v1\nA a ok 3\nB b del r/2\nA b ok 0 0\nB c incr c/1 4\nA c err unknown holdfast: outcome unknown: x\nB d batch 2 r/1 v2 r/3 -\nA d err failstop holdfast: stopped\nB e put r/4 v"))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Ready || len(h.Requests) != 4 || h.CutBytes != len("B e put r/4 v") {
		t.Fatalf("parsed %+v", h)
	}
	want := []Status{Acked, Acked, Maybe, Failed}
	for i, r := range h.Requests {
		if r.Status != want[i] {
			t.Errorf("request %s: status %v, want %v", r.ID, r.Status, want[i])
		}
	}
	if r := h.Requests[3]; len(r.Ops) != 2 || !r.Ops[1].Delete || r.Ops[0].Value != "v2" {
		t.Errorf("batch parsed as %+v", r.Ops)
	}
	for _, bad := range []string{
		"A x ok 1\n",                     // answer without a begin
		"B x put r/1 v\nB x put r/1 w\n", // id begun twice
		"B x put r/1 v\nA x ok 1\nA x ok 1\n",
		"B x batch 2 r/1 v r/1 w\n",
		"B x put r/1\n",
		"hello\n",
	} {
		if _, err := ParseHistory([]byte(bad)); err == nil {
			t.Errorf("ParseHistory(%q): no error", bad)
		}
	}
}
