// Package server runs holdfast as a network service: the engine, the
// HTTP/JSON API with /livez, /readyz and /metrics, and the Redis protocol,
// with configuration, logs, limits, authentication, TLS and graceful
// shutdown. `holdfast serve` is a thin command over Load and Run; tests
// call Run directly.
package server

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/holdfast-db/holdfast"
	"github.com/holdfast-db/holdfast/internal/httpapi"
	"github.com/holdfast-db/holdfast/internal/resp"
)

// Config is everything `holdfast serve` can be told. The zero value is
// not usable; start from Default().
type Config struct {
	DataDir   string // data directory, created if missing
	HTTPAddr  string // HTTP listen address; "off" disables HTTP
	RESPAddr  string // RESP listen address; "off" disables RESP
	Dataspace string // created on first start; RESP's initial SELECT
	Sync      holdfast.SyncPolicy

	TokenFile   string // bearer token (HTTP) and AUTH password (RESP)
	TLSCertFile string // PEM certificate; with TLSKeyFile enables TLS on both ports
	TLSKeyFile  string

	LogFormat string // "text" or "json"
	LogLevel  slog.Level

	ShutdownGrace time.Duration // in-flight requests get this long after SIGTERM
	AutoReopen    bool          // a fail-stopped dataspace reopens itself with backoff
	ConfirmSyncs  bool          // every log sync is two fdatasyncs (holdfast.Options.ConfirmSyncs)

	// Limits.
	MaxConns        int   // per protocol; the next client gets a clear error
	MaxRequestBytes int64 // HTTP request body
	MaxHeaderBytes  int   // HTTP request header
	MaxBulkBytes    int   // one RESP argument
	MaxPipeline     int   // RESP replies buffered before a flush (see docs/server.md)
	IdleTimeout     time.Duration
}

// Default returns the embedded default: ./holdfast-data, HTTP on
// 127.0.0.1:7070, RESP on 127.0.0.1:6380, dataspace "default".
func Default() Config {
	return Config{
		DataDir:         "./holdfast-data",
		HTTPAddr:        "127.0.0.1:7070",
		RESPAddr:        "127.0.0.1:6380",
		Dataspace:       "default",
		Sync:            holdfast.SyncAlways,
		LogFormat:       "text",
		LogLevel:        slog.LevelInfo,
		ShutdownGrace:   10 * time.Second,
		MaxConns:        DefaultMaxConns,
		MaxRequestBytes: httpapi.DefaultMaxRequestBytes,
		MaxHeaderBytes:  DefaultMaxHeaderBytes,
		MaxBulkBytes:    resp.DefaultMaxBulkBytes,
		MaxPipeline:     resp.DefaultMaxPendingReplies,
		IdleTimeout:     DefaultIdleTimeout,
	}
}

