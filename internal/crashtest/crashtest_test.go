package crashtest

import (
	"regexp"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// raceEnabled is set by race_test.go when built with -race.
var raceEnabled bool

// TestExplore is the acceptance run: at least 10,000 crash states across
// all five profiles, and no violation. Under the race detector, which
// slows the engine several times over, it explores 2,000 states; `make
// test` should also run it without -race (see the package README in the
// report) so the full count runs on every change.
func TestExplore(t *testing.T) {
	states, seeds := 10_000, []uint64{1, 2, 3, 19}
	if raceEnabled || testing.Short() {
		states, seeds = 2_000, seeds[:1]
	}
	// Seeds 3 and 19 found a model gap and a compaction bug that seed 1
	// did not; each seed is another 10,000 states (about ten seconds).
	for _, seed := range seeds {
		res := Run(Config{States: states, Seed: seed, Profiles: faultfs.Profiles})
		t.Logf("seed %d: %s", seed, res.Line())
		if res.States != states {
			t.Errorf("seed %d: explored %d states, want %d", seed, res.States, states)
		}
		for _, e := range res.Examples {
			t.Error(e)
		}
		if res.Violations != 0 {
			t.Fatalf("seed %d: %s", seed, res.Line())
		}
	}
}

// TestCheckerCatchesDefects switches on each deliberate bug alone and
// expects the checker to find violations: a checker that cannot fail
// proves nothing.
func TestCheckerCatchesDefects(t *testing.T) {
	cases := []struct {
		name    string
		defects Defects
		// profiles where the defect shows (all when empty).
		profiles []faultfs.Profile
		// want is a substring every run should find in some violation.
		want string
	}{
		{"ack before sync", Defects{AckBeforeSync: true}, nil, "I1"},
		{"skip segment dir sync", Defects{SkipSegmentDirSync: true}, nil, "I1"},
		{"retry failed sync", Defects{RetryFailedSync: true}, []faultfs.Profile{faultfs.ProfileExt4Ordered, faultfs.ProfileXFS}, ""},
		{"trust page cache", Defects{TrustPageCache: true}, []faultfs.Profile{faultfs.ProfileExt4Ordered, faultfs.ProfileXFS}, ""},
		{"truncate mid-log damage", Defects{TruncateMidLogDamage: true}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := Run(Config{States: 600, Seed: 7, Defects: c.defects, Profiles: c.profiles, MaxExamples: 1 << 20})
			t.Logf("%s: %s", c.defects, res.Line())
			// Count only violations the engine does not already show
			// without the defect (see engineIssue).
			var own []string
			for _, e := range res.Examples {
				if !engineIssue(e) && strings.Contains(e, c.want) {
					own = append(own, e)
				}
			}
			if len(own) == 0 {
				t.Fatalf("defect %s: no violation of its own in %d states (%d in all)", c.defects, res.States, res.Violations)
			}
			t.Logf("%d violations of its own; the first:\n%s", len(own), own[0])
		})
	}
}

// TestDeterministic: serially and with one worker, the same seed explores
// the same states and finds the same violations (here with a defect on,
// so there is something to compare).
func TestDeterministic(t *testing.T) {
	cfg := Config{States: 150, Seed: 3, Workers: 1, Serial: true, Defects: Defects{AckBeforeSync: true}, MaxExamples: 1000}
	a, b := Run(cfg), Run(cfg)
	// The engine names temporary directories with random hex.
	hex := regexp.MustCompile(`(\.tmp|\.drop)-[a-z0-9]+-[0-9a-f]*`)
	ea := hex.ReplaceAllString(strings.Join(a.Examples, "\n"), "X")
	eb := hex.ReplaceAllString(strings.Join(b.Examples, "\n"), "X")
	if a.Line() != b.Line() || ea != eb {
		t.Fatalf("two runs of one seed differ: %q vs %q", a.Line(), b.Line())
	}
	if a.Violations == 0 {
		t.Fatal("the defect found nothing to compare")
	}
}

func TestResultLine(t *testing.T) {
	if got := (Result{States: 10000, Violations: 0}).Line(); got != "10000 crash states, 0 violations" {
		t.Fatalf("Line() = %q", got)
	}
}

// engineIssue recognises the violations the engine shows without any
// defect today (reported to the lead; see engine_test.go), so that a
// defect test passes only on violations the defect itself causes.
func engineIssue(example string) bool {
	for _, s := range []string{
		"is present, but its create failed",           // TestEngineCreateErrorAfterDurableRename
		"is stopped but reports an error that is not", // TestEngineRecoveryIOErrorIsNotFailStop
		"I7: after reopen",                            // TestEngineReopenSwallowsFinalSyncError
	} {
		if strings.Contains(example, s) {
			return true
		}
	}
	return false
}
