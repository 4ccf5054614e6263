package vfs

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"
)

// Temporary files made by WriteFileAtomic are named
//
//	TempFilePrefix + base + TempFileInfix + 16 lowercase hex digits
//
// for example ".MANIFEST.tmp-3f2a9c0d1e7b4a55", in the same directory as the
// file they replace (a rename across directories, or file systems, is not
// atomic). A crash can leave one behind; recovery lists the directory,
// removes every name for which IsTempFile is true, and then syncs the
// directory. The leading dot keeps them out of a casual ls.
const (
	TempFilePrefix = "."
	TempFileInfix  = ".tmp-"
)

// tempRandomHexDigits is the length of the random part of a temp file name.
const tempRandomHexDigits = 16

// IsTempFile reports whether name (a base name or a path) has the form of a
// temporary file left by WriteFileAtomic.
func IsTempFile(name string) bool {
	base := filepath.Base(name)
	if !strings.HasPrefix(base, TempFilePrefix) {
		return false
	}
	i := strings.LastIndex(base, TempFileInfix)
	// The original base name between prefix and infix is never empty.
	if i <= len(TempFilePrefix) {
		return false
	}
	suffix := base[i+len(TempFileInfix):]
	if len(suffix) != tempRandomHexDigits {
		return false
	}
	for _, c := range []byte(suffix) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// tempFileName returns a fresh temporary name next to name.
func tempFileName(name string) (string, error) {
	var random [tempRandomHexDigits / 2]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", err
	}
	dir, base := filepath.Split(name)
	return dir + TempFilePrefix + base + TempFileInfix + hex.EncodeToString(random[:]), nil
}

// WriteFileAtomic replaces name with data so that after a crash name holds
// either its old contents or data, never a mix, an empty file or a prefix:
//
//  1. create a temporary file in name's directory (see TempFilePrefix),
//  2. write data and fsync it, and close it,
//  3. rename it over name,
//  4. fsync the directory, which makes the rename durable.
//
// If a step before the rename fails, the temporary file is removed (best
// effort), name is untouched, and the error names the step. If syncing the
// directory fails, the rename has happened in the page cache but the
// outcome on the device is unknown: after a crash name may hold either the
// old or the new contents. Per I5 the caller must not retry blindly as if
// nothing happened; it must treat the state as unknown (fail-stop, and let
// recovery read what the device holds).
//
// The directory itself is assumed to be durable already; a directory made
// with MkdirAll needs its parent synced first.
func WriteFileAtomic(fsys FS, name string, data []byte, perm fs.FileMode) error {
	return writeFileAtomic(fsys, name, data, perm, 0)
}

// WriteFileAtomicPaced is WriteFileAtomic for a large file written in the
// background beside a latency-sensitive writer (a checkpoint beside the
// log): it writes data in chunks of chunk bytes, fdatasyncs each, and
// after each waits as long as the chunk's write and sync took. Written
// whole and synced once, the file's megabytes reach the device in one
// burst that the log's fdatasyncs queue behind; chunked, each burst is
// short, and a Go processor is not held by one long system call. The
// result and the crash guarantees are WriteFileAtomic's.
func WriteFileAtomicPaced(fsys FS, name string, data []byte, perm fs.FileMode, chunk int) error {
	return writeFileAtomic(fsys, name, data, perm, chunk)
}

func writeFileAtomic(fsys FS, name string, data []byte, perm fs.FileMode, chunk int) error {
	tmp, err := tempFileName(name)
	if err != nil {
		return fmt.Errorf("vfs: write %s atomically: name temp file: %w", name, err)
	}
	f, err := fsys.OpenFile(tmp, OWrOnly|OCreate|OExcl, perm)
	if err != nil {
		return fmt.Errorf("vfs: write %s atomically: create temp file: %w", name, err)
	}
	fail := func(step string, err error) error {
		if f != nil {
			f.Close()
		}
		fsys.Remove(tmp) // best effort; recovery removes orphans by IsTempFile
		return fmt.Errorf("vfs: write %s atomically: %s: %w", name, step, err)
	}
	if chunk <= 0 {
		chunk = len(data)
	}
	for off := 0; off < len(data) || off == 0; off += chunk {
		start := time.Now()
		part := data[off:min(off+chunk, len(data))]
		n, err := f.Write(part)
		if err == nil && n < len(part) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return fail("write temp file", err)
		}
		if off+chunk >= len(data) {
			break // the last: the fsync below syncs it
		}
		if err := f.SyncData(); err != nil {
			return fail("sync temp file", err)
		}
		time.Sleep(time.Since(start))
	}
	if err := f.Sync(); err != nil {
		return fail("sync temp file", err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fail("close temp file", err)
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return fail("rename", err)
	}
	if err := SyncDir(fsys, filepath.Dir(name)); err != nil {
		return fmt.Errorf("vfs: write %s atomically: sync directory (rename done, "+
			"outcome unknown: the old or the new contents may survive a crash): %w", name, err)
	}
	return nil
}

// WriteFileUnsafe creates or truncates name and writes data with no sync of
// the file or its directory. This is the bug of seed 000: after a crash or
// a volume snapshot the file can be missing, empty (its size or name made
// it to the device, its data did not) or hold only a prefix. It exists so
// that tests can show the difference against WriteFileAtomic; holdfast
// itself must never use it.
func WriteFileUnsafe(fsys FS, name string, data []byte, perm fs.FileMode) error {
	f, err := fsys.OpenFile(name, OWrOnly|OCreate|OTrunc, perm)
	if err != nil {
		return err
	}
	n, err := f.Write(data)
	if err == nil && n < len(data) {
		err = io.ErrShortWrite
	}
	if err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
