//go:build holdfast_unsafe_snapshot_meta

package holdfast

// Built only with -tags holdfast_unsafe_snapshot_meta, for the real-volume
// test: quiesce then writes snapshot.json files as seed 000 did, without
// fsync and without syncfs, so the test can show that it sees the bug.
func init() { unsafeSnapshotMetaBuild = true }
