package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// binary is the holdfast binary built once for the package's tests.
var binary string

// quietRedisLog drops go-redis's own log lines (failed redials after the
// server was stopped on purpose); the tests check every error they get.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedisLog{})
	dir, err := os.MkdirTemp("", "holdfast-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "holdfast")
	build := exec.Command("go", "build", "-o", binary, "github.com/holdfast-db/holdfast/cmd/holdfast")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build of cmd/holdfast failed:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects a process's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is one running `holdfast serve`.
type proc struct {
	t          *testing.T
	cmd        *exec.Cmd
	data       string
	http, resp string // host:port
	logs       *lockedBuffer
	done       chan struct{}
	exitErr    error
}

// serve starts the binary on data with loopback port 0 for both
// protocols (unless args override them) and JSON logs, and waits for its
// "serving" line.
func serve(t *testing.T, data string, args ...string) *proc {
	t.Helper()
	all := append([]string{"serve", "--data", data, "--http", "127.0.0.1:0", "--resp", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(binary, all...)
	cmd.Env = append(os.Environ(), "HOLDFAST_CONFIG=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, data: data, logs: &lockedBuffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.logs.Write(append(line, '\n'))
			var ev map[string]any
			if json.Unmarshal(line, &ev) == nil && ev["msg"] == "serving" {
				select {
				case serving <- ev:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		p.exitErr = cmd.Wait()
		close(p.done)
	}()
	select {
	case ev := <-serving:
		p.http, _ = ev["http"].(string)
		p.resp, _ = ev["resp"].(string)
	case <-p.done:
		t.Fatalf("holdfast serve exited before serving: %v\n%s", p.exitErr, p.logs)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("holdfast serve did not report serving within 60s\n%s", p.logs)
	}
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit 0.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.terminate(30 * time.Second); err != nil {
		p.t.Fatalf("%v\nlogs:\n%s", err, p.logs)
	}
}

// terminate sends SIGTERM and returns an error unless the process exits
// 0 within limit.
func (p *proc) terminate(limit time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-p.done:
		if p.exitErr != nil {
			return fmt.Errorf("holdfast serve exited with %v after SIGTERM", p.exitErr)
		}
		return nil
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("holdfast serve did not exit within %v of SIGTERM", limit)
	}
}

func (p *proc) url(path string) string { return "http://" + p.http + path }

// request sends an HTTP request and returns status and body.
func request(t *testing.T, method, url string, body io.Reader, hdr ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// cli runs the holdfast binary as a client.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (scripts/install-test-deps.sh installs redis-tools); skipping the test with the real client", name)
	}
}

// redisCLI runs the real redis-cli against p.
func redisCLI(t *testing.T, p *proc, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(p.resp, ":")
	cmd := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %q: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}
