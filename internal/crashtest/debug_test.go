package crashtest

import (
	"os"
	"strconv"
	"testing"
)

func TestDebugRun(t *testing.T) {
	idx, err := strconv.Atoi(os.Getenv("CT_RUN"))
	if err != nil {
		t.Skip("CT_RUN not set")
	}
	cfg := Config{Seed: 1, Rounds: 30}.withDefaults()
	fam := planFamily(cfg, (idx-1)/familySize, ((idx-1)/familySize)*familySize)
	p := fam.plans[(idx-1)%familySize]
	res := newRunner(p).run()
	t.Log(p)
	for _, o := range res.ops {
		t.Log(o)
	}
	for _, v := range res.violations {
		t.Log(v)
	}
}
