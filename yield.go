package holdfast

import (
	"slices"
	"time"
)

// A yielder lets a long loop in the background (a compaction's listing
// of the values to move, a checkpoint's encoding) give up its processor
// once it has run for yieldAfter, for as long as it ran: such a loop
// takes at most half a processor. Go preempts a running goroutine
// only after 10 ms; on a machine with two cores, a writer or the log's
// I/O goroutine that became runnable meanwhile could wait that long
// behind such a loop, and every client write with it.
//
// It sleeps rather than calling runtime.Gosched, and long enough for the
// processor to look for other work. Gosched puts the goroutine on the
// global run queue, and a processor looks there before it steals from
// another's queue: an execution trace showed a checkpoint's encoding
// taking itself back after every Gosched on one processor for 13 ms,
// while on the other the writer, the log's I/O goroutine and one client
// handed each other the processor, and fifteen client writers, runnable
// all along in that processor's queue, waited. A sleep that ends before
// the processor has looked is no better: the woken loop goes first in the
// processor's own queue, and the log's I/O goroutine, back from a system
// call to the global queue while the garbage collector's worker held the
// other processor, waited 6 ms for it.
type yielder struct {
	n     int
	since time.Time // when the loop last started or resumed
}

// yieldEvery is how many steps a sorted run has, and how often step
// looks at the clock: steps take a few hundred nanoseconds each.
const yieldEvery = 1024

// yieldAfter is how long a loop runs before it yields. A shorter loop
// never yields: sleeping would only make it slower (a timer shorter than
// a millisecond can take one when both processors are idle).
const yieldAfter = 500 * time.Microsecond

// step counts one step of the loop and yields when it has run for
// yieldAfter since it started or last yielded; a nil yielder never yields.
func (y *yielder) step() {
	if y == nil {
		return // a loop in the foreground: no yielding
	}
	if y.n == 0 {
		y.since = time.Now()
	}
	y.n++
	if y.n%yieldEvery == 0 {
		y.check()
	}
}

// check yields, for as long as the loop ran, if that was yieldAfter or
// more; see yielder.
func (y *yielder) check() {
	if y == nil {
		return
	}
	if y.since.IsZero() {
		y.since = time.Now()
		return
	}
	if ran := time.Since(y.since); ran >= yieldAfter {
		time.Sleep(ran)
		y.since = time.Now()
	}
}

// sortYielding sorts s by cmp, stably, as slices.SortStableFunc does, but
// yields as it goes: runs of yieldEvery elements are sorted one at a time,
// then merged pairwise, a step per element moved.
func sortYielding[T any](s []T, cmp func(a, b T) int, y *yielder) {
	for i := 0; i < len(s); i += yieldEvery {
		slices.SortStableFunc(s[i:min(i+yieldEvery, len(s))], cmp)
		y.check()
	}
	if len(s) <= yieldEvery {
		return
	}
	buf := make([]T, len(s))
	src, dst := s, buf
	for width := yieldEvery; width < len(s); width *= 2 {
		for lo := 0; lo < len(s); lo += 2 * width {
			mid, hi := min(lo+width, len(s)), min(lo+2*width, len(s))
			i, j, k := lo, mid, lo
			for i < mid && j < hi {
				if cmp(src[j], src[i]) < 0 {
					dst[k] = src[j]
					j++
				} else {
					dst[k] = src[i]
					i++
				}
				k++
				y.step()
			}
			k += copy(dst[k:], src[i:mid])
			copy(dst[k:], src[j:hi])
		}
		src, dst = dst, src
	}
	if &src[0] != &s[0] {
		copy(s, src)
	}
}