// Defaults of the limits.
const (
	// DefaultMaxConns bounds each protocol's concurrent connections.
	DefaultMaxConns = 10_000
	// DefaultMaxHeaderBytes bounds an HTTP request's header (net/http
	// answers 431 past it).
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultIdleTimeout closes connections idle this long (HTTP
	// keep-alive and RESP); zero would mean never.
	DefaultIdleTimeout = 5 * time.Minute
	// readHeaderTimeout bounds how long a client may take to send an
	// HTTP header (slowloris).
	readHeaderTimeout = 10 * time.Second
)

// Setting is one configuration knob. Its name is the flag (--name), the
// config-file key (name = value) and, upper-cased with '-' as '_' and
// HOLDFAST_ before it, the environment variable.
type Setting struct {
	Name  string
	Usage string
	get   func(*Config) string
	set   func(*Config, string) error
}

// Env is the setting's environment variable.
func (s Setting) Env() string {
	return "HOLDFAST_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// Default renders the setting's value in Default().
func (s Setting) Default() string {
	c := Default()
	return s.get(&c)
}

// Settings lists every knob, in the order of the documentation.
func Settings() []Setting { return slices.Clone(settings) }

var settings = []Setting{
	str("data", "data directory (created if missing)", func(c *Config) *string { return &c.DataDir }),
	str("http", `HTTP listen address ("off" disables HTTP)`, func(c *Config) *string { return &c.HTTPAddr }),
	str("resp", `Redis-protocol listen address ("off" disables RESP)`, func(c *Config) *string { return &c.RESPAddr }),
	{Name: "dataspace", Usage: "dataspace created on first start and selected by new RESP connections",
		get: func(c *Config) string { return c.Dataspace },
		set: func(c *Config, v string) error {
			if err := holdfast.ValidName(v); err != nil {
				return err
			}
			c.Dataspace = v
			return nil
		}},
	{Name: "sync", Usage: `sync policy of a dataspace created on first start: "always" or "interval:<duration>"`,
		get: func(c *Config) string { return c.Sync.String() },
		set: func(c *Config, v string) error {
			p, err := holdfast.ParseSyncPolicy(v)
			c.Sync = p
			return err
		}},
	str("token-file", "file holding the bearer token (HTTP) and AUTH password (RESP); empty: no authentication", func(c *Config) *string { return &c.TokenFile }),
	str("tls-cert", "PEM certificate file; with --tls-key, serve both protocols over TLS", func(c *Config) *string { return &c.TLSCertFile }),
	str("tls-key", "PEM private key file of --tls-cert", func(c *Config) *string { return &c.TLSKeyFile }),
	{Name: "log-format", Usage: `log format: "text" or "json"`,
		get: func(c *Config) string { return c.LogFormat },
		set: func(c *Config, v string) error {
			if v != "text" && v != "json" {
				return fmt.Errorf("want \"text\" or \"json\"")
			}
			c.LogFormat = v
			return nil
		}},
	{Name: "log-level", Usage: "log level: debug, info, warn or error",
		get: func(c *Config) string { return strings.ToLower(c.LogLevel.String()) },
		set: func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	duration("shutdown-grace", "on SIGTERM/SIGINT, how long in-flight requests may take before connections are closed", func(c *Config) *time.Duration { return &c.ShutdownGrace }),
	boolean("auto-reopen", "reopen a fail-stopped dataspace from the device automatically, with backoff", func(c *Config) *bool { return &c.AutoReopen }),
	boolean("confirm-syncs", "confirm every log fdatasync with a second one (on by itself on ext4 data=journal, which reports a failed sync on the next one)", func(c *Config) *bool { return &c.ConfirmSyncs }),
	integer("max-conns", "concurrent connections per protocol", 1, 1_000_000, func(c *Config) *int { return &c.MaxConns }),
	{Name: "max-request-bytes", Usage: "largest HTTP request body, in bytes",
		get: func(c *Config) string { return strconv.FormatInt(c.MaxRequestBytes, 10) },
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return fmt.Errorf("want a positive number of bytes")
			}
			c.MaxRequestBytes = n
			return nil
		}},
	integer("max-header-bytes", "largest HTTP request header, in bytes", 1024, 16<<20, func(c *Config) *int { return &c.MaxHeaderBytes }),
	integer("max-bulk-bytes", "largest RESP argument (bulk string), in bytes", 1, 512<<20, func(c *Config) *int { return &c.MaxBulkBytes }),
	integer("max-pipeline", "RESP replies a connection buffers before flushing while its client keeps pipelining", 1, 1<<20, func(c *Config) *int { return &c.MaxPipeline }),
	duration("idle-timeout", "close a connection idle this long (0: never)", func(c *Config) *time.Duration { return &c.IdleTimeout }),
}

func str(name, usage string, field func(*Config) *string) Setting {
	return Setting{Name: name, Usage: usage,
		get: func(c *Config) string { return *field(c) },
		set: func(c *Config, v string) error { *field(c) = v; return nil }}
}

func duration(name, usage string, field func(*Config) *time.Duration) Setting {
	return Setting{Name: name, Usage: usage,
		get: func(c *Config) string { return field(c).String() },
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("want a duration such as 10s or 500ms")
			}
			*field(c) = d
			return nil
		}}
}

