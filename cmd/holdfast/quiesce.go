package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() {
	addCommand(newQuiesceCmd)
	addCommand(newResumeCmd)
}

// defaultAddr is the server's default HTTP address.
const defaultAddr = "http://127.0.0.1:7070"

// adminFlags are the flags of verbs that talk to a running server.
type adminFlags struct {
	addr, tokenFile, output string
}

func (f *adminFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "addr", defaultAddr, "the server's HTTP address (URL)")
	cmd.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token, if the server requires one")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
}

func (f *adminFlags) validate() error {
	if f.output != "json" && f.output != "table" {
		return usageErrorf("-o must be json or table, not %q", f.output)
	}
	if f.addr == "" {
		return usageErrorf("--addr must not be empty")
	}
	if !strings.Contains(f.addr, "://") {
		f.addr = "http://" + f.addr
	}
	return nil
}

// call sends a request to the server and returns the response body; an
// error response becomes an error carrying the server's code and message.
func (f *adminFlags) call(method, path string, body any, timeout time.Duration) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimRight(f.addr, "/")+path, rd)
	if err != nil {
		return nil, usageErrorf("--addr %q: %v", f.addr, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if f.tokenFile != "" {
		tok, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, usageErrorf("--token-file: %v", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	client := &http.Client{Timeout: timeout}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, req.URL, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return nil, fmt.Errorf("%s %s: %s (%s): %s", method, req.URL, resp.Status, e.Error.Code, e.Error.Message)
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, req.URL, resp.Status, bytes.TrimSpace(data))
	}
	return resp, nil
}

// callJSON is call, decoding a JSON answer into out (and returning its
// raw bytes for -o json).
func (f *adminFlags) callJSON(method, path string, body any, timeout time.Duration, out any) ([]byte, error) {
	resp, err := f.call(method, path, body, timeout)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("%s %s: undecodable answer: %v", method, path, err)
	}
	return data, nil
}

type quiesceAnswer struct {
	Quiesced   bool      `json:"quiesced"`
	ID         string    `json:"quiesce_id"`
	Time       time.Time `json:"time"`
	ResumeBy   time.Time `json:"resume_by"`
	FSFreeze   bool      `json:"fsfreeze"`
	DurationMS float64   `json:"duration_ms"`
	Dataspaces []struct {
		Name        string `json:"name"`
		LastSeq     uint64 `json:"last_seq"`
		Keys        int    `json:"keys"`
		ContentHash string `json:"content_hash"`
	} `json:"dataspaces"`
}

func newQuiesceCmd() *cobra.Command {
	var af adminFlags
	var autoResume, writeWait, timeout time.Duration
	var fsfreeze bool
	cmd := &cobra.Command{
		Use:   "quiesce --addr URL",
		Short: "Drain and hold writes and make everything durable for a volume snapshot",
		Long: `quiesce asks a running server to drain writes on every dataspace, hold new
ones, sync every log, checkpoint, write snapshot.json files durably and
syncfs; it returns the quiesce id only when all of that is on stable
storage. Take the volume snapshot, then run holdfast resume. The server
resumes by itself after --auto-resume if no resume comes. Running quiesce
again while quiesced returns the same id.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := af.validate(); err != nil {
				return err
			}
			if timeout <= 0 {
				return usageErrorf("--timeout must be positive")
			}
			req := map[string]any{"timeout": timeout.String(), "write_wait": writeWait.String(), "fsfreeze": fsfreeze}
			if autoResume > 0 {
				req["auto_resume"] = autoResume.String()
			}
			var ans quiesceAnswer
			raw, err := af.callJSON("POST", "/v1/quiesce", req, timeout+10*time.Second, &ans)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if af.output == "json" {
				out.Write(raw)
				return nil
			}
			fmt.Fprintf(out, "quiesced %s in %.1f ms; auto-resume by %s\n", ans.ID, ans.DurationMS, ans.ResumeBy.UTC().Format(time.RFC3339))
			for _, d := range ans.Dataspaces {
				fmt.Fprintf(out, "  %s: last seq %d, %d keys, %s\n", d.Name, d.LastSeq, d.Keys, d.ContentHash)
			}
			return nil
		},
	}
	af.register(cmd)
	cmd.Flags().DurationVar(&autoResume, "auto-resume", 0, "resume by itself after this long (server default 60s)")
	cmd.Flags().DurationVar(&writeWait, "write-wait", 0, "writes arriving while quiesced wait this long before failing (0: fail at once)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "give up (and leave the server writable) after this long")
	cmd.Flags().BoolVar(&fsfreeze, "fsfreeze", false, "also freeze the file system (FIFREEZE; needs root) until resume")
	return cmd
}

func newResumeCmd() *cobra.Command {
	var af adminFlags
	var id string
	cmd := &cobra.Command{
		Use:   "resume --addr URL [--id QUIESCE_ID]",
		Short: "End a quiesce: writes flow again, a frozen file system is thawed",
		Long: `resume ends the active quiesce (or only the one named by --id). Resuming a
server that is not quiesced is not an error, so a post-hook may run twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := af.validate(); err != nil {
				return err
			}
			var ans struct {
				Resumed bool   `json:"resumed"`
				ID      string `json:"quiesce_id"`
			}
			raw, err := af.callJSON("POST", "/v1/resume", map[string]string{"quiesce_id": id}, 30*time.Second, &ans)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case af.output == "json":
				out.Write(raw)
			case ans.Resumed:
				fmt.Fprintf(out, "resumed %s\n", ans.ID)
			default:
				fmt.Fprintln(out, "not quiesced; nothing to resume")
			}
			return nil
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "resume only this quiesce id")
	return cmd
}
