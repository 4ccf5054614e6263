package faultfs

import (
	"strings"
	"testing"
)

func TestSeqParse(t *testing.T) {
	tests := []struct {
		in        string
		canonical string
		fails     string // Fails(0), Fails(1), ... for len(fails) indices
	}{
		{"xxwW", "xx", "xx......"},
		{"wwX", "wwX", "..xxxxxx"},
		{"xxwxW", "xxwx", "xx.x...."},
		{"x", "x", "x......."},
		{"w", "W", "........"},
		{"wwww", "W", "........"},
		{"X", "X", "xxxxxxxx"},
		{"W", "W", "........"},
		{"xxX", "X", "xxxxxxxx"}, // trailing letters that repeat the tail are redundant
		{"wxxxX", "wX", ".xxxxxxx"},
		{"xwwwW", "x", "x......."},
		{"xwxw", "xwx", "x.x....."},
		{strings.Repeat("x", MaxSeqLetters), strings.Repeat("x", MaxSeqLetters), "xxxxxxxx"},
		{strings.Repeat("w", MaxSeqLetters-1) + "X", strings.Repeat("w", MaxSeqLetters-1) + "X", "........"},
	}
	for _, tt := range tests {
		s, err := ParseSeq(tt.in)
		if err != nil {
			t.Errorf("ParseSeq(%.20q): %v", tt.in, err)
			continue
		}
		if got := s.String(); got != tt.canonical {
			t.Errorf("ParseSeq(%.20q).String() = %.20q, want %.20q", tt.in, got, tt.canonical)
		}
		var got strings.Builder
		for n := range len(tt.fails) {
			if s.Fails(n) {
				got.WriteByte('x')
			} else {
				got.WriteByte('.')
			}
		}
		if got.String() != tt.fails {
			t.Errorf("ParseSeq(%.20q).Fails(0..) = %s, want %s", tt.in, got.String(), tt.fails)
		}
		if s.Fails(-1) {
			t.Errorf("ParseSeq(%.20q).Fails(-1) = true", tt.in)
		}
		again, err := ParseSeq(s.String())
		if err != nil || again != s {
			t.Errorf("ParseSeq(%.20q) does not round-trip: %v, %v", s.String(), again, err)
		}
	}
}

func TestSeqParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []string // substrings of the error
	}{
		{"", []string{"empty"}},
		{"Xx", []string{"'X'", "position 1", "last"}},
		{"xxWw", []string{"'W'", "position 3", "last"}},
		{"xXX", []string{"'X'", "position 2"}},
		{"xa", []string{"'a'", "position 2"}},
		{"F", []string{"'F'", "position 1"}}, // dm-loki letters are not CuttleFS letters
		{"x w", []string{"' '", "position 2"}},
		{"xé", []string{"'é'", "position 2"}},
		{"x\xffw", []string{"UTF-8", "position 2"}},
		{"x\uFFFD", []string{"'\uFFFD'", "position 2"}},
		{strings.Repeat("x", MaxSeqLetters+1), []string{"4097", "4096"}},
	}
	for _, tt := range tests {
		_, err := ParseSeq(tt.in)
		if err == nil {
			t.Errorf("ParseSeq(%.20q) accepted", tt.in)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseSeq(%.20q) = %q, want it to mention %q", tt.in, err, w)
			}
		}
	}
}

func TestSeqZero(t *testing.T) {
	var s Seq
	if s.Fails(0) || s.Fails(100) {
		t.Error("the zero Seq fails something")
	}
	if s.String() != "W" { // not "", which ParseSeq rejects
		t.Errorf("Seq{}.String() = %q, want W", s.String())
	}
}
