package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	cfg, warnings, err := Load(nil, nil, "")
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Load: %v %v", err, warnings)
	}
	want := Default()
	if cfg.DataDir != "./holdfast-data" || cfg.HTTPAddr != "127.0.0.1:7070" || cfg.RESPAddr != "127.0.0.1:6380" || cfg.Dataspace != "default" {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.ShutdownGrace != want.ShutdownGrace || cfg.LogLevel != slog.LevelInfo || cfg.Sync.Interval != 0 {
		t.Errorf("defaults: %+v", cfg)
	}
	// Every setting's default renders and parses back to itself.
	for _, s := range Settings() {
		c := Default()
		if err := s.set(&c, s.Default()); err != nil {
			t.Errorf("setting %s: default %q does not parse: %v", s.Name, s.Default(), err)
		}
		if got := s.get(&c); got != s.Default() {
			t.Errorf("setting %s: round trip %q -> %q", s.Name, s.Default(), got)
		}
	}
}

// TestLoadPrecedence: flag > environment > file > default, per setting.
func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, "holdfast.conf", `# a comment
data = /from/file
http = 127.0.0.1:1111
resp = "127.0.0.1:2222"
shutdown-grace = 3s

log-format = json
`)
	env := []string{"HOLDFAST_HTTP=127.0.0.1:3333", "HOLDFAST_RESP=127.0.0.1:4444", "PATH=/bin"}
	flags := map[string]string{"resp": "127.0.0.1:5555"}
	cfg, _, err := Load(flags, env, file)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"data (file)", cfg.DataDir, "/from/file"},
		{"http (env over file)", cfg.HTTPAddr, "127.0.0.1:3333"},
		{"resp (flag over env and file)", cfg.RESPAddr, "127.0.0.1:5555"},
		{"log-format (file)", cfg.LogFormat, "json"},
		{"dataspace (default)", cfg.Dataspace, "default"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.ShutdownGrace != 3*time.Second {
		t.Errorf("shutdown-grace = %v", cfg.ShutdownGrace)
	}
	// HOLDFAST_CONFIG names the file when --config is not given.
	cfg, _, err = Load(nil, []string{"HOLDFAST_CONFIG=" + file}, "")
	if err != nil || cfg.DataDir != "/from/file" {
		t.Errorf("HOLDFAST_CONFIG: %v, data %q", err, cfg.DataDir)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flags   map[string]string
		env     []string
		file    string
		wantErr string
	}{
		{"bad flag value", map[string]string{"max-conns": "0"}, nil, "", "flag --max-conns: bad value \"0\""},
		{"bad env value", nil, []string{"HOLDFAST_SHUTDOWN_GRACE=soon"}, "", "HOLDFAST_SHUTDOWN_GRACE: bad value \"soon\""},
		{"bad file value", nil, nil, "log-format = xml\n", ":1: log-format: bad value \"xml\""},
		{"unknown file key", nil, nil, "\n\ndatadir = x\n", `:3: unknown setting "datadir"`},
		{"line without =", nil, nil, "data /x\n", `:1: want "name = value"`},
		{"duplicate key", nil, nil, "data = a\ndata = b\n", ":2: data set again (first on line 1)"},
		{"bad dataspace name", map[string]string{"dataspace": "../x"}, nil, "", "invalid dataspace name"},
		{"bad sync", map[string]string{"sync": "sometimes"}, nil, "", "sync policy"},
		{"half TLS", map[string]string{"tls-cert": "/c.pem"}, nil, "", "TLS needs both"},
		{"nothing to serve", map[string]string{"http": "off", "resp": "off"}, nil, "", "nothing to serve"},
		{"missing config file", nil, []string{"HOLDFAST_CONFIG=/nonexistent/holdfast.conf"}, "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := ""
			if tc.file != "" {
				file = writeFile(t, "c.conf", tc.file)
			}
			_, _, err := Load(tc.flags, tc.env, file)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadWarnsOfUnknownEnv(t *testing.T) {
	_, warnings, err := Load(nil, []string{"HOLDFAST_HTTP_ADDR=x", "HOLDFAST_DATA=/d"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "HOLDFAST_HTTP_ADDR") {
		t.Fatalf("warnings = %q", warnings)
	}
}
