//go:build holdfast_unsafe_snapshot_meta

package crashtest

import (
	"strings"
	"testing"
)

// TestCheckerCatchesUnsyncedSnapshotMeta runs only in a build whose
// quiesce writes snapshot.json without fsync or syncfs (seed 000's bug):
//
//	go test -tags holdfast_unsafe_snapshot_meta -run UnsyncedSnapshotMeta ./internal/crashtest
//
// The explorer must find I6 violations: the quiesce checks are able to
// fail.
func TestCheckerCatchesUnsyncedSnapshotMeta(t *testing.T) {
	res := Run(Config{States: 1500, Seed: 11, MaxExamples: 1 << 20})
	t.Log(res.Line())
	found := 0
	for _, e := range res.Examples {
		if strings.Contains(e, "I6") {
			found++
		}
	}
	if found == 0 {
		t.Fatalf("no I6 violation with snapshot.json written without fsync: %s", res.Line())
	}
	t.Logf("%d I6 violations, e.g. %s", found, strings.SplitN(res.Examples[0], "\n", 2)[0])
}
