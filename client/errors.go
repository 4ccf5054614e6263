package client

import (
	"errors"
	"fmt"
	"net"

	"github.com/holdfast-db/holdfast"
)

// Errors for codes that have no engine sentinel. Codes that do are matched
// by the engine's own errors: errors.Is(err, holdfast.ErrNotFound) holds
// for a not_found answer, as it would for an embedded holdfast.DB.
var (
	// ErrUnauthorized: missing or wrong bearer token (401 unauthorized).
	ErrUnauthorized = errors.New("holdfast client: unauthorized")
	// ErrBadRequest: the server refused the request as malformed (400
	// bad_request); nothing was written.
	ErrBadRequest = errors.New("holdfast client: bad request")
	// ErrTooLarge: the request body exceeded the server's limit (413
	// too_large); nothing was written.
	ErrTooLarge = errors.New("holdfast client: request too large")
	// ErrNoRoute: no endpoint at that path or method (404 no_route, 405
	// method_not_allowed): a client and server version mismatch.
	ErrNoRoute = errors.New("holdfast client: no such endpoint")
	// ErrCanceled: the request's context ended on the server before the
	// write was handed to the log (503 canceled); nothing was written.
	ErrCanceled = errors.New("holdfast client: canceled on the server")
	// ErrTooManyConnections: the server's connection limit is reached
	// (503 too_many_connections); retry later.
	ErrTooManyConnections = errors.New("holdfast client: too many connections")
	// ErrQuiesced: the database is quiesced for a volume snapshot (503
	// quiesced); nothing was written. Retry after resume.
	ErrQuiesced = errors.New("holdfast client: quiesced for a snapshot")
	// ErrRecovering: the server is still opening the database (503
	// recovering); retry when Ready says so.
	ErrRecovering = errors.New("holdfast client: server is recovering")
	// ErrInternal: the server failed in a way that has no code of its own
	// (500 internal).
	ErrInternal = errors.New("holdfast client: internal server error")
)

// codeErrors maps the server's stable error codes (docs/http-api.md) to
// the sentinels errors.Is matches.
var codeErrors = map[string]error{
	"not_found":            holdfast.ErrNotFound,
	"no_dataspace":         holdfast.ErrNoDataspace,
	"exists":               holdfast.ErrExists,
	"invalid_name":         holdfast.ErrInvalidName,
	"empty_key":            holdfast.ErrEmptyKey,
	"key_too_large":        holdfast.ErrKeyTooLarge,
	"value_too_large":      holdfast.ErrValueTooLarge,
	"batch_too_large":      holdfast.ErrBatchTooLarge,
	"version_mismatch":     holdfast.ErrVersionMismatch,
	"not_integer":          holdfast.ErrNotInteger,
	"fail_stop":            holdfast.ErrFailStop,
	"outcome_unknown":      holdfast.ErrOutcomeUnknown,
	"corrupt":              holdfast.ErrCorrupt,
	"closed":               holdfast.ErrClosed,
	"unauthorized":         ErrUnauthorized,
	"bad_request":          ErrBadRequest,
	"too_large":            ErrTooLarge,
	"no_route":             ErrNoRoute,
	"method_not_allowed":   ErrNoRoute,
	"canceled":             ErrCanceled,
	"too_many_connections": ErrTooManyConnections,
	"internal":             ErrInternal,
	"quiesced":             ErrQuiesced,
	"recovering":           ErrRecovering,
}

// Error is an error answer from the server: its HTTP status, its stable
// code and its message (the engine's text, with dataspace, key, file and
// offset where they apply). errors.Is matches it against the sentinel of
// its code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	s, ok := codeErrors[e.Code]
	return ok && s == target
}

// Unwrap lets errors.Is see through to the sentinel, and so to the
// sentinels it wraps (holdfast.ErrOverflow is not one: the wire has no
// separate code for it).
func (e *Error) Unwrap() error { return codeErrors[e.Code] }

// transportError classifies a failure to get an answer. A write whose
// request may have reached the server has an unknown outcome (I3): the
// error then matches holdfast.ErrOutcomeUnknown, and a retry must carry
// the same request id. A request that never left (the dial failed) did
// nothing.
func transportError(method, url string, write bool, err error) error {
	var op *net.OpError
	sent := !(errors.As(err, &op) && op.Op == "dial")
	if write && sent {
		return fmt.Errorf("%s %s: %w: the request may have reached the server; retry with the same request id, or read the key: %w",
			method, url, holdfast.ErrOutcomeUnknown, err)
	}
	return fmt.Errorf("%s %s: %w", method, url, err)
}
