package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// QuiesceOptions are the optional fields of POST /v1/quiesce
// (docs/snapshots.md); zero values leave the server's defaults.
type QuiesceOptions struct {
	AutoResume time.Duration // resume by itself after this long (server default 60 s)
	WriteWait  time.Duration // writes arriving while quiesced wait this long (0: fail at once)
	FSFreeze   bool          // also freeze the file system (FIFREEZE)
	Timeout    time.Duration // give up, leaving the server writable (server default 30 s)
}

// QuiesceDataspace is one dataspace as the quiesce recorded it.
type QuiesceDataspace struct {
	Name        string `json:"name"`
	LastSeq     uint64 `json:"last_seq"`
	Keys        int    `json:"keys"`
	Bytes       int64  `json:"bytes"`
	ContentHash string `json:"content_hash"`
}

// QuiesceInfo is the answer of POST /v1/quiesce and GET /v1/quiesce.
type QuiesceInfo struct {
	Quiesced   bool               `json:"quiesced"`
	ID         string             `json:"quiesce_id"`
	Time       time.Time          `json:"time"`
	ResumeBy   time.Time          `json:"resume_by"`
	FSFreeze   bool               `json:"fsfreeze"`
	DurationMS float64            `json:"duration_ms"`
	Dataspaces []QuiesceDataspace `json:"dataspaces"`
}

// Quiesce drains and holds writes and makes everything durable for a
// volume snapshot; it returns once the server says all is on stable
// storage. A second call while quiesced returns the same id.
func (c *Client) Quiesce(ctx context.Context, opts QuiesceOptions) (QuiesceInfo, error) {
	req := map[string]any{"fsfreeze": opts.FSFreeze}
	for name, d := range map[string]time.Duration{"auto_resume": opts.AutoResume, "write_wait": opts.WriteWait, "timeout": opts.Timeout} {
		if d > 0 {
			req[name] = d.String()
		}
	}
	b, _ := json.Marshal(req)
	var out QuiesceInfo
	_, _, err := c.do(ctx, "POST", "/v1/quiesce", bytes.NewReader(b), jsonHeader(), false, &out)
	return out, err
}

// Resume ends the quiesce id (empty: the active one). It reports whether
// anything was quiesced; resuming a server that is not is not an error.
func (c *Client) Resume(ctx context.Context, id string) (resumed bool, resumedID string, err error) {
	b, _ := json.Marshal(map[string]string{"quiesce_id": id})
	var out struct {
		Resumed bool   `json:"resumed"`
		ID      string `json:"quiesce_id"`
	}
	_, _, err = c.do(ctx, "POST", "/v1/resume", bytes.NewReader(b), jsonHeader(), false, &out)
	return out.Resumed, out.ID, err
}

// QuiesceStatus returns the active quiesce (Quiesced false when none).
func (c *Client) QuiesceStatus(ctx context.Context) (QuiesceInfo, error) {
	var out QuiesceInfo
	_, _, err := c.do(ctx, "GET", "/v1/quiesce", nil, nil, false, &out)
	return out, err
}

// Snapshot streams a logical snapshot (docs/format.md, "Logical
// snapshot") of the named dataspaces, or of all, into w. The stream is
// self-verifying; a stream cut short has no trailer, so verify what w
// received (holdfast snapshot save does) before trusting it.
func (c *Client) Snapshot(ctx context.Context, dataspaces []string, w io.Writer) (int64, error) {
	q := url.Values{}
	for _, n := range dataspaces {
		q.Add("dataspace", n)
	}
	u := c.base + "/v1/snapshot"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return 0, fmt.Errorf("holdfast client: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, transportError("GET", u, false, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return 0, decodeError(res, data)
	}
	n, err := io.Copy(w, res.Body)
	if err != nil {
		return n, fmt.Errorf("GET %s: after %d bytes: %w", u, n, err)
	}
	return n, nil
}
