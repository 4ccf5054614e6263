// Package client is the Go client of holdfast's HTTP/JSON API
// (docs/http-api.md). Its methods mirror the engine's Dataspace API, and
// its errors match the engine's sentinels: errors.Is(err,
// holdfast.ErrNotFound), holdfast.ErrVersionMismatch,
// holdfast.ErrOutcomeUnknown and so on hold as they would for an embedded
// database; codes without an engine sentinel have this package's own
// (ErrUnauthorized, ErrBadRequest, ...). Every error answer is an *Error
// with the status, the stable code and the server's message.
//
// A write that fails in transit (the connection broke after the request
// was sent) reports holdfast.ErrOutcomeUnknown: it may have been applied.
// Give writes a request id (WithRequestID) and retry with the same one to
// apply them exactly once.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/internal/httpapi"
)

// Options configure a Client.
type Options struct {
	// Token is sent as "Authorization: Bearer <token>" when not empty.
	Token string
	// TLS configures https:// addresses (e.g. RootCAs for a private CA);
	// nil means the system's roots.
	TLS *tls.Config
	// HTTPClient, if set, is used as it is (Timeout and TLS are then its
	// own business).
	HTTPClient *http.Client
	// Timeout bounds each request when HTTPClient is nil (default 30s;
	// a context deadline also works).
	Timeout time.Duration
}

// Client talks to one holdfast server. It is safe for concurrent use.
type Client struct {
	base  string // scheme://host:port, no trailing slash
	token string
	hc    *http.Client
}

