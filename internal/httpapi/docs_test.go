package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/holdfast-db/holdfast"
)

// TestErrorTableDocumented checks docs/http-api.md's error table against
// codeStatus: every code is listed once, with its status, and the table
// lists no code the server does not send.
func TestErrorTableDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ([0-9]{3}) \\|").FindAllSubmatch(doc, -1)
	documented := map[string]int{}
	for _, r := range rows {
		code := string(r[1])
		status, _ := strconv.Atoi(string(r[2]))
		if _, dup := documented[code]; dup {
			t.Errorf("code %q listed twice", code)
		}
		documented[code] = status
	}
	for code, status := range codeStatus {
		got, ok := documented[code]
		switch {
		case !ok:
			t.Errorf("code %q (status %d) is not in the error table of docs/http-api.md", code, status)
		case got != status:
			t.Errorf("code %q: documented status %d, sent %d", code, got, status)
		}
	}
	for code := range documented {
		if _, ok := codeStatus[code]; !ok {
			t.Errorf("docs/http-api.md lists code %q, which the server never sends", code)
		}
	}
}

// TestClassify: each engine error maps to its code, through wrapping, and
// the weaker promise wins when an error wraps two.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("ds: %w", holdfast.ErrNotFound), codeNotFound},
		{fmt.Errorf("ds: %w", holdfast.ErrNoDataspace), codeNoDataspace},
		{fmt.Errorf("%w: %w", holdfast.ErrOutcomeUnknown, holdfast.ErrFailStop), codeOutcomeUnknown},
		{fmt.Errorf("%w: %w", holdfast.ErrFailStop, holdfast.ErrOutcomeUnknown), codeOutcomeUnknown},
		{fmt.Errorf("created, but stopped: %w", holdfast.ErrCorrupt), codeCorrupt},
		{fmt.Errorf("x: %w", context.Canceled), codeCanceled},
		{context.DeadlineExceeded, codeCanceled},
		{&http.MaxBytesError{Limit: 5}, codeTooLarge},
		{errors.New("holdfast: request id too long"), codeInternal},
		{apiErrorf(codeBadRequest, "x"), codeBadRequest},
	} {
		if code, msg := classify(tc.err); code != tc.code || msg == "" {
			t.Errorf("classify(%v) = %q %q, want %q", tc.err, code, msg, tc.code)
		}
	}
}