func boolean(name, usage string, field func(*Config) *bool) Setting {
	return Setting{Name: name, Usage: usage,
		get: func(c *Config) string { return strconv.FormatBool(*field(c)) },
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false")
			}
			*field(c) = b
			return nil
		}}
}

func integer(name, usage string, lo, hi int, field func(*Config) *int) Setting {
	return Setting{Name: name, Usage: usage,
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("want an integer in %d..%d", lo, hi)
			}
			*field(c) = n
			return nil
		}}
}

// ConfigEnv names the environment variable that points at a config file
// when --config is not given.
const ConfigEnv = "HOLDFAST_CONFIG"

// Load resolves the configuration: for each setting the flag if given,
// else the environment variable, else the config file, else the default.
// flags holds the flags given on the command line by setting name; env is
// os.Environ()'s form; configFile may be empty (then HOLDFAST_CONFIG
// names it, if set). Every error names its source and setting. Unknown
// HOLDFAST_* variables are not errors (tools share the prefix) but come
// back as warnings, since a misspelt one is otherwise silently ignored.
func Load(flags map[string]string, env []string, configFile string) (cfg Config, warnings []string, err error) {
	envMap := make(map[string]string)
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "HOLDFAST_") {
			envMap[k] = v
		}
	}
	if configFile == "" {
		configFile = envMap[ConfigEnv]
	}
	var file map[string]fileValue
	if configFile != "" {
		if file, err = readConfigFile(configFile); err != nil {
			return Config{}, nil, err
		}
	}
	cfg = Default()
	known := map[string]bool{ConfigEnv: true}
	for _, s := range settings {
		known[s.Env()] = true
		var v, source string
		if fv, ok := flags[s.Name]; ok {
			v, source = fv, "flag --"+s.Name
		} else if ev, ok := envMap[s.Env()]; ok {
			v, source = ev, "environment variable "+s.Env()
		} else if fv, ok := file[s.Name]; ok {
			v, source = fv.value, fmt.Sprintf("%s:%d: %s", configFile, fv.line, s.Name)
		} else {
			continue
		}
		if err := s.set(&cfg, v); err != nil {
			return Config{}, nil, fmt.Errorf("%s: bad value %q: %w", source, v, err)
		}
		delete(file, s.Name)
	}
	for name, fv := range file {
		if !slices.ContainsFunc(settings, func(s Setting) bool { return s.Name == name }) {
			return Config{}, nil, fmt.Errorf("%s:%d: unknown setting %q", configFile, fv.line, name)
		}
	}
	for k := range envMap {
		if !known[k] && !strings.HasPrefix(k, "HOLDFAST_KILLTEST_") {
			warnings = append(warnings, "ignoring unknown environment variable "+k)
		}
	}
	slices.Sort(warnings)
	for name := range flags {
		if !slices.ContainsFunc(settings, func(s Setting) bool { return s.Name == name }) {
			return Config{}, nil, fmt.Errorf("unknown setting %q", name)
		}
	}
	return cfg, warnings, cfg.Validate()
}

// Validate checks what no single setting can: TLS needs both files.
func (c Config) Validate() error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("TLS needs both tls-cert and tls-key")
	}
	if c.HTTPAddr == "off" && c.RESPAddr == "off" {
		return errors.New("both http and resp are off: nothing to serve")
	}
	if c.DataDir == "" {
		return errors.New("data: the data directory must not be empty")
	}
	return nil
}

type fileValue struct {
	value string
	line  int
}

// readConfigFile reads the config file format: one "name = value" per
// line, names as the flags without "--"; blank lines and lines starting
// with '#' are ignored; the value is the rest of the line, spaces around
// it trimmed, optionally in double quotes (Go syntax) to keep them.
func readConfigFile(name string) (map[string]fileValue, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	out := make(map[string]fileValue)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want \"name = value\", got %q", name, n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			uq, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: bad quoted value %s", name, n, v)
			}
			v = uq
		}
		if prev, dup := out[k]; dup {
			return nil, fmt.Errorf("%s:%d: %s set again (first on line %d)", name, n, k, prev.line)
		}
		out[k] = fileValue{value: v, line: n}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", name, err)
	}
	return out, nil
}
