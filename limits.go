package holdfast

import (
	"fmt"
	"regexp"
)

// Limits bound what one operation may carry. Each has a default and a
// clear error when exceeded; nothing is written then.
type Limits struct {
	// MaxKeySizeBytes bounds a key (default 4 KiB).
	MaxKeySizeBytes int
	// MaxValueSizeBytes bounds a value (default 16 MiB).
	MaxValueSizeBytes int
	// MaxBatchSizeBytes bounds the keys and values of one batch together
	// (default 64 MiB).
	MaxBatchSizeBytes int
	// MaxRequestIDBytes bounds a request id (default 128 bytes).
	MaxRequestIDBytes int
}

// Default limits.
const (
	DefaultMaxKeySizeBytes   = 4 << 10
	DefaultMaxValueSizeBytes = 16 << 20
	DefaultMaxBatchSizeBytes = 64 << 20
	DefaultMaxRequestIDBytes = 128
	// hardMaxBatchSizeBytes is what the log's framing can carry.
	hardMaxBatchSizeBytes = 64 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxKeySizeBytes <= 0 {
		l.MaxKeySizeBytes = DefaultMaxKeySizeBytes
	}
	if l.MaxValueSizeBytes <= 0 {
		l.MaxValueSizeBytes = DefaultMaxValueSizeBytes
	}
	if l.MaxBatchSizeBytes <= 0 {
		l.MaxBatchSizeBytes = DefaultMaxBatchSizeBytes
	}
	if l.MaxRequestIDBytes <= 0 {
		l.MaxRequestIDBytes = DefaultMaxRequestIDBytes
	}
	return l
}

func (l Limits) validate() error {
	if l.MaxKeySizeBytes > 1<<16-1 {
		return fmt.Errorf("holdfast: MaxKeySizeBytes %d exceeds the format's 65535", l.MaxKeySizeBytes)
	}
	if l.MaxBatchSizeBytes > hardMaxBatchSizeBytes {
		return fmt.Errorf("holdfast: MaxBatchSizeBytes %d exceeds the log's %d", l.MaxBatchSizeBytes, hardMaxBatchSizeBytes)
	}
	if l.MaxValueSizeBytes > l.MaxBatchSizeBytes {
		return fmt.Errorf("holdfast: MaxValueSizeBytes %d exceeds MaxBatchSizeBytes %d", l.MaxValueSizeBytes, l.MaxBatchSizeBytes)
	}
	if l.MaxRequestIDBytes > 255 {
		return fmt.Errorf("holdfast: MaxRequestIDBytes %d exceeds the format's 255", l.MaxRequestIDBytes)
	}
	return nil
}

func (l Limits) checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > l.MaxKeySizeBytes {
		return fmt.Errorf("%w: %d bytes, limit %d (MaxKeySizeBytes)", ErrKeyTooLarge, len(key), l.MaxKeySizeBytes)
	}
	return nil
}

func (l Limits) checkValue(value []byte) error {
	if len(value) > l.MaxValueSizeBytes {
		return fmt.Errorf("%w: %d bytes, limit %d (MaxValueSizeBytes)", ErrValueTooLarge, len(value), l.MaxValueSizeBytes)
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidName reports whether name is a valid dataspace name:
// [a-z0-9][a-z0-9_-]{0,63}. Names are directory names, so nothing else is
// allowed: no dots, slashes or upper case (no "../x", no case clashes).
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %q (want [a-z0-9][a-z0-9_-]{0,63})", ErrInvalidName, name)
	}
	return nil
}
