package holdfast

// SetUnsafeSnapshotMeta makes db's quiesces write snapshot.json without
// fsync or syncfs (seed 000's bug), for tests that must see it fail.
func SetUnsafeSnapshotMeta(db *DB, on bool) { db.quiesce.skipManifestSync = on }
