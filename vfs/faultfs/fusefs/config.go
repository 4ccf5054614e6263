package fusefs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"

	"github.com/holdfast-db/holdfast/vfs/faultfs"
)

// Config is what --faults files give: faults to inject from the start, and
// LazyFS's control settings.
type Config struct {
	Injections []Injection
	// FIFO and FIFOCompleted are LazyFS's [faults] fifo_path and
	// fifo_path_completed.
	FIFO, FIFOCompleted string
	// CacheLimitBytes is LazyFS's [cache] apply_eviction with
	// [cache.simple] custom_size: past it, clean pages are evicted.
	CacheLimitBytes int64
	// LogFile is LazyFS's [file system] logfile.
	LogFile string
}

// Injection is one fault given in a config file or on the FIFO.
type Injection struct {
	// Type is "clear" (LazyFS: lose unsynced data and stop at the N-th
	// matching operation), "torn-op", "torn-seq", "spec" (a faultfs
	// injector in ParseInjector's text form) or "cuttlefs" (a CuttleFS
	// fault: fail writes of one block or sector of a file to the device,
	// following a sequence string).
	Type string
	// clear: Op is a LazyFS operation name; From and To are regexps
	// matched against the model path (To: a rename's new path); Timing is
	// "before" or "after"; Occurrence is 1-based.
	Op, Timing string
	From, To   *regexp.Regexp
	Occurrence int
	// torn-op and torn-seq: File is a model path; Parts or PartsBytes
	// split a write (torn-op); Persist lists, 1-based, the parts
	// (torn-op) or writes (torn-seq) that reach the medium.
	File       string
	Parts      int
	PartsBytes []int64
	Persist    []int
	// spec: the injector text.
	Spec string
	// cuttlefs: File, Seq, and the block (4 KiB) or sector (512 B) index.
	Seq           string
	Block, Sector int64
}

// Limits on what config files and commands may ask for.
const (
	maxParts      = 1 << 10
	maxOccurrence = 1 << 30
	maxConfigSize = 1 << 20
)

// lazyOps maps LazyFS's operation names (system calls) to model operation
// kinds. link and symlink are not modelled.
var lazyOps = map[string][]faultfs.OpKind{
	"write":     {faultfs.OpWrite},
	"read":      {faultfs.OpRead},
	"fsync":     {faultfs.OpSync, faultfs.OpSyncData},
	"fdatasync": {faultfs.OpSyncData},
	"create":    {faultfs.OpCreate},
	"open":      {faultfs.OpOpen, faultfs.OpCreate},
	"unlink":    {faultfs.OpRemove},
	"rename":    {faultfs.OpRename},
	"truncate":  {faultfs.OpTruncate},
	"access":    {faultfs.OpStat},
	"mkdir":     {faultfs.OpMkdir},
}

func lazyOp(name string) ([]faultfs.OpKind, error) {
	kinds, ok := lazyOps[name]
	if !ok {
		if name == "link" || name == "symlink" {
			return nil, fmt.Errorf("op %q: the mount has no hard or symbolic links", name)
		}
		return nil, fmt.Errorf("unknown op %q (want write, read, fsync, fdatasync, create, open, unlink, rename, truncate, access or mkdir)", name)
	}
	return kinds, nil
}

// compileRegexp compiles a LazyFS path regexp. LazyFS's own examples use
// a lone "*" for "every path", which is no regexp; it is taken as ".*".
func compileRegexp(name, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	if expr == "*" {
		expr = ".*"
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return re, nil
}

// ParseConfigFile reads a fault file: LazyFS TOML (a file with a [faults],
// [cache] or [[injection]] table), a CuttleFS JSON fault list (a file that
// starts with '['), or faultfs injector specifications (one rule per line;
// '#' starts a comment).
func ParseConfigFile(name string) (Config, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return Config{}, err
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

// ParseConfig parses the content of a fault file; see ParseConfigFile.
func ParseConfig(data []byte) (Config, error) {
	if len(data) > maxConfigSize {
		return Config{}, fmt.Errorf("fault file is %d bytes, more than %d", len(data), maxConfigSize)
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case bytes.HasPrefix(trimmed, []byte("[")) && !bytes.HasPrefix(trimmed, []byte("[[")) && json.Valid(trimmed):
		return parseCuttleFS(trimmed)
	case bytes.HasPrefix(trimmed, []byte("[")) && bytes.HasPrefix(trimmed, []byte("[{")):
		return parseCuttleFS(trimmed)
	case looksLikeTOML(trimmed):
		return parseLazyFSTOML(trimmed)
	}
	return parseSpecLines(trimmed)
}

func looksLikeTOML(b []byte) bool {
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			return true
		}
	}
	return false
}

