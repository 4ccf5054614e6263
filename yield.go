package holdfast

import (
	"slices"
	"time"
)

// A yielder lets a long loop in the background (a compaction's listing
// of the values to move, a checkpoint's encoding) give up its processor
// every yieldEvery steps. Go preempts a running goroutine only after 10
// ms; on a machine with two cores, a writer or the log's I/O goroutine
// that became runnable meanwhile could wait that long behind such a loop,
// and every client write with it.
//
// It sleeps rather than calling runtime.Gosched. Gosched puts the
// goroutine on the global run queue, and a processor looks there before
// it steals from another's queue: an execution trace showed a checkpoint's
// encoding taking itself back after every Gosched on one processor for 13
// ms, while on the other the writer, the log's I/O goroutine and one
// client handed each other the processor, and fifteen client writers,
// runnable all along in that processor's queue, waited. A sleep leaves
// the first processor nothing to run, so it steals them.
type yielder struct{ n int }

// yieldEvery steps of a few hundred nanoseconds each: a yield every
// millisecond or so.
const yieldEvery = 4096

// yieldSleep is how long a yield sleeps (at least: timers are coarser).
const yieldSleep = 20 * time.Microsecond

// step counts one step of the loop and yields every yieldEvery of them.
func (y *yielder) step() {
	y.n++
	if y.n%yieldEvery == 0 {
		yieldNow()
	}
}

// yieldNow gives up the processor; see yielder.
func yieldNow() { time.Sleep(yieldSleep) }

// sortYielding sorts s by cmp, stably, as slices.SortStableFunc does, but
// yields as it goes: runs of yieldEvery elements are sorted one at a time,
// then merged pairwise, a step per element moved.
func sortYielding[T any](s []T, cmp func(a, b T) int, y *yielder) {
	for i := 0; i < len(s); i += yieldEvery {
		slices.SortStableFunc(s[i:min(i+yieldEvery, len(s))], cmp)
		yieldNow()
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
