package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfigFile feeds arbitrary bytes to the config-file reader and to
// Load: they must never panic, and whatever Load accepts must validate.
func FuzzConfigFile(f *testing.F) {
	f.Add("data = /x\nhttp = 127.0.0.1:1\n")
	f.Add("# c\n\nresp = \"127.0.0.1:2\"\nmax-conns = 3\n")
	f.Add("log-level = debug\nsync = interval:5ms\nshutdown-grace = 1s\n")
	f.Add("a\x00=\xff\n=\n\"\n")
	f.Fuzz(func(t *testing.T, content string) {
		p := filepath.Join(t.TempDir(), "c.conf")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := Load(nil, nil, p)
		if err != nil {
			if !strings.Contains(err.Error(), "c.conf") && !strings.Contains(err.Error(), "TLS") && !strings.Contains(err.Error(), "nothing to serve") && !strings.Contains(err.Error(), "data") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Load accepted a config that does not validate: %v", err)
		}
	})
}