func parseSpecLines(b []byte) (Config, error) {
	var cfg Config
	for i, line := range strings.Split(string(b), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if _, err := faultfs.ParseInjector(line); err != nil {
			return Config{}, fmt.Errorf("line %d: %w", i+1, err)
		}
		cfg.Injections = append(cfg.Injections, Injection{Type: "spec", Spec: line})
	}
	return cfg, nil
}

// cuttleFault is one entry of a CuttleFS fault list.
type cuttleFault struct {
	Path   string `json:"path"`
	Seq    string `json:"seq"`
	Block  *int64 `json:"block"`
	Sector *int64 `json:"sector"`
}

func parseCuttleFS(b []byte) (Config, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var faults []cuttleFault
	if err := dec.Decode(&faults); err != nil {
		return Config{}, fmt.Errorf("CuttleFS fault list: %w", err)
	}
	var cfg Config
	for i, f := range faults {
		inj := Injection{Type: "cuttlefs", File: f.Path, Seq: f.Seq, Block: -1, Sector: -1}
		switch {
		case f.Path == "":
			return Config{}, fmt.Errorf("CuttleFS fault %d: no path", i)
		case (f.Block == nil) == (f.Sector == nil):
			return Config{}, fmt.Errorf("CuttleFS fault %d: give exactly one of block and sector", i)
		case f.Block != nil:
			inj.Block = *f.Block
		default:
			inj.Sector = *f.Sector
		}
		if inj.Block < -1 || inj.Sector < -1 || inj.Block > math.MaxInt64/faultfs.PageSizeBytes || inj.Sector > math.MaxInt64/faultfs.SectorSizeBytes {
			return Config{}, fmt.Errorf("CuttleFS fault %d: block or sector out of range", i)
		}
		if _, err := faultfs.ParseSeq(f.Seq); err != nil {
			return Config{}, fmt.Errorf("CuttleFS fault %d: %w", i, err)
		}
		cfg.Injections = append(cfg.Injections, inj)
	}
	return cfg, nil
}

// lazyTOML is LazyFS's configuration file.
type lazyTOML struct {
	Faults struct {
		FIFOPath          string `toml:"fifo_path"`
		FIFOPathCompleted string `toml:"fifo_path_completed"`
	} `toml:"faults"`
	Cache struct {
		ApplyEviction bool `toml:"apply_eviction"`
		Simple        struct {
			CustomSize    string `toml:"custom_size"`
			BlocksPerPage int    `toml:"blocks_per_page"`
		} `toml:"simple"`
		Manual struct {
			IOBlockSize int `toml:"io_block_size"`
			PageSize    int `toml:"page_size"`
			NoPages     int `toml:"no_pages"`
		} `toml:"manual"`
	} `toml:"cache"`
	FileSystem struct {
		LogAllOperations bool   `toml:"log_all_operations"`
		LogFile          string `toml:"logfile"`
	} `toml:"file system"`
	Injection []map[string]any `toml:"injection"`
}

