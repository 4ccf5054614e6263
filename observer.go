package holdfast

import "time"

// Observer receives engine events as they happen (Options.Observer).
type Observer interface {
	// GroupCommitted reports a commit group published: its records, the
	// bytes of their payloads, the time to plan and encode it (and write
	// it, under an interval policy), and the time from queuing it to the
	// log, which writes and syncs it, to its publication (zero under an
	// interval policy, which syncs on its own schedule).
	GroupCommitted(dataspace string, records int, payloadBytes int64, write, sync time.Duration)
	// FailStopped reports that a dataspace stopped after an I/O error.
	FailStopped(dataspace string, cause error)
}
