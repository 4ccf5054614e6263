package holdfast

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// sortYielding sorts as slices.SortStableFunc does, at every length around
// the run size and its multiples.
func TestSortYielding(t *testing.T) {
	type item struct{ key, order int }
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, yieldEvery - 1, yieldEvery, yieldEvery + 1, 2 * yieldEvery, 3*yieldEvery + 17, 8*yieldEvery + 5} {
		s := make([]item, n)
		for i := range s {
			s[i] = item{key: rng.IntN(n/3 + 1), order: i} // many equal keys: stability shows
		}
		want := slices.Clone(s)
		byKey := func(a, b item) int { return cmp.Compare(a.key, b.key) }
		slices.SortStableFunc(want, byKey)
		var y yielder
		sortYielding(s, byKey, &y)
		if !slices.Equal(s, want) {
			t.Fatalf("n=%d: sortYielding differs from slices.SortStableFunc", n)
		}
	}
}
