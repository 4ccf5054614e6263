package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// maxTokenBytes bounds the token file: a token is a secret string, not a
// document.
const maxTokenBytes = 4096

// readToken reads the bearer token / AUTH password from name: the file's
// content with surrounding white space (a trailing newline) removed. An
// empty or oversize file, or one with white space or control characters
// inside the token, is an error: a token that cannot be typed into an
// Authorization header or a redis-cli -a is a mistake.
func readToken(name string, log *slog.Logger) (string, error) {
	if name == "" {
		return "", nil
	}
	fi, err := os.Stat(name)
	if err != nil {
		return "", fmt.Errorf("token-file: %w", err)
	}
	if fi.Size() > maxTokenBytes {
		return "", fmt.Errorf("token-file %s: %d bytes; a token is at most %d", name, fi.Size(), maxTokenBytes)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("token file is readable by other users; chmod 600 it", "file", name, "mode", fi.Mode().Perm().String())
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token-file %s is empty", name)
	}
	for _, c := range tok {
		if c <= ' ' || c == 0x7f {
			return "", fmt.Errorf("token-file %s: the token contains white space or a control character", name)
		}
	}
	return tok, nil
}

// loadTLS loads the certificate and key, or returns nil when TLS is off.
func loadTLS(cfg Config) (*tls.Config, error) {
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" {
		return nil, nil
	}
	if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
		return nil, errors.New("TLS needs both tls-cert and tls-key")
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