func parseLazyFSTOML(b []byte) (Config, error) {
	var t lazyTOML
	// LazyFS's own files have a table named [file system], which TOML
	// allows only quoted; quote bare table names that hold a space.
	b = bareSpacedTable.ReplaceAll(b, []byte(`$1["$2"]`))
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&t)
	if err != nil {
		return Config{}, fmt.Errorf("LazyFS TOML: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var keys []string
		for _, k := range und {
			if len(k) > 0 && k[0] == "injection" {
				continue // checked per injection below
			}
			keys = append(keys, k.String())
		}
		if len(keys) > 0 {
			return Config{}, fmt.Errorf("LazyFS TOML: unknown keys %s", strings.Join(keys, ", "))
		}
	}
	cfg := Config{FIFO: t.Faults.FIFOPath, FIFOCompleted: t.Faults.FIFOPathCompleted, LogFile: t.FileSystem.LogFile}
	if t.Cache.ApplyEviction {
		switch {
		case t.Cache.Simple.CustomSize != "":
			n, err := parseSize(t.Cache.Simple.CustomSize)
			if err != nil {
				return Config{}, fmt.Errorf("LazyFS TOML: [cache.simple] custom_size: %w", err)
			}
			cfg.CacheLimitBytes = n
		case t.Cache.Manual.PageSize > 0 && t.Cache.Manual.NoPages > 0:
			cfg.CacheLimitBytes = int64(t.Cache.Manual.PageSize) * int64(t.Cache.Manual.NoPages)
		default:
			return Config{}, errors.New("LazyFS TOML: apply_eviction needs [cache.simple] custom_size or [cache.manual] page_size and no_pages")
		}
	}
	for i, m := range t.Injection {
		inj, err := injectionFromTOML(m)
		if err != nil {
			return Config{}, fmt.Errorf("LazyFS TOML: [[injection]] %d: %w", i+1, err)
		}
		cfg.Injections = append(cfg.Injections, inj)
	}
	return cfg, nil
}

var bareSpacedTable = regexp.MustCompile(`(?m)^([ \t]*)\[([A-Za-z0-9_-]+(?: [A-Za-z0-9_-]+)+)\]`)

// parseSize reads LazyFS's sizes: "0.5GB", "100MB", "64KB", or bytes.
func parseSize(s string) (int64, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	mult := 1.0
	for _, suf := range []struct {
		s string
		m float64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(u, suf.s) {
			u, mult = strings.TrimSpace(strings.TrimSuffix(u, suf.s)), suf.m
			break
		}
	}
	v, err := strconv.ParseFloat(u, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || v*mult > 1<<50 {
		return 0, fmt.Errorf("bad size %q (want e.g. 0.5GB, 100MB, 64KB)", s)
	}
	return int64(v * mult), nil
}

// tomlFields reads an [[injection]] table: each key once, of the right
// type, none unknown.
type tomlFields struct {
	m    map[string]any
	used map[string]bool
}

func (f *tomlFields) str(k string) (string, bool, error) {
	v, ok := f.m[k]
	if !ok {
		return "", false, nil
	}
	f.used[k] = true
	s, ok := v.(string)
	if !ok {
		return "", false, fmt.Errorf("%s must be a string", k)
	}
	return s, true, nil
}

func (f *tomlFields) int(k string) (int64, bool, error) {
	v, ok := f.m[k]
	if !ok {
		return 0, false, nil
	}
	f.used[k] = true
	n, ok := v.(int64)
	if !ok {
		return 0, false, fmt.Errorf("%s must be an integer", k)
	}
	return n, true, nil
}

func (f *tomlFields) ints(k string) ([]int64, bool, error) {
	v, ok := f.m[k]
	if !ok {
		return nil, false, nil
	}
	f.used[k] = true
	arr, ok := v.([]any)
	if !ok {
		return nil, false, fmt.Errorf("%s must be a list of integers", k)
	}
	out := make([]int64, 0, len(arr))
	for _, e := range arr {
		n, ok := e.(int64)
		if !ok {
			return nil, false, fmt.Errorf("%s must be a list of integers", k)
		}
		out = append(out, n)
	}
	return out, true, nil
}

func (f *tomlFields) bool(k string) (bool, bool, error) {
	v, ok := f.m[k]
	if !ok {
		return false, false, nil
	}
	f.used[k] = true
	b, ok := v.(bool)
	if !ok {
		return false, false, fmt.Errorf("%s must be true or false", k)
	}
	return b, true, nil
}

func injectionFromTOML(m map[string]any) (Injection, error) {
	f := &tomlFields{m: m, used: map[string]bool{}}
	typ, ok, err := f.str("type")
	if err != nil {
		return Injection{}, err
	}
	if !ok {
		return Injection{}, errors.New("no type")
	}
	inj := Injection{Type: typ}
	args := map[string]string{}
	switch typ {
	case "clear":
		from, _, err1 := f.str("from")
		to, _, err2 := f.str("to")
		timing, _, err3 := f.str("timing")
		op, _, err4 := f.str("op")
		occ, _, err5 := f.int("occurrence")
		crash, hasCrash, err6 := f.bool("crash")
		if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
			return Injection{}, err
		}
		if !hasCrash || !crash {
			// In the model a lost cache ends every descriptor, as a
			// crash does, so LazyFS's crash=false has no faithful
			// counterpart here.
			return Injection{}, errors.New("clear needs crash=true: the model cannot drop unsynced data while descriptors stay open")
		}
		// LazyFS names files here, not patterns.
		if from != "" {
			args["from_rgx"] = pathRegexp(from)
		}
		if to != "" {
			args["to_rgx"] = pathRegexp(to)
		}
		args["timing"], args["op"] = timing, op
		args["occurrence"] = strconv.FormatInt(occ, 10)
		if err := inj.setCrash(args, true); err != nil {
			return Injection{}, err
		}
	case "torn-op":
		file, _, err1 := f.str("file")
		occ, _, err2 := f.int("occurrence")
		parts, hasParts, err3 := f.int("parts")
		pb, hasPB, err4 := f.ints("parts_bytes")
		persist, _, err5 := f.ints("persist")
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			return Injection{}, err
		}
		args["file"] = file
		args["occurrence"] = strconv.FormatInt(occ, 10)
		args["persist"] = joinInts(persist)
		if hasParts {
			args["parts"] = strconv.FormatInt(parts, 10)
		}
		if hasPB {
			args["parts_bytes"] = joinInts(pb)
		}
		if err := inj.setTornOp(args); err != nil {
			return Injection{}, err
		}
	case "torn-seq":
		op, _, err1 := f.str("op")
		file, _, err2 := f.str("file")
		occ, _, err3 := f.int("occurrence")
		persist, _, err4 := f.ints("persist")
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return Injection{}, err
		}
		args["op"], args["file"] = op, file
		args["occurrence"] = strconv.FormatInt(occ, 10)
		args["persist"] = joinInts(persist)
		if err := inj.setTornSeq(args); err != nil {
			return Injection{}, err
		}
	case "faultfs":
		spec, ok, err := f.str("spec")
		if err != nil {
			return Injection{}, err
		}
		if !ok {
			return Injection{}, errors.New("faultfs injection needs spec")
		}
		if _, err := faultfs.ParseInjector(spec); err != nil {
			return Injection{}, err
		}
		inj = Injection{Type: "spec", Spec: spec}
	default:
		return Injection{}, fmt.Errorf("unknown type %q (want clear, torn-op, torn-seq or faultfs)", typ)
	}
	for k := range m {
		if !f.used[k] {
			return Injection{}, fmt.Errorf("unknown key %q for type %s", k, typ)
		}
	}
	return inj, nil
}

