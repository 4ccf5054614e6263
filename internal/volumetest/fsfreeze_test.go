//go:build linux

package volumetest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/vfs/vfstest"
)

// TestQuiesceFSFreeze: with FSFreeze the file system is frozen once the
// quiesce is durable (a write to it from outside blocks), and thawed by
// resume and by the auto-resume deadline.
func TestQuiesceFSFreeze(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("needs root for loop devices, mounts and FIFREEZE (euid %d)", os.Geteuid())
	}
	mnt := vfstest.MountExt4(t, 64)
	db, err := holdfast.Open(filepath.Join(mnt, "data"), holdfast.Options{Logger: slog.New(slog.DiscardHandler), SegmentSizeBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	// Thaw whatever happens, or the unmount at cleanup would hang.
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	ds, err := db.CreateDataspace("d", holdfast.DataspaceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds.Put(ctx, []byte("k"), []byte("v"))

	for _, how := range []string{"resume", "auto-resume"} {
		opts := holdfast.QuiesceOptions{FSFreeze: true}
		if how == "auto-resume" {
			opts.AutoResumeAfter = 300 * time.Millisecond
		}
		info, err := db.Quiesce(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Frozen {
			t.Fatalf("%s: quiesce with FSFreeze reports no freeze", how)
		}
		wrote := make(chan error, 1)
		go func() { wrote <- os.WriteFile(filepath.Join(mnt, "outside-"+how), []byte("x"), 0o644) }()
		select {
		case err := <-wrote:
			t.Fatalf("%s: a write to the frozen file system completed (%v)", how, err)
		case <-time.After(150 * time.Millisecond):
		}
		if v, err := ds.Get(ctx, []byte("k")); err != nil || string(v.Data) != "v" {
			t.Fatalf("%s: read while frozen: %q %v", how, v.Data, err)
		}
		if how == "resume" {
			if err := db.Resume(info.ID); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case err := <-wrote:
			if err != nil {
				t.Fatalf("%s: write after thaw: %v", how, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the file system is still frozen 10 s after %s", how, how)
		}
		if _, err := ds.Put(ctx, []byte("k2"), []byte("v")); err != nil && !errors.Is(err, holdfast.ErrQuiesced) {
			t.Fatalf("%s: put after thaw: %v", how, err)
		}
	}
}
