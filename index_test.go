package holdfast

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// The index orders keys bytewise, whatever their first eight bytes hold:
// short keys, keys that are prefixes of others, keys padded with zeros,
// and ties of the eight-byte prefix.
func TestKeyIndexOrdersBytewise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 1, 'a', 'b', 0xff}
	seen := map[string]bool{}
	x := newKeyIndex()
	for range 5000 {
		k := make([]byte, 1+rng.IntN(12))
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		key := string(k)
		if _, replaced := x.Set(&entry{key: key}); replaced != seen[key] {
			t.Fatalf("Set(%q): replaced %v, but seen %v", key, replaced, seen[key])
		}
		seen[key] = true
	}
	want := make([]string, 0, len(seen))
	for k := range seen {
		want = append(want, k)
	}
	slices.SortFunc(want, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })
	var got []string
	x.Scan(func(e *entry) bool { got = append(got, e.key); return true })
	if !slices.Equal(got, want) {
		t.Fatalf("scan order differs from bytewise order (%d vs %d keys)", len(got), len(want))
	}
	for i, k := range want {
		if e, ok := x.Get(k); !ok || e.key != k {
			t.Fatalf("Get(%q) = %v, %v", k, e, ok)
		}
		var from []string
		x.Ascend(k, func(e *entry) bool { from = append(from, e.key); return len(from) < 3 })
		if w := want[i:min(i+3, len(want))]; !slices.Equal(from, w) {
			t.Fatalf("Ascend(%q) = %q, want %q", k, from, w)
		}
		if _, ok := x.Get(k + "\x00\x00"); ok != seen[k+"\x00\x00"] {
			t.Fatalf("Get(%q) found a key never set", k+"\x00\x00")
		}
	}
	for _, k := range want[:len(want)/2] {
		if e, ok := x.Delete(k); !ok || e.key != k {
			t.Fatalf("Delete(%q) = %v, %v", k, e, ok)
		}
	}
	if x.Len() != len(want)-len(want)/2 {
		t.Fatalf("Len %d after deletes, want %d", x.Len(), len(want)-len(want)/2)
	}
}
