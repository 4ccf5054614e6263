package faultfs

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseSeq checks that ParseSeq never panics, that what it accepts
// prints in a canonical form that parses back to the same Seq, and that the
// canonical form fails exactly the same operations as the input.
func FuzzParseSeq(f *testing.F) {
	for _, s := range []string{"", "x", "w", "X", "W", "xxwW", "wwX", "xxwxW", "xXw", "xa", "x\xff", "FFWFA", strings.Repeat("xw", 2049)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSeq(in)
		if err != nil {
			return
		}
		canon := s.String()
		again, err := ParseSeq(canon)
		if err != nil {
			t.Fatalf("ParseSeq(%q) = %q, which does not parse: %v", in, canon, err)
		}
		if again != s || again.String() != canon {
			t.Fatalf("ParseSeq(%q) = %q, which parses to %q", in, canon, again.String())
		}
		// Compare with the letters as written, a few positions past the end
		// of the input to cover the tail. An accepted input is only x and w,
		// perhaps ending in X or W.
		body, tail := in, false
		if last := in[len(in)-1]; last == 'X' || last == 'W' {
			body, tail = in[:len(in)-1], last == 'X'
		}
		for n := range len(in) + 3 {
			want := tail
			if n < len(body) {
				want = body[n] == 'x'
			}
			if s.Fails(n) != want {
				t.Fatalf("ParseSeq(%q).Fails(%d) = %v, want %v", in, n, s.Fails(n), want)
			}
		}
	})
}

// FuzzParseInjector checks that ParseInjector never panics, that an
// accepted specification prints in a canonical form that parses back and
// prints the same, and that the injector it builds does not panic on a few
// operations.
func FuzzParseInjector(f *testing.F) {
	for _, s := range []string{
		"sync,syncdata path=*.log nth=3 err=EIO",
		"syncdata path=/db/wal/* seq=xxwW",
		"write prob=0.01 seed=7 err=ENOSPC",
		"devwrite path=/data/f offset=8192 len=4096 seq=xW",
		`* path=~^/db/.*\.tmp$ always`,
		"rename always err=EROFS; rename nth=2",
		"sync prob=1e-3",
		"write offset=9223372036854775807 len=1 always",
		"sync always path=[",
		";;",
		"sync nth=1 nth=2",
	} {
		f.Add(s)
	}
	ops := []Op{
		{Kind: OpSync, Path: "/db/1.log"},
		{Kind: OpWrite, Path: "/db/wal/1", Offset: 8192, Length: 4096},
		{Kind: OpDeviceWrite, Path: "/data/f", Offset: 8192, Length: 4096},
		{Kind: OpRename, Path: "/db/CURRENT.tmp", NewPath: "/db/CURRENT"},
		{Kind: OpKind(200), Path: ""},
	}
	f.Fuzz(func(t *testing.T, spec string) {
		inj, err := ParseInjector(spec)
		if err != nil {
			return
		}
		canon := fmt.Sprint(inj)
		again, err := ParseInjector(canon)
		if err != nil {
			t.Fatalf("ParseInjector(%q) prints %q, which does not parse: %v", spec, canon, err)
		}
		if fmt.Sprint(again) != canon {
			t.Fatalf("ParseInjector(%q) prints %q, which prints %q", spec, canon, fmt.Sprint(again))
		}
		// The original and the reparsed injector must decide alike.
		for _, op := range ops {
			if a, b := inj.Inject(op), again.Inject(op); a != b {
				t.Fatalf("ParseInjector(%q) and its canonical form %q disagree on %v: %v vs %v", spec, canon, op, a, b)
			}
		}
	})
}
