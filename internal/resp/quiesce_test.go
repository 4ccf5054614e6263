package resp

import (
	"context"
	"strings"
	"testing"

	"github.com/holdfast-db/holdfast"
)

// While quiesced, writes answer TRYAGAIN (retried by Redis clients) and
// write nothing; reads are served.
func TestQuiescedWritesTryAgain(t *testing.T) {
	ts := startServer(t, Config{}, HandlerOptions{})
	c := ts.dial(t)
	check(t, "SET before", c.do("SET", "k", "v"), "OK")
	info, err := ts.db.Quiesce(context.Background(), holdfast.QuiesceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := c.do("SET", "k", "w")
	if e, ok := got.(errReply); !ok || !strings.HasPrefix(string(e), "TRYAGAIN ") {
		t.Fatalf("SET while quiesced = %#v, want a TRYAGAIN error", got)
	}
	check(t, "GET while quiesced", c.do("GET", "k"), bulk("v"))
	if err := ts.db.Resume(info.ID); err != nil {
		t.Fatal(err)
	}
	check(t, "SET after resume", c.do("SET", "k", "w"), "OK")
	check(t, "GET after resume", c.do("GET", "k"), bulk("w"))
}
