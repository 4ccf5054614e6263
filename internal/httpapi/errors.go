package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"

	"github.com/holdfast-db/holdfast"
)

// Error codes. Each is stable, has exactly one HTTP status (codeStatus),
// and is listed with that status in docs/http-api.md; a test checks the
// table against this map.
const (
	codeNotFound         = "not_found"            // the key does not exist
	codeNoDataspace      = "no_dataspace"         // no dataspace has that name
	codeNoRoute          = "no_route"             // no endpoint at this path
	codeMethodNotAllowed = "method_not_allowed"   // the path exists, the method does not
	codeExists           = "exists"               // a dataspace with that name exists
	codeInvalidName      = "invalid_name"         // dataspace name outside [a-z0-9][a-z0-9_-]{0,63}
	codeEmptyKey         = "empty_key"            // keys are at least one byte
	codeKeyTooLarge      = "key_too_large"        // Limits.MaxKeySizeBytes
	codeValueTooLarge    = "value_too_large"      // Limits.MaxValueSizeBytes
	codeBatchTooLarge    = "batch_too_large"      // Limits.MaxBatchSizeBytes
	codeTooLarge         = "too_large"            // the request body exceeds Config.MaxRequestBytes
	codeVersionMismatch  = "version_mismatch"     // If-Match / If-None-Match did not hold
	codeNotInteger       = "not_integer"          // incr on a non-integer, or overflow
	codeFailStop         = "fail_stop"            // the dataspace stopped after an I/O error
	codeOutcomeUnknown   = "outcome_unknown"      // the write may or may not be applied
	codeCorrupt          = "corrupt"              // stored data failed verification
	codeClosed           = "closed"               // the database or dataspace is closed
	codeUnauthorized     = "unauthorized"         // missing or wrong bearer token
	codeBadRequest       = "bad_request"          // malformed request: JSON, base64, headers, parameters
	codeCanceled         = "canceled"             // the request's context ended before the write was taken
	codeInternal         = "internal"             // an engine error with no code of its own
	codeTooManyConns     = "too_many_connections" // the server's connection limit is reached
)

// codeStatus is the one status of each code.
var codeStatus = map[string]int{
	codeNotFound:         http.StatusNotFound,
	codeNoDataspace:      http.StatusNotFound,
	codeNoRoute:          http.StatusNotFound,
	codeMethodNotAllowed: http.StatusMethodNotAllowed,
	codeExists:           http.StatusConflict,
	codeInvalidName:      http.StatusBadRequest,
	codeEmptyKey:         http.StatusBadRequest,
	codeKeyTooLarge:      http.StatusRequestEntityTooLarge,
	codeValueTooLarge:    http.StatusRequestEntityTooLarge,
	codeBatchTooLarge:    http.StatusRequestEntityTooLarge,
	codeTooLarge:         http.StatusRequestEntityTooLarge,
	codeVersionMismatch:  http.StatusPreconditionFailed,
	codeNotInteger:       http.StatusConflict,
	codeFailStop:         http.StatusServiceUnavailable,
	codeOutcomeUnknown:   http.StatusServiceUnavailable,
	codeCorrupt:          http.StatusInternalServerError,
	codeClosed:           http.StatusServiceUnavailable,
	codeUnauthorized:     http.StatusUnauthorized,
	codeBadRequest:       http.StatusBadRequest,
	codeCanceled:         http.StatusServiceUnavailable,
	codeInternal:         http.StatusInternalServerError,
	codeTooManyConns:     http.StatusServiceUnavailable,
}

// apiError is an error with its wire code, made by the handlers for
// problems they find themselves (bad JSON, bad headers).
type apiError struct {
	code string
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func apiErrorf(code, format string, args ...any) *apiError {
	if _, ok := codeStatus[code]; !ok {
		panic("httpapi: unknown error code " + code) // a programming error
	}
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// outcomeUnknownAdvice is appended to every outcome_unknown message: it is
// the one error whose right handling is not obvious.
const outcomeUnknownAdvice = "; the write may or may not have been applied: once the dataspace serves again " +
	"(POST /v1/dataspaces/{name}/reopen), retry with the same Idempotency-Key (or request_id), " +
	"or read the key to find out"

// classify maps an error to its wire code. Order matters where an error
// wraps several sentinels: outcome_unknown wins over fail_stop, because
// "it may have been applied" is the weaker promise and the one a client
// must act on.
func classify(err error) (code, msg string) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae.code, ae.msg
	case errors.As(err, &mbe):
		return codeTooLarge, fmt.Sprintf("request body exceeds %d bytes (MaxRequestBytes)", mbe.Limit)
	case errors.Is(err, holdfast.ErrOutcomeUnknown):
		return codeOutcomeUnknown, err.Error() + outcomeUnknownAdvice
	case errors.Is(err, holdfast.ErrCorrupt):
		return codeCorrupt, err.Error()
	case errors.Is(err, holdfast.ErrFailStop):
		return codeFailStop, err.Error() + "; nothing was applied; POST /v1/dataspaces/{name}/reopen recovers it from the device"
	case errors.Is(err, holdfast.ErrNoDataspace):
		return codeNoDataspace, err.Error()
	case errors.Is(err, holdfast.ErrQuiesced):
		return codeQuiesced, err.Error()
	case errors.Is(err, holdfast.ErrClosed):
		return codeClosed, err.Error()
	case errors.Is(err, holdfast.ErrNotFound):
		return codeNotFound, err.Error()
	case errors.Is(err, holdfast.ErrExists):
		return codeExists, err.Error()
	case errors.Is(err, holdfast.ErrInvalidName):
		return codeInvalidName, err.Error()
	case errors.Is(err, holdfast.ErrEmptyKey):
		return codeEmptyKey, err.Error()
	case errors.Is(err, holdfast.ErrKeyTooLarge):
		return codeKeyTooLarge, err.Error()
	case errors.Is(err, holdfast.ErrValueTooLarge):
		return codeValueTooLarge, err.Error()
	case errors.Is(err, holdfast.ErrBatchTooLarge):
		return codeBatchTooLarge, err.Error()
	case errors.Is(err, holdfast.ErrVersionMismatch):
		return codeVersionMismatch, err.Error()
	case errors.Is(err, holdfast.ErrNotInteger):
		return codeNotInteger, err.Error()
	case errors.Is(err, holdfast.ErrInvalidArgument):
		return codeBadRequest, err.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return codeCanceled, err.Error()
	default:
		return codeInternal, err.Error()
	}
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError sends err as a JSON error with its code's status.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := classify(err)
	status := codeStatus[code]
	st := stateOf(w)
	st.code = code
	attrs := []any{"op", st.op, "method", r.Method, "path", r.URL.Path, "status", status, "code", code, "err", msg}
	if status >= 500 {
		s.log.Warn("http request failed", attrs...)
	} else {
		s.log.Debug("http request failed", attrs...)
	}
	// A failed request's precondition headers must not describe a value.
	w.Header().Del("ETag")
	w.Header().Del("X-Holdfast-Seq")
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// writeJSON sends v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// An encoding error here is a write to a client that went away;
	// there is nobody left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// Codes returns every error code with its HTTP status (a copy), so
// clients can check they know them all.
func Codes() map[string]int { return maps.Clone(codeStatus) }
