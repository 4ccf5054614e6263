package holdfast_test

import (
	"pgregory.net/rapid"
)

// Compaction in TestPropertyAPI: Compact relocates live values and removes
// old log segments; nothing visible may change (values and their versions
// are kept), and everything must survive the reopens and crashes that
// follow. The model checks all of that after every step; this action only
// runs the compaction.
func init() {
	propExtraActions["compact"] = (*propMachine).compact
}

func (m *propMachine) compact(t *rapid.T) {
	name, ds, ms := m.pickSpace(t)
	if ds == nil {
		return
	}
	before := ds.LastSeq()
	st, err := ds.Compact(propCtx)
	if err != nil {
		t.Fatalf("%s: Compact: %v", name, err)
	}
	if st.Relocated < 0 || st.RemovedSegments < 0 {
		t.Fatalf("%s: Compact stats %+v", name, st)
	}
	// Compaction may write records of its own, which take sequence
	// numbers; it never takes them back.
	after := ds.LastSeq()
	if after < before {
		t.Fatalf("%s: LastSeq %d before Compact, %d after (stats %+v)", name, before, after, st)
	}
	ms.lastSeq = max(ms.lastSeq, after)
}
