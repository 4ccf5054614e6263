package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key,
// and returns their paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "holdfast e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTokenAndTLS: with a token file and a certificate, both protocols
// speak TLS only and require the token; the CLI and redis-cli work with
// the right credentials.
func TestTokenAndTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("e2e-secret-token\n"), 0o600)
	p := serve(t, t.TempDir(), "--token-file", tokenFile, "--tls-cert", certFile, "--tls-key", keyFile)
	ctx := context.Background()
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", "https://"+p.http+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("/v1/dataspaces", ""); code != 401 || !strings.Contains(body, `"code":"unauthorized"`) {
		t.Errorf("HTTPS without token: %d %s", code, body)
	}
	if code, body := get("/v1/dataspaces", "wrong"); code != 401 {
		t.Errorf("HTTPS with a wrong token: %d %s", code, body)
	}
	if code, body := get("/v1/dataspaces", "e2e-secret-token"); code != 200 {
		t.Errorf("HTTPS with the token: %d %s", code, body)
	}
	if code, _ := get("/livez", ""); code != 200 {
		t.Errorf("/livez needs no token: %d", code)
	}
	// Plain HTTP to the TLS port gets no data.
	if res, err := http.Get("http://" + p.http + "/v1/dataspaces"); err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Errorf("plain HTTP on the TLS port answered 200: %s", b)
		}
	}

	// RESP over TLS: no AUTH → NOAUTH; wrong password → WRONGPASS; right → works.
	noauth := redis.NewClient(&redis.Options{Addr: p.resp, TLSConfig: tlsCfg, MaxRetries: -1, Protocol: 2})
	if err := noauth.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("RESP without AUTH: %v, want NOAUTH", err)
	}
	noauth.Close()
	wrong := redis.NewClient(&redis.Options{Addr: p.resp, TLSConfig: tlsCfg, MaxRetries: -1, Password: "nope"})
	if err := wrong.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("RESP with a wrong password: %v, want WRONGPASS", err)
	}
	wrong.Close()
	rdb := redis.NewClient(&redis.Options{Addr: p.resp, TLSConfig: tlsCfg, MaxRetries: -1, Password: "e2e-secret-token"})
	if err := rdb.Set(ctx, "k", "over tls", 0).Err(); err != nil {
		t.Fatalf("RESP with TLS and AUTH: %v", err)
	}
	rdb.Close()
	// Plain RESP to the TLS port gets no reply it could use.
	if got := respExchange(t, p.resp, "*1\r\n$4\r\nPING\r\n"); strings.Contains(got, "PONG") {
		t.Errorf("plain RESP on the TLS port answered %q", got)
	}

	// The CLI with --cacert and --token-file.
	code, out, errOut := cli(t, "get", "k", "--addr", "https://"+p.http, "--cacert", certFile, "--token-file", tokenFile)
	if code != 0 || out != "over tls" {
		t.Errorf("holdfast get over TLS: exit %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cli(t, "get", "k", "--addr", "https://"+p.http, "--token-file", tokenFile); code != 1 || !strings.Contains(errOut, "certificate") {
		t.Errorf("holdfast get without --cacert: exit %d %q, want a certificate error", code, errOut)
	}

	// redis-cli over TLS, when it is installed.
	if _, err := exec.LookPath("redis-cli"); err == nil {
		host, port, _ := strings.Cut(p.resp, ":")
		out, err := exec.Command("redis-cli", "--tls", "--cacert", certFile, "-h", host, "-p", port,
			"-a", "e2e-secret-token", "--no-auth-warning", "GET", "k").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "over tls" {
			t.Errorf("redis-cli --tls: %v %q", err, out)
		}
	} else {
		t.Log("redis-cli not installed: its TLS step was not run")
	}
	p.stop()
}

// TestBadSecurityConfigRefusedAtStart: an empty token file or a
// certificate without its key stops the server with exit 2 (usage) or 1
// and a message naming the file.
func TestBadSecurityConfigRefusedAtStart(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "token")
	os.WriteFile(empty, []byte("\n"), 0o600)
	certFile, _, _ := selfSigned(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--token-file", empty}, 1, "is empty"},
		{[]string{"--token-file", "/nonexistent/token"}, 1, "token-file"},
		{[]string{"--tls-cert", certFile}, 2, "TLS needs both"},
		{[]string{"--tls-cert", certFile, "--tls-key", certFile}, 1, "tls:"},
		{[]string{"--http", "not-an-address"}, 1, "http listener"},
	} {
		args := append([]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--resp", "127.0.0.1:0"}, tc.args...)
		code, _, errOut := cli(t, args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("serve %v: exit %d (want %d), stderr %q (want %q)", tc.args, code, tc.code, errOut, tc.want)
		}
	}
}

// TestConnectionLimits: over --max-conns each protocol answers with a
// clear error and closes; clients under the limit keep working.
func TestConnectionLimits(t *testing.T) {
	p := serve(t, t.TempDir(), "--max-conns", "2")
	ctx := context.Background()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", p.resp)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// Let the server register both before the third arrives.
	time.Sleep(200 * time.Millisecond)
	if got := respExchange(t, p.resp, "*1\r\n$4\r\nPING\r\n"); !strings.HasPrefix(got, "-ERR max number of clients reached") {
		t.Errorf("third RESP connection: %q", got)
	}
	held[0].Close()
	held = held[1:]
	time.Sleep(200 * time.Millisecond)
	rdb := redis.NewClient(&redis.Options{Addr: p.resp, MaxRetries: -1, PoolSize: 1})
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Errorf("RESP under the limit again: %v", err)
	}
	rdb.Close()

	// HTTP: two idle connections, the third request gets 503.
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", p.http)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(200 * time.Millisecond)
	tr := &http.Transport{DisableKeepAlives: true}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	res, err := hc.Get(p.url("/v1/dataspaces"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || !strings.Contains(string(b), `"code":"too_many_connections"`) {
		t.Errorf("HTTP over the limit: %d %s", res.StatusCode, b)
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	time.Sleep(200 * time.Millisecond)
	if code, body := request(t, "GET", p.url("/v1/dataspaces"), nil); code != 200 {
		t.Errorf("HTTP under the limit again: %d %s", code, body)
	}
	p.stop()
}
