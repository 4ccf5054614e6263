package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/holdfast-db/holdfast/client"
)

// clientFlags are the flags of every verb that talks to a server over
// HTTP. A verb calls addClientFlags in its constructor and f.client() in
// its RunE.
type clientFlags struct {
	addr      string
	tokenFile string
	cacert    string
	timeout   time.Duration
	output    string
	outputs   []string
}

// addClientFlags adds --addr, --token-file, --cacert, --timeout and
// -o/--output (one of outputs; the first is the default).
func addClientFlags(cmd *cobra.Command, outputs ...string) *clientFlags {
	if len(outputs) == 0 {
		outputs = []string{"table", "json"}
	}
	f := &clientFlags{outputs: outputs}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", envOr("HOLDFAST_ADDR", defaultAddr), "server's HTTP address, http:// or https:// ($HOLDFAST_ADDR)")
	fl.StringVar(&f.tokenFile, "token-file", os.Getenv("HOLDFAST_TOKEN_FILE"), "file holding the bearer token ($HOLDFAST_TOKEN_FILE)")
	fl.StringVar(&f.cacert, "cacert", "", "PEM file of the CA that signed the server's TLS certificate")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up on the server after this long")
	fl.StringVarP(&f.output, "output", "o", outputs[0], "output format: "+strings.Join(outputs, ", "))
	return f
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// client validates the flags and returns a client and a context bounded
// by --timeout.
func (f *clientFlags) client(cmd *cobra.Command) (*client.Client, context.Context, context.CancelFunc, error) {
	if !contains(f.outputs, f.output) {
		return nil, nil, nil, usageErrorf("-o %s: want one of %s", f.output, strings.Join(f.outputs, ", "))
	}
	opts := client.Options{Timeout: f.timeout}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, nil, nil, usageErrorf("--token-file: %v", err)
		}
		opts.Token = strings.TrimSpace(string(b))
	}
	if f.cacert != "" {
		pem, err := os.ReadFile(f.cacert)
		if err != nil {
			return nil, nil, nil, usageErrorf("--cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, nil, usageErrorf("--cacert %s: no PEM certificate in it", f.cacert)
		}
		opts.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c, err := client.New(f.addr, opts)
	if err != nil {
		return nil, nil, nil, usageErrorf("--addr: %v", err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	return c, ctx, cancel, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printable renders bytes for a table: as text when they are valid UTF-8
// without control characters, else as a Go-quoted string.
func printable(b []byte) string {
	if utf8.Valid(b) {
		ok := true
		for _, r := range string(b) {
			if r < ' ' || r == 0x7f {
				ok = false
				break
			}
		}
		if ok && len(b) > 0 {
			return string(b)
		}
	}
	return fmt.Sprintf("%q", b)
}

// bytesJSON is a key or value in -o json: the text when it is valid
// UTF-8, and always the base64 (exact bytes).
type bytesJSON struct {
	Text *string `json:"text,omitempty"`
	B64  []byte  `json:"b64"`
}

func jsonBytes(b []byte) bytesJSON {
	out := bytesJSON{B64: b}
	if out.B64 == nil {
		out.B64 = []byte{}
	}
	if utf8.Valid(b) {
		s := string(b)
		out.Text = &s
	}
	return out
}