// pathRegexp matches a named file: the whole model path, or its tail.
func pathRegexp(p string) string {
	return "(^|/)" + regexp.QuoteMeta(strings.TrimPrefix(p, "/")) + "$"
}

func joinInts(ns []int64) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(s, ",")
}

func parseInts(name, s string, lo, hi int64) ([]int64, error) {
	if s == "" {
		return nil, fmt.Errorf("%s: empty list", name)
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxParts {
		return nil, fmt.Errorf("%s: more than %d entries", name, maxParts)
	}
	out := make([]int64, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%s: %q is not an integer in %d..%d", name, p, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseOccurrence(s string, required bool) (int, error) {
	if s == "" && !required {
		return 1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > maxOccurrence {
		return 0, fmt.Errorf("occurrence: %q is not an integer in 1..%d", s, maxOccurrence)
	}
	return int(n), nil
}

// setCrash fills a clear/crash injection from LazyFS arguments.
func (inj *Injection) setCrash(args map[string]string, withOccurrence bool) error {
	inj.Type = "clear"
	switch args["timing"] {
	case "before", "after":
		inj.Timing = args["timing"]
	default:
		return fmt.Errorf("timing: %q is neither before nor after", args["timing"])
	}
	if _, err := lazyOp(args["op"]); err != nil {
		return err
	}
	inj.Op = args["op"]
	var err error
	if inj.From, err = compileRegexp("from_rgx", args["from_rgx"]); err != nil {
		return err
	}
	if inj.To, err = compileRegexp("to_rgx", args["to_rgx"]); err != nil {
		return err
	}
	if inj.From == nil && inj.To == nil {
		return errors.New("give from_rgx (or, for rename, to_rgx)")
	}
	if inj.To != nil && inj.Op != "rename" {
		return fmt.Errorf("to_rgx is only for rename, not %s", inj.Op)
	}
	inj.Occurrence = 1
	if withOccurrence {
		if inj.Occurrence, err = parseOccurrence(args["occurrence"], false); err != nil {
			return err
		}
	}
	return nil
}

func (inj *Injection) setTornOp(args map[string]string) error {
	inj.Type = "torn-op"
	if args["file"] == "" {
		return errors.New("torn-op needs file")
	}
	inj.File = args["file"]
	var err error
	if inj.Occurrence, err = parseOccurrence(args["occurrence"], true); err != nil {
		return err
	}
	_, hasParts := args["parts"]
	_, hasPB := args["parts_bytes"]
	switch {
	case hasParts == hasPB:
		return errors.New("torn-op needs exactly one of parts and parts_bytes")
	case hasParts:
		n, err := parseInts("parts", args["parts"], 1, maxParts)
		if err != nil {
			return err
		}
		if len(n) != 1 {
			return errors.New("parts: want one number")
		}
		inj.Parts = int(n[0])
	default:
		if inj.PartsBytes, err = parseInts("parts_bytes", args["parts_bytes"], 1, math.MaxInt32); err != nil {
			return err
		}
	}
	nparts := inj.Parts + len(inj.PartsBytes)
	persist, err := parseInts("persist", args["persist"], 1, int64(nparts))
	if err != nil {
		return err
	}
	inj.Persist = toInts(persist)
	return nil
}

func (inj *Injection) setTornSeq(args map[string]string) error {
	inj.Type = "torn-seq"
	if args["op"] != "write" {
		return fmt.Errorf("torn-seq: op %q: only write sequences can be torn", args["op"])
	}
	inj.Op = "write"
	if args["file"] == "" {
		return errors.New("torn-seq needs file")
	}
	inj.File = args["file"]
	var err error
	if inj.Occurrence, err = parseOccurrence(args["occurrence"], true); err != nil {
		return err
	}
	persist, err := parseInts("persist", args["persist"], 1, maxParts)
	if err != nil {
		return err
	}
	inj.Persist = toInts(persist)
	return nil
}

func toInts(ns []int64) []int {
	out := make([]int, len(ns))
	for i, n := range ns {
		out[i] = int(n)
	}
	return out
}

// addInjection installs an injection on the mount.
func (s *Server) addInjection(inj Injection) error {
	switch inj.Type {
	case "spec":
		in, err := faultfs.ParseInjector(inj.Spec)
		if err != nil {
			return err
		}
		s.addInjector(inj.Spec, in)
	case "cuttlefs":
		p := s.modelPath(inj.File)
		off := inj.Block * faultfs.PageSizeBytes
		if inj.Sector >= 0 {
			// The model writes the device a page at a time: a bad
			// sector fails the write of the page that holds it.
			off = inj.Sector * faultfs.SectorSizeBytes / faultfs.PageSizeBytes * faultfs.PageSizeBytes
		}
		m := faultfs.All(faultfs.Kinds(faultfs.OpDeviceWrite), func(op faultfs.Op) bool { return op.Path == p }, faultfs.Overlaps(off, faultfs.PageSizeBytes))
		in, err := faultfs.Sequence(m, inj.Seq, syscall.EIO)
		if err != nil {
			return err
		}
		s.addInjector(fmt.Sprintf("cuttlefs path=%s offset=%d seq=%s", p, off, inj.Seq), in)
	case "clear":
		kinds, err := lazyOp(inj.Op)
		if err != nil {
			return err
		}
		from, to := inj.From, inj.To
		m := faultfs.All(faultfs.Kinds(kinds...), func(op faultfs.Op) bool {
			return (from == nil || from.MatchString(op.Path)) && (to == nil || to.MatchString(op.NewPath))
		})
		act := faultfs.ErrCrashBefore
		if inj.Timing == "after" {
			act = faultfs.ErrCrashAfter
		}
		name := fmt.Sprintf("crash timing=%s op=%s from_rgx=%v to_rgx=%v occurrence=%d", inj.Timing, inj.Op, from, to, inj.Occurrence)
		s.addInjector(name, faultfs.OnIndex(m, inj.Occurrence, act))
	case "torn-op", "torn-seq":
		s.addTorn(inj)
	default:
		return fmt.Errorf("fusefs: unknown injection type %q", inj.Type)
	}
	return nil
}
