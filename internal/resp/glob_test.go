package resp

import (
	"strings"
	"testing"
	"time"
)

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		nocase     bool
		want       bool
	}{
		{"*", "", false, true},
		{"*", "abc", false, true},
		{"a*", "abc", false, true},
		{"a*", "bac", false, false},
		{"*c", "abc", false, true},
		{"a*b*c", "axxbyyc", false, true},
		{"a*b*c", "axxbyy", false, false},
		{"h?llo", "hello", false, true},
		{"h?llo", "hllo", false, false},
		{"h[ae]llo", "hallo", false, true},
		{"h[ae]llo", "hillo", false, false},
		{"h[^e]llo", "hallo", false, true},
		{"h[^e]llo", "hello", false, false},
		{"h[a-b]llo", "hbllo", false, true},
		{"h[b-a]llo", "hbllo", false, true},
		{"h[a-b]llo", "hcllo", false, false},
		{`h\*llo`, "h*llo", false, true},
		{`h\*llo`, "hallo", false, false},
		{`[\]]`, "]", false, true},
		{`abc\`, `abc\`, false, true},
		{"key:[", "key:x", false, false},
		{"SAVE", "save", true, true},
		{"SAVE", "save", false, false},
		{"app*", "appendfsync", true, true},
	}
	for _, tt := range tests {
		if got := globMatch([]byte(tt.pattern), []byte(tt.s), tt.nocase); got != tt.want {
			t.Errorf("globMatch(%q, %q, %v) = %v, want %v", tt.pattern, tt.s, tt.nocase, got, tt.want)
		}
	}
}

// A pattern that makes a recursive matcher exponential finishes at once.
func TestGlobMatchIsPolynomial(t *testing.T) {
	pattern := []byte(strings.Repeat("a*", 30) + "b")
	s := []byte(strings.Repeat("a", 4096))
	start := time.Now()
	if globMatch(pattern, s, false) {
		t.Fatal("matched")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestGlobPrefix(t *testing.T) {
	tests := map[string]string{"user:*": "user:", "*": "", "ab?c": "ab", `a\*b*`: "a*b", "abc": "abc", "x[yz]": "x"}
	for p, want := range tests {
		if got := string(globPrefix([]byte(p))); got != want {
			t.Errorf("globPrefix(%q) = %q, want %q", p, got, want)
		}
	}
}
