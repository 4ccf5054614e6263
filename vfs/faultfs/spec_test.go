package faultfs

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
)

func TestSpecErrno(t *testing.T) {
	for _, e := range errnoNames {
		for _, name := range []string{e.name, strings.ToLower(e.name)} {
			got, err := Errno(name)
			if err != nil || got != e.errno {
				t.Errorf("Errno(%q) = %v, %v; want %v", name, got, err, e.errno)
			}
		}
	}
	got, err := Errno("EIO")
	if !errors.Is(got, syscall.EIO) || err != nil {
		t.Errorf("Errno(EIO) = %v, %v", got, err)
	}
	if got, err := Errno("EBOGUS"); got != nil || err == nil || !strings.Contains(err.Error(), "EBOGUS") {
		t.Errorf("Errno(EBOGUS) = %v, %v; want nil and an error naming it", got, err)
	}
}

// TestSpecParse checks each example of the grammar: the canonical form it
// prints, and what it does to a short workload.
func TestSpecParse(t *testing.T) {
	type step struct {
		op   Op
		want error
	}
	sync := func(p string) Op { return Op{Kind: OpSync, Path: p} }
	syncData := func(p string) Op { return Op{Kind: OpSyncData, Path: p} }
	write := func(p string, off int64) Op { return Op{Kind: OpWrite, Path: p, Offset: off, Length: 100} }
	dev := func(p string, off int64) Op { return Op{Kind: OpDeviceWrite, Path: p, Offset: off, Length: 4096} }
	tests := []struct {
		spec      string
		canonical string
		steps     []step
	}{
		{
			spec:      "sync,syncdata path=*.log nth=3 err=EIO",
			canonical: "sync,syncdata path=*.log nth=3 err=EIO",
			steps: []step{
				{sync("/db/1.log"), nil}, {syncData("/db/2.log"), nil}, {sync("/db/x.dat"), nil},
				{write("/db/1.log", 0), nil}, {syncData("/db/1.log"), syscall.EIO}, {sync("/db/1.log"), nil},
			},
		},
		{
			spec:      "syncdata path=/db/wal/* seq=xxwW",
			canonical: "syncdata path=/db/wal/* seq=xx err=EIO",
			steps: []step{
				{syncData("/db/wal/1"), syscall.EIO}, {syncData("/db/wal/2"), syscall.EIO},
				{syncData("/db/wal/1"), syscall.EIO}, {syncData("/db/wal/1"), nil},
				{syncData("/db/other/1"), nil}, {sync("/db/wal/2"), nil}, {syncData("/db/wal/2"), syscall.EIO},
				{syncData("/db/wal/2"), nil},
			},
		},
		{
			spec:      "write prob=1 seed=7 err=ENOSPC",
			canonical: "write prob=1 seed=7 err=ENOSPC",
			steps:     []step{{write("/f", 0), syscall.ENOSPC}, {sync("/f"), nil}},
		},
		{
			spec:      "write prob=0",
			canonical: "write prob=0 seed=0 err=EIO",
			steps:     []step{{write("/f", 0), nil}},
		},
		{
			spec:      "devwrite path=/data/f offset=8192 len=4096 seq=xW",
			canonical: "devwrite path=/data/f offset=8192 len=4096 seq=x err=EIO",
			steps: []step{
				{dev("/data/f", 4096), nil}, {dev("/data/f", 8192), syscall.EIO}, {dev("/data/g", 8192), nil},
				{dev("/data/f", 12288), nil}, {dev("/data/f", 8192), nil},
			},
		},
		{
			spec:      "devread path=/f offset=8192 seq=X err=eio",
			canonical: "devread path=/f offset=8192 len=1 seq=X err=EIO",
			steps: []step{
				{Op{Kind: OpDeviceRead, Path: "/f", Offset: 8192, Length: 4096}, syscall.EIO},
				{Op{Kind: OpDeviceRead, Path: "/f", Offset: 4096, Length: 4096}, nil},
			},
		},
		{
			spec:      `* path=~^/db/.*\.tmp$ always`,
			canonical: `* path=~^/db/.*\.tmp$ always err=EIO`,
			steps: []step{
				{Op{Kind: OpCreate, Path: "/db/CURRENT.tmp"}, syscall.EIO},
				{Op{Kind: OpRename, Path: "/db/CURRENT.tmp", NewPath: "/db/CURRENT"}, syscall.EIO},
				{Op{Kind: OpCreate, Path: "/db/CURRENT"}, nil},
				{Op{Kind: OpCreate, Path: "/other/x.tmp"}, nil},
			},
		},
		{
			// Several rules, all consulted: the rename rule's counter
			// advances even while the first rule fails the op.
			spec:      "  rename always err=EROFS ;rename nth=2 err=EIO;  ",
			canonical: "rename always err=EROFS; rename nth=2 err=EIO",
			steps: []step{
				{Op{Kind: OpRename, Path: "/a", NewPath: "/b"}, syscall.EROFS},
				{Op{Kind: OpRename, Path: "/a", NewPath: "/b"}, syscall.EROFS},
				{sync("/a"), nil},
			},
		},
		{
			spec:      "write\tlen=10 always",
			canonical: "write offset=0 len=10 always err=EIO",
			steps:     []step{{write("/f", 5), syscall.EIO}, {write("/f", 10), nil}},
		},
		{
			spec:      "sync,write,sync",
			canonical: "",
		},
	}
	for _, tt := range tests {
		inj, err := ParseInjector(tt.spec)
		if tt.canonical == "" {
			if err == nil {
				t.Errorf("ParseInjector(%q) accepted", tt.spec)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseInjector(%q): %v", tt.spec, err)
			continue
		}
		if got := fmt.Sprint(inj); got != tt.canonical {
			t.Errorf("ParseInjector(%q) prints %q, want %q", tt.spec, got, tt.canonical)
		}
		for i, s := range tt.steps {
			if got := inj.Inject(s.op); got != s.want {
				t.Errorf("ParseInjector(%q): step %d (%v) = %v, want %v", tt.spec, i, s.op, got, s.want)
			}
		}
		again, err := ParseInjector(tt.canonical)
		if err != nil || fmt.Sprint(again) != tt.canonical {
			t.Errorf("canonical %q does not round-trip: %v, %v", tt.canonical, again, err)
		}
	}
}

func TestSpecProbabilityMatchesAPI(t *testing.T) {
	// The text form must build the same injector as the API, so a seed
	// found in a test log replays from the command line.
	inj, err := ParseInjector("write prob=0.3 seed=42 err=ENOSPC")
	if err != nil {
		t.Fatal(err)
	}
	api := Probability(Kinds(OpWrite), 0.3, 42, syscall.ENOSPC)
	for i := range 500 {
		op := Op{Kind: OpWrite, Path: "/f", Offset: int64(i), Length: 1}
		if a, b := inj.Inject(op), api.Inject(op); a != b {
			t.Fatalf("op %d: spec gave %v, API gave %v", i, a, b)
		}
	}
}

func TestSpecParseErrors(t *testing.T) {
	tests := []struct {
		spec string
		want []string // substrings of the error
	}{
		{"", []string{"empty"}},
		{" ; ;", []string{"empty"}},
		{"sync", []string{`rule 1 "sync"`, "one of nth=, seq=, prob= or always"}},
		{"path=/a always", []string{"rule 1", "operation list"}},
		{"always", []string{"operation list"}},
		{"fsync always", []string{`"fsync"`, "unknown operation kind"}},
		{"sync, always", []string{`""`, "unknown operation kind"}},
		{"sync,* always", []string{`"*" must stand alone`}},
		{"sync,sync always", []string{"sync given twice"}},
		{"sync always; write bogus=1 always", []string{`rule 2 "write bogus=1 always"`, `unknown key "bogus"`}},
		{"sync always bogus", []string{`unknown key "bogus"`}},
		{"sync nth=1 nth=2", []string{"nth given twice"}},
		{"sync always always", []string{"always given twice"}},
		{"sync always err=EIO err=EIO", []string{"err given twice"}},
		{"sync nth=1 always", []string{"always conflicts"}},
		{"sync seq=x prob=0.5", []string{"prob conflicts"}},
		{"sync nth=0", []string{"nth=0", "less than 1"}},
		{"sync nth=-3", []string{"nth=-3"}},
		{"sync nth=three", []string{"nth=three", "invalid syntax"}},
		{"sync nth=99999999999999999999", []string{"out of range"}},
		{"sync prob=1.5", []string{"prob=1.5", "outside [0, 1]"}},
		{"sync prob=-0.1", []string{"outside [0, 1]"}},
		{"sync prob=NaN", []string{"outside [0, 1]"}},
		{"sync prob=0.5 seed=-1", []string{"seed=-1"}},
		{"sync always seed=3", []string{"seed= is only meaningful with prob="}},
		{"sync seq=xQ", []string{"'Q'", "position 2"}},
		{"sync seq=", []string{"seq= has an empty value"}},
		{"sync always err=EBOGUS", []string{`"EBOGUS"`}},
		{"sync always path=[", []string{"bad path glob"}},
		{"sync always path=~(", []string{"bad path regexp"}},
		{"sync always path=~", []string{"empty regexp"}},
		{"write offset=-1 always", []string{"negative"}},
		{"write len=0 always", []string{"len=0", "less than 1"}},
		{"write offset=9223372036854775807 len=2 always", []string{"overflows"}},
		{"sync always=1", []string{"always takes no value"}},
	}
	for _, tt := range tests {
		inj, err := ParseInjector(tt.spec)
		if err == nil {
			t.Errorf("ParseInjector(%q) accepted: %v", tt.spec, inj)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseInjector(%q) = %q, want it to mention %q", tt.spec, err, w)
			}
		}
	}
}

func TestParseInjectorCrashActions(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want error
	}{
		{"sync path=/db/log nth=2 err=crash-before", ErrCrashBefore},
		{"rename always err=CRASH-AFTER", ErrCrashAfter},
	} {
		inj, err := ParseInjector(tc.spec)
		if err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		op := Op{Kind: OpSync, Path: "/db/log"}
		if tc.want == ErrCrashAfter {
			op = Op{Kind: OpRename, Path: "/a", NewPath: "/b"}
		} else if got := inj.Inject(op); got != nil {
			t.Fatalf("%q: first sync = %v, want nil", tc.spec, got)
		}
		if got := inj.Inject(op); got != tc.want {
			t.Fatalf("%q: got %v, want %v", tc.spec, got, tc.want)
		}
		again, err := ParseInjector(fmt.Sprint(inj))
		if err != nil || fmt.Sprint(again) != fmt.Sprint(inj) {
			t.Fatalf("%q does not round-trip: %v, %v", tc.spec, again, err)
		}
	}
}
