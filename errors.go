package holdfast

import (
	"errors"
	"fmt"
)

// Errors callers test with errors.Is. Every returned error wraps one of
// these with context: the dataspace, the key, the file and offset.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("holdfast: not found")
	// ErrExists: a dataspace with that name already exists.
	ErrExists = errors.New("holdfast: already exists")
	// ErrNoDataspace: no dataspace has that name.
	ErrNoDataspace = errors.New("holdfast: no such dataspace")
	// ErrInvalidName: a dataspace name outside [a-z0-9][a-z0-9_-]{0,63}.
	ErrInvalidName = errors.New("holdfast: invalid dataspace name")
	// ErrKeyTooLarge, ErrValueTooLarge, ErrBatchTooLarge: a limit in
	// Limits was exceeded; nothing was written.
	ErrKeyTooLarge   = errors.New("holdfast: key too large")
	ErrValueTooLarge = errors.New("holdfast: value too large")
	ErrBatchTooLarge = errors.New("holdfast: batch too large")
	// ErrEmptyKey: keys are at least one byte long.
	ErrEmptyKey = errors.New("holdfast: empty key")
	// ErrVersionMismatch: a compare-and-swap's expected version did not
	// match; nothing was written.
	ErrVersionMismatch = errors.New("holdfast: version mismatch")
	// ErrNotInteger: Incr on a value that is not a decimal int64, or an
	// increment that would overflow (then ErrOverflow matches too);
	// nothing was written.
	ErrNotInteger = errors.New("holdfast: value is not an integer or would overflow")
	// ErrOverflow: an increment would leave the int64 range; nothing was
	// written. Errors matching it also match ErrNotInteger.
	ErrOverflow = errors.New("holdfast: increment or decrement would overflow")
	// ErrInvalidArgument: a malformed request that no limit or name rule
	// above covers (an empty batch, a request id over MaxRequestIDBytes,
	// a condition on a batch, a scan limit over MaxScanLimit); nothing
	// was written.
	ErrInvalidArgument = errors.New("holdfast: invalid argument")
	// ErrCorrupt: stored data failed verification (I4). The error names
	// the file and offset. The dataspace is stopped; nothing damaged is
	// ever returned as data.
	ErrCorrupt = errors.New("holdfast: data is corrupt")
	// ErrFailStop: the dataspace stopped after an I/O error (I5) and
	// refuses reads and writes until it is reopened from what the device
	// holds. The error wraps the cause.
	ErrFailStop = errors.New("holdfast: dataspace stopped after an I/O error")
	// ErrOutcomeUnknown: the write was sent to the log but the log failed
	// before it was known to be durable. It may or may not be applied
	// after recovery; retry with the same request id, or check with a
	// version precondition (I3).
	ErrOutcomeUnknown = errors.New("holdfast: outcome unknown")
	// ErrClosed: the database or dataspace is closed.
	ErrClosed = errors.New("holdfast: closed")
	// ErrLocked: another process has the data directory open.
	ErrLocked = errors.New("holdfast: data directory is locked by another process")
)

// dsError wraps err with the dataspace name.
func dsError(ds string, err error) error {
	return fmt.Errorf("dataspace %q: %w", ds, err)
}