// New returns a client for addr: "http://host:port", "https://host:port",
// or "host:port" (http).
func New(addr string, opts Options) (*Client, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("holdfast client: address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("holdfast client: address %q: want http://host:port or https://host:port", addr)
	}
	hc := opts.HTTPClient
	if hc == nil {
		if opts.Timeout <= 0 {
			opts.Timeout = 30 * time.Second
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = opts.TLS
		hc = &http.Client{Timeout: opts.Timeout, Transport: tr,
			// The API never redirects except when a key path was not
			// canonical; following would address a different key.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Client{base: u.Scheme + "://" + u.Host, token: opts.Token, hc: hc}, nil
}

// Addr is the server's base URL.
func (c *Client) Addr() string { return c.base }

// DataspaceInfo describes a dataspace (GET /v1/dataspaces/{name}).
type DataspaceInfo struct {
	Name     string  `json:"name"`
	Sync     string  `json:"sync"`
	Keys     int     `json:"keys"`
	Bytes    int64   `json:"bytes"`
	LastSeq  uint64  `json:"last_seq"`
	Stopped  *string `json:"stopped"` // nil while it serves
	LogBytes int64   `json:"log_bytes"`

	Groups      int64 `json:"groups"`
	Records     int64 `json:"records"`
	Syncs       int64 `json:"syncs"`
	FailStops   int64 `json:"fail_stops"`
	Compactions int64 `json:"compactions"`
	// CompactionStalls counts compactions that client writes had to wait
	// for (the log reached its bound while one ran).
	CompactionStalls int64 `json:"compaction_stalls"`
}

// Value is a stored value and its version (the seq of the write that made
// it).
type Value struct {
	Data []byte
	Seq  uint64
}

// KV is one scanned key.
type KV struct {
	Key   []byte
	Value []byte
	Seq   uint64
}

// ScanOptions select a range: Start inclusive, End exclusive, keys with
// Prefix, resuming after After; Limit 0 means the server's default (1000).
type ScanOptions struct {
	Prefix, Start, End, After []byte
	Limit                     int
}

// ScanPage is one page; Next is nil on the last page, else pass it as
// After.
type ScanPage struct {
	Items []KV
	Next  []byte
}

// WriteOption modifies a write.
type WriteOption func(*writeOpts)

type writeOpts struct {
	requestID string
	ifMatch   string
	ifNone    string
}

// WithRequestID makes a retried write with the same id apply once
// (Idempotency-Key).
func WithRequestID(id string) WriteOption { return func(o *writeOpts) { o.requestID = id } }

// IfVersion writes only if the key's version is v (compare-and-swap).
func IfVersion(v uint64) WriteOption {
	return func(o *writeOpts) { o.ifMatch = `"` + strconv.FormatUint(v, 10) + `"` }
}

// IfExists writes only if the key exists.
func IfExists() WriteOption { return func(o *writeOpts) { o.ifMatch = "*" } }

// IfAbsent writes (puts) only if the key does not exist.
func IfAbsent() WriteOption { return func(o *writeOpts) { o.ifNone = "*" } }

func (o writeOpts) apply(h http.Header) {
	if o.requestID != "" {
		h.Set("Idempotency-Key", o.requestID)
	}
	if o.ifMatch != "" {
		h.Set("If-Match", o.ifMatch)
	}
	if o.ifNone != "" {
		h.Set("If-None-Match", o.ifNone)
	}
}

func collect(opts []WriteOption) writeOpts {
	var o writeOpts
	for _, f := range opts {
		f(&o)
	}
	return o
}

// do sends one request and decodes a JSON answer into out (if not nil),
// or returns the error answer as *Error.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, hdr http.Header, write bool, out any) (*http.Response, []byte, error) {
	u := c.base + path
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, nil, fmt.Errorf("holdfast client: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, transportError(method, u, write, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, transportError(method, u, write, err)
	}
	if res.StatusCode >= 300 && res.StatusCode != http.StatusNotModified {
		return res, data, decodeError(res, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return res, data, fmt.Errorf("holdfast client: %s %s: bad JSON answer: %w", method, u, err)
		}
	}
	return res, data, nil
}

func decodeError(res *http.Response, data []byte) error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.Error.Code == "" {
		// Not one of ours (431 from net/http, a proxy's page).
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return &Error{Status: res.StatusCode, Code: "", Message: fmt.Sprintf("HTTP %s: %s", res.Status, msg)}
	}
	return &Error{Status: res.StatusCode, Code: body.Error.Code, Message: body.Error.Message}
}

func dsPath(name string) string { return "/v1/dataspaces/" + url.PathEscape(name) }

func keyPath(ds string, key []byte) string {
	return dsPath(ds) + "/keys/" + httpapi.EncodeKeyPath(key)
}

// Dataspaces lists the dataspaces.
func (c *Client) Dataspaces(ctx context.Context) ([]DataspaceInfo, error) {
	var out struct {
		Dataspaces []DataspaceInfo `json:"dataspaces"`
	}
	_, _, err := c.do(ctx, "GET", "/v1/dataspaces", nil, nil, false, &out)
	return out.Dataspaces, err
}

// Dataspace describes one dataspace.
func (c *Client) Dataspace(ctx context.Context, name string) (DataspaceInfo, error) {
	var out DataspaceInfo
	_, _, err := c.do(ctx, "GET", dsPath(name), nil, nil, false, &out)
	return out, err
}

// CreateDataspace creates a dataspace with a sync policy ("" or "always",
// or "interval:<duration>").
func (c *Client) CreateDataspace(ctx context.Context, name, sync string) (DataspaceInfo, error) {
	body, _ := json.Marshal(map[string]string{"name": name, "sync": sync})
	var out DataspaceInfo
	_, _, err := c.do(ctx, "POST", "/v1/dataspaces", bytes.NewReader(body), jsonHeader(), true, &out)
	return out, err
}

// DropDataspace deletes a dataspace and all its data, durably.
func (c *Client) DropDataspace(ctx context.Context, name string) error {
	_, _, err := c.do(ctx, "DELETE", dsPath(name), nil, nil, true, nil)
	return err
}

// Reopen recovers a dataspace from what the device holds (the way out of
// a fail-stop).
func (c *Client) Reopen(ctx context.Context, name string) (DataspaceInfo, error) {
	var out DataspaceInfo
	_, _, err := c.do(ctx, "POST", dsPath(name)+"/reopen", nil, nil, false, &out)
	return out, err
}

// Get reads a key.
func (c *Client) Get(ctx context.Context, ds string, key []byte) (Value, error) {
	res, data, err := c.do(ctx, "GET", keyPath(ds, key), nil, http.Header{"Accept": {"application/octet-stream"}}, false, nil)
	if err != nil {
		return Value{}, err
	}
	seq, err := strconv.ParseUint(res.Header.Get("X-Holdfast-Seq"), 10, 64)
	if err != nil {
		return Value{}, fmt.Errorf("holdfast client: GET %s: answer without a valid X-Holdfast-Seq", keyPath(ds, key))
	}
	return Value{Data: data, Seq: seq}, nil
}

// Put stores value under key and returns the write's seq.
func (c *Client) Put(ctx context.Context, ds string, key, value []byte, opts ...WriteOption) (uint64, error) {
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	collect(opts).apply(h)
	var out struct {
		Seq uint64 `json:"seq"`
	}
	_, _, err := c.do(ctx, "PUT", keyPath(ds, key), bytes.NewReader(value), h, true, &out)
	if err == nil && out.Seq == 0 {
		err = fmt.Errorf("holdfast client: PUT %s: answer without a seq; outcome unknown: %w", keyPath(ds, key), holdfast.ErrOutcomeUnknown)
	}
	return out.Seq, err
}

// Delete removes key; existed is false (and nothing written) if it did not
// exist.
func (c *Client) Delete(ctx context.Context, ds string, key []byte, opts ...WriteOption) (existed bool, seq uint64, err error) {
	h := http.Header{}
	collect(opts).apply(h)
	var out struct {
		Deleted bool   `json:"deleted"`
		Seq     uint64 `json:"seq"`
	}
	_, _, err = c.do(ctx, "DELETE", keyPath(ds, key), nil, h, true, &out)
	return out.Deleted, out.Seq, err
}

// Incr adds delta to the decimal integer at key (missing counts as 0).
func (c *Client) Incr(ctx context.Context, ds string, key []byte, delta int64, opts ...WriteOption) (value int64, seq uint64, err error) {
	h := jsonHeader()
	collect(opts).apply(h)
	body, _ := json.Marshal(map[string]int64{"delta": delta})
	var out struct {
		Value int64  `json:"value"`
		Seq   uint64 `json:"seq"`
	}
	_, _, err = c.do(ctx, "POST", dsPath(ds)+"/incr/"+httpapi.EncodeKeyPath(key), bytes.NewReader(body), h, true, &out)
	return out.Value, out.Seq, err
}

// Batch is an atomic group of puts and deletes.
type Batch struct {
	ops []batchOp
}

type batchOp struct {
	Op       string  `json:"op"`
	KeyB64   []byte  `json:"key_b64"`
	ValueB64 *[]byte `json:"value_b64,omitempty"`
}

// Put adds a put to the batch.
func (b *Batch) Put(key, value []byte) {
	v := append([]byte{}, value...)
	b.ops = append(b.ops, batchOp{Op: "put", KeyB64: append([]byte(nil), key...), ValueB64: &v})
}

// Delete adds a delete to the batch.
func (b *Batch) Delete(key []byte) {
	b.ops = append(b.ops, batchOp{Op: "delete", KeyB64: append([]byte(nil), key...)})
}

// Len is the number of operations.
func (b *Batch) Len() int { return len(b.ops) }

// Apply writes the batch atomically (all or none) and returns its seq.
// Preconditions are not supported on batches; only WithRequestID applies.
func (c *Client) Apply(ctx context.Context, ds string, b *Batch, opts ...WriteOption) (uint64, error) {
	o := collect(opts)
	if o.ifMatch != "" || o.ifNone != "" {
		return 0, fmt.Errorf("%w: preconditions are not supported on a batch", ErrBadRequest)
	}
	body, err := json.Marshal(struct {
		Ops       []batchOp `json:"ops"`
		RequestID string    `json:"request_id,omitempty"`
	}{b.ops, o.requestID})
	if err != nil {
		return 0, err
	}
	var out struct {
		Seq uint64 `json:"seq"`
	}
	_, _, err = c.do(ctx, "POST", dsPath(ds)+"/batch", bytes.NewReader(body), jsonHeader(), true, &out)
	if err == nil && out.Seq == 0 {
		err = fmt.Errorf("holdfast client: POST %s/batch: answer without a seq; outcome unknown: %w", dsPath(ds), holdfast.ErrOutcomeUnknown)
	}
	return out.Seq, err
}

// Scan returns one page of keys in byte order.
func (c *Client) Scan(ctx context.Context, ds string, opts ScanOptions) (ScanPage, error) {
	q := url.Values{}
	for _, p := range []struct {
		name string
		v    []byte
	}{{"prefix_b64", opts.Prefix}, {"start_b64", opts.Start}, {"end_b64", opts.End}, {"after_b64", opts.After}} {
		if p.v != nil {
			q.Set(p.name, base64.RawURLEncoding.EncodeToString(p.v))
		}
	}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var out struct {
		Items []struct {
			Key   []byte `json:"key_b64"`
			Value []byte `json:"value_b64"`
			Seq   uint64 `json:"seq"`
		} `json:"items"`
		Next *[]byte `json:"next"`
	}
	path := dsPath(ds) + "/keys"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if _, _, err := c.do(ctx, "GET", path, nil, nil, false, &out); err != nil {
		return ScanPage{}, err
	}
	page := ScanPage{Items: make([]KV, len(out.Items))}
	for i, it := range out.Items {
		page.Items[i] = KV{Key: it.Key, Value: it.Value, Seq: it.Seq}
	}
	if out.Next != nil {
		page.Next = *out.Next
	}
	return page, nil
}

// Readiness is /readyz's answer.
type Readiness struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons"`
}

// Ready asks /readyz. A not-ready server is not an error: Ready is false
// with the reasons.
func (c *Client) Ready(ctx context.Context) (Readiness, error) {
	var out Readiness
	_, data, err := c.do(ctx, "GET", "/readyz", nil, nil, false, &out)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusServiceUnavailable {
		if jerr := json.Unmarshal(data, &out); jerr == nil {
			return out, nil
		}
	}
	return out, err
}

func jsonHeader() http.Header { return http.Header{"Content-Type": {"application/json"}} }
