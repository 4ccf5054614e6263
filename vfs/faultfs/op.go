package faultfs

import "fmt"

// OpKind names a kind of file-system operation, for injectors and the
// operation log.
type OpKind uint8

// Operation kinds. Every FS and File method maps to exactly one kind.
const (
	OpOpen        OpKind = iota + 1 // FS.OpenFile without OCreate, or on an existing file
	OpCreate                        // FS.OpenFile creating a new file
	OpRead                          // File.Read and File.ReadAt
	OpWrite                         // File.Write and File.WriteAt
	OpSync                          // File.Sync
	OpSyncData                      // File.SyncData
	OpTruncate                      // File.Truncate
	OpPreallocate                   // File.Preallocate
	OpClose                         // File.Close and Dir.Close (never fails by injection)
	OpRename                        // FS.Rename
	OpRemove                        // FS.Remove and FS.RemoveAll
	OpMkdir                         // FS.MkdirAll, once per created directory
	OpList                          // FS.List
	OpStat                          // FS.Stat and File.Stat
	OpLock                          // FS.Lock
	OpOpenDir                       // FS.OpenDir
	OpSyncDir                       // Dir.Sync
	OpSyncFS                        // FS.SyncFS
	OpWriteback                     // background write-back of one file's dirty pages (FS.Writeback)
	// OpDeviceWrite is the write of one 4 KiB page of a file from the
	// page cache (or the device's volatile cache) to the durable medium,
	// during a sync or write-back. Offset is the page's file offset. An
	// injected error fails that page only, as a bad block does (CuttleFS
	// and dm-loki key faults the same way), and the sync reports EIO.
	OpDeviceWrite
	// OpDeviceRead is the read of one 4 KiB page from the device: a page
	// cache miss, or an O_DIRECT read. An injected error is a latent
	// sector error: the read fails with EIO.
	OpDeviceRead
	opKindCount
)

var opKindNames = [...]string{
	OpOpen:        "open",
	OpCreate:      "create",
	OpRead:        "read",
	OpWrite:       "write",
	OpSync:        "sync",
	OpSyncData:    "syncdata",
	OpTruncate:    "truncate",
	OpPreallocate: "preallocate",
	OpClose:       "close",
	OpRename:      "rename",
	OpRemove:      "remove",
	OpMkdir:       "mkdir",
	OpList:        "list",
	OpStat:        "stat",
	OpLock:        "lock",
	OpOpenDir:     "opendir",
	OpSyncDir:     "syncdir",
	OpSyncFS:      "syncfs",
	OpWriteback:   "writeback",
	OpDeviceWrite: "devwrite",
	OpDeviceRead:  "devread",
}

// String returns the lower-case name used in the operation log and in
// injector specifications ("sync", "write", ...).
func (k OpKind) String() string {
	if k > 0 && k < opKindCount {
		return opKindNames[k]
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// ParseOpKind is the inverse of OpKind.String.
func ParseOpKind(s string) (OpKind, error) {
	for k := OpKind(1); k < opKindCount; k++ {
		if opKindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("faultfs: unknown operation kind %q", s)
}

// IsSync reports whether the kind makes something durable.
func (k OpKind) IsSync() bool {
	switch k {
	case OpSync, OpSyncData, OpSyncDir, OpSyncFS, OpWriteback:
		return true
	}
	return false
}

// IsMutation reports whether the kind changes the visible state.
func (k OpKind) IsMutation() bool {
	switch k {
	case OpCreate, OpWrite, OpTruncate, OpPreallocate, OpRename, OpRemove, OpMkdir:
		return true
	}
	return false
}

// Op describes one operation as injectors see it, before it runs.
type Op struct {
	Kind OpKind
	// Path is the cleaned path the operation names (for file operations,
	// the name the file was opened with; for Rename, the old name).
	Path string
	// NewPath is the new name of a Rename; empty otherwise.
	NewPath string
	// Offset and Length give the byte range of a read, write, truncate
	// (Offset is the new size) or preallocate; zero otherwise.
	Offset int64
	Length int64
}

func (op Op) String() string {
	s := op.Kind.String() + " " + op.Path
	if op.NewPath != "" {
		s += " -> " + op.NewPath
	}
	switch op.Kind {
	case OpRead, OpWrite, OpPreallocate, OpDeviceRead, OpDeviceWrite:
		s += fmt.Sprintf(" [%d,+%d)", op.Offset, op.Length)
	case OpTruncate:
		s += fmt.Sprintf(" size=%d", op.Offset)
	}
	return s
}
