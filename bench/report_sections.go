package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// serverSpecs describe the server peers' durable configuration.
var serverSpecs = []struct{ Name, Config, Doc string }{
	{"holdfast serve", "`holdfast serve --data DIR --resp ADDR --http ADDR`, default dataspace, default sync policy `always`",
		"DESIGN.md (contracts: `holdfast serve`; invariant I1)"},
	{"redis", "`redis-server --appendonly yes --appendfsync always --save \"\"`: every write is appended to the AOF and fsynced before the reply; RDB snapshots off",
		"Redis persistence documentation (redis.io, \"Append-only file\": `appendfsync always` fsyncs every time new commands are appended to the AOF); Debian's /etc/redis/redis.conf: \"always: fsync after every write to the append only log. Slow, Safest.\""},
	{"etcd", "one member, defaults: every WAL append is fdatasynced before a write is acknowledged (`--unsafe-no-fsync` off)",
		"etcd CHANGELOG-3.4 (v3.4.10: `--unsafe-no-fsync` \"disables all uses of fsync, which is unsafe and will cause data loss\"; off by default); etcd performance docs: a write's minimum time is RTT + fdatasync"},
}

type chartWriter struct {
	s        *summary
	out, rel string
	err      error
}

// line writes a line chart and the CSV of what it plots, and returns the
// Markdown that shows it.
func (c *chartWriter) line(name string, spec chartSpec, ss []series, source string) string {
	spec.path = filepath.Join(c.out, name+".png")
	if err := lineChart(spec, ss, engineColor); err != nil {
		c.err = fmt.Errorf("%s: %w", name, err)
		return ""
	}
	if err := writeSeriesCSV(filepath.Join(c.out, name+".csv"), spec.xLabel, ss); err != nil {
		c.err = err
		return ""
	}
	return fmt.Sprintf("![%s](%s/%s.png)\n\n*Data: [`%s/%s.csv`](%s/%s.csv) (median, min, max per point), from %s. Bars show min–max over the rounds.*\n\n",
		spec.title, c.rel, name, c.rel, name, c.rel, name, source)
}

func writeSeriesCSV(path, xLabel string, ss []series) error {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write([]string{"series", "x: " + xLabel, "median", "min", "max", "runs"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	for _, s := range ss {
		for i, x := range s.xs {
			if i >= len(s.ys) || s.ys[i].n == 0 {
				continue
			}
			y := s.ys[i]
			cw.Write([]string{s.name, f(x), f(y.med), f(y.min), f(y.max), strconv.Itoa(y.n)})
		}
	}
	cw.Flush()
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// rssAdded is the resident memory the engine added to its process.
func rssAdded(r record) float64 { return float64(r.RSSBytes - r.RSSBaseBytes) }

func ops(r record) float64    { return r.OpsPerS }
func p50(r record) float64    { return r.P50us }
func p99(r record) float64    { return r.P99us }
func p999(r record) float64   { return r.P999us }
func wbytes(r record) float64 { return r.WriteBytesPerOp }
func cpu(r record) float64    { return r.CPUusPerOp }

func xs(ns []int) []float64 {
	out := make([]float64, len(ns))
	for i, n := range ns {
		out[i] = float64(n)
	}
	return out
}

func writePuts(md *bytes.Buffer, s *summary, ch *chartWriter) {
	w := func(format string, args ...any) { fmt.Fprintf(md, format, args...) }
	names := s.engines("put")
	writers := s.res.Plan.Writers
	w("### Durable writes (embedded)\n\n")
	w("Each table: one writer count. \"holdfast ÷\" is holdfast's median ops/s over the engine's (above 1: holdfast is faster). " +
		"\"of limit\" is ops/s as a fraction of the physical limit for that many writers (see above). " +
		"\"p50 ÷ t\" is the median latency in units of the limit latency *t*. Written B/op and CPU µs/op are the whole process's, per Put.\n\n")
	for _, n := range writers {
		hk := gkey{Kind: "put", Engine: "holdfast", Clients: n}
		w("#### %s\n\n", plural(n, "writer"))
		w("| engine | ops/s | holdfast ÷ | of limit | p50 µs | p50 ÷ t | p99 µs | p99.9 µs | written B/op | CPU µs/op |\n|---|---|---|---|---|---|---|---|---|---|\n")
		lat, _ := s.limitAgg()
		for _, e := range names {
			k := gkey{Kind: "put", Engine: e, Clients: n}
			o := s.get(k, ops)
			pl := s.get(k, p50)
			rel := "–"
			if lat.n > 0 && pl.n > 0 {
				rel = num(pl.med/lat.med) + "×"
			}
			fr := s.fracOfLimit(k)
			frs := "–"
			if fr.n > 0 {
				frs = fmt.Sprintf("%.3g", fr.med)
			}
			w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", e, cell(o, 1), ratio(s.get(hk, ops), o), frs, cell(pl, 1), rel,
				cell(s.get(k, p99), 1), cell(s.get(k, p999), 1), cell(s.get(k, wbytes), 1), cell(s.get(k, cpu), 1))
		}
		w("\n")
	}
	var tput, lat []series
	for _, e := range names {
		var ta, la []agg
		for _, n := range writers {
			k := gkey{Kind: "put", Engine: e, Clients: n}
			ta = append(ta, s.get(k, ops))
			la = append(la, s.get(k, p99))
		}
		tput = append(tput, series{name: e, xs: xs(writers), ys: ta})
		lat = append(lat, series{name: e, xs: xs(writers), ys: la})
	}
	var la []agg
	for _, n := range writers {
		var vs []float64
		for round := range s.limitUs {
			vs = append(vs, s.limitOpsPerS(round, n))
		}
		la = append(la, aggOf(vs))
	}
	tput = append(tput, series{name: "limit", xs: xs(writers), ys: la, dashed: true})
	w("%s", ch.line("put-throughput", chartSpec{title: "Durable writes: throughput vs concurrency", xLabel: "concurrent writers", yLabel: "Puts/s (log)",
		logX: true, logY: true, xTicks: xs(writers)}, tput, "runs.csv rows with kind=put (ops_per_s); the dashed line is the physical limit for N writers"))
	w("%s", ch.line("put-p99", chartSpec{title: "Durable writes: p99 latency vs concurrency", xLabel: "concurrent writers", yLabel: "p99 latency, µs (log)",
		logX: true, logY: true, xTicks: xs(writers)}, lat, "runs.csv rows with kind=put (p99_us)"))
}

func writeReads(md *bytes.Buffer, s *summary, ch *chartWriter) {
	w := func(format string, args ...any) { fmt.Fprintf(md, format, args...) }
	p := s.res.Plan
	names := s.engines("get")
	w("### Random reads and 100-key scans over %s keys\n\n", num(float64(p.ReadKeys)))
	w("| engine |")
	for _, c := range p.Readers {
		w(" Get ops/s, %d reader%s | p50 µs | p99 µs |", c, map[bool]string{true: "s", false: ""}[c > 1])
	}
	w(" scans/s (100 keys) | scan p50 µs | scan p99 µs | CPU µs/scan |\n|---")
	for range p.Readers {
		w("|---|---|---")
	}
	w("|---|---|---|---|\n")
	for _, e := range names {
		w("| %s |", e)
		for _, c := range p.Readers {
			k := gkey{Kind: "get", Engine: e, Clients: c, Keys: p.ReadKeys}
			w(" %s | %s | %s |", cell(s.get(k, ops), 1), cell(s.get(k, p50), 1), cell(s.get(k, p99), 1))
		}
		k := gkey{Kind: "scan", Engine: e, Clients: 1, Keys: p.ReadKeys}
		w(" %s | %s | %s | %s |\n", cell(s.get(k, ops), 1), cell(s.get(k, p50), 1), cell(s.get(k, p99), 1), cell(s.get(k, cpu), 1))
	}
	var gets []series
	for _, e := range names {
		var ys []agg
		for _, c := range p.Readers {
			ys = append(ys, s.get(gkey{Kind: "get", Engine: e, Clients: c, Keys: p.ReadKeys}, ops))
		}
		gets = append(gets, series{name: e, xs: xs(p.Readers), ys: ys})
	}
	w("\n%s", ch.line("get-throughput", chartSpec{title: fmt.Sprintf("Random Gets over %s keys vs readers", num(float64(p.ReadKeys))), xLabel: "concurrent readers",
		yLabel: "Gets/s (log)", logX: true, logY: true, xTicks: xs(p.Readers)}, gets, "runs.csv rows with kind=get (ops_per_s)"))
}

func writeLoads(md *bytes.Buffer, s *summary, ch *chartWriter) {
	w := func(format string, args ...any) { fmt.Fprintf(md, format, args...) }
	p := s.res.Plan
	names := s.engines("load")
	w("### Bulk load, disk space, open time and memory\n\n")
	w("Load: keys/s of the bulk load (batches of %s). Disk: space allocated to the database's files after a clean close. "+
		"RSS after load: the loading process, database still open. Open: a new process's Open + first Get. RSS after open: that process right after. "+
		"RSS figures are **what the engine added**: VmRSS minus the same process's VmRSS before it opened the engine (the Go runtime and the benchmark executable mapped, about %s MiB). "+
		"The anon / file split of the whole process's RSS after open shows how much is heap and how much is mapped files (bbolt, for one, maps its file).\n\n",
		num(float64(p.LoadBatch)), num(s.baseRSS()/(1<<20)))
	w("| keys | engine | load keys/s | load written B/key | load CPU µs/key | disk MiB | disk B/key | RSS added by load MiB | open s | RSS added by open MiB | process RSS after open, anon / file MiB |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	const mibB = 1 << 20
	for _, n := range p.Sizes {
		for _, e := range names {
			lk := gkey{Kind: "load", Engine: e, Keys: n}
			ok := gkey{Kind: "open", Engine: e, Keys: n}
			if len(s.groups[lk]) == 0 && len(s.groups[ok]) == 0 {
				continue
			}
			open := s.get(ok, func(r record) float64 { return r.Seconds })
			anon := s.get(ok, func(r record) float64 { return float64(r.RSSAnonBytes) })
			file := s.get(ok, func(r record) float64 { return float64(r.RSSFileBytes) })
			w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", num(float64(n)), e, cell(s.get(lk, ops), 1),
				cell(s.get(lk, wbytes), 1), cell(s.get(lk, cpu), 1),
				cell(s.get(lk, func(r record) float64 { return float64(r.DiskBytes) }), 1.0/mibB),
				cell(s.get(lk, func(r record) float64 { return float64(r.DiskBytes) / float64(n) }), 1),
				cell(s.get(lk, rssAdded), 1.0/mibB),
				cell(open, 1), cell(s.get(ok, rssAdded), 1.0/mibB),
				num(anon.med/mibB), num(file.med/mibB))
		}
	}
	w("\n")
	sizes := make([]float64, len(p.Sizes))
	for i, n := range p.Sizes {
		sizes[i] = float64(n)
	}
	var openS, memS, memOpen []series
	for _, e := range names {
		var oa, ma, mo []agg
		for _, n := range p.Sizes {
			oa = append(oa, s.get(gkey{Kind: "open", Engine: e, Keys: n}, func(r record) float64 { return r.Seconds }))
			ma = append(ma, s.get(gkey{Kind: "load", Engine: e, Keys: n}, func(r record) float64 { return rssAdded(r) / mibB }))
			mo = append(mo, s.get(gkey{Kind: "open", Engine: e, Keys: n}, func(r record) float64 { return rssAdded(r) / mibB }))
		}
		openS = append(openS, series{name: e, xs: sizes, ys: oa})
		memS = append(memS, series{name: e, xs: sizes, ys: ma})
		memOpen = append(memOpen, series{name: e, xs: sizes, ys: mo})
	}
	w("%s", ch.line("open-time", chartSpec{title: "Open time vs keys (Open + first Get, new process)", xLabel: "keys", yLabel: "seconds (log)",
		logX: true, logY: true, xTicks: sizes}, openS, "runs.csv rows with kind=open (seconds)"))
	w("%s", ch.line("memory-load", chartSpec{title: "Resident memory added by the engine after bulk load vs keys", xLabel: "keys", yLabel: "RSS added, MiB (log)",
		logX: true, logY: true, xTicks: sizes}, memS, "runs.csv rows with kind=load (rss_bytes − rss_base_bytes)"))
	w("%s", ch.line("memory-open", chartSpec{title: "Resident memory added by the engine after open vs keys", xLabel: "keys", yLabel: "RSS added, MiB (log)",
		logX: true, logY: true, xTicks: sizes}, memOpen, "runs.csv rows with kind=open (rss_bytes − rss_base_bytes)"))
}

func writeRedis(md *bytes.Buffer, s *summary, ch *chartWriter) {
	w := func(format string, args ...any) { fmt.Fprintf(md, format, args...) }
	p := s.res.Plan
	w("### Server: holdfast vs Redis (appendfsync always), redis-benchmark\n\n")
	w("`redis-benchmark -c C -n N -r %s -d %d -t set|get -P 1|16 --csv` against each server in turn (16-byte keys `key:NNNNNNNNNNNN`, 100-byte values). "+
		"Requests per test (-n) by client count: %s; twice as many with -P 16. Latency is redis-benchmark's own (p50, p99), in µs. Server CPU and written bytes are the server process's "+
		"(`/proc/PID/stat`, `/proc/PID/io`; CPU is counted in 10 ms ticks) per request. "+
		"\"of limit\" (SET only, the durable writes) is req/s as a fraction of the physical limit for c × P requests in flight, from the medians of the limit measured in the rounds above.\n\n",
		redisRandomKeys, valueBytes, requestCounts(p))
	w("| test | -P | -c | holdfast req/s | redis req/s | holdfast ÷ redis | of limit (h / r) | holdfast p50 / p99 µs | redis p50 / p99 µs | server CPU µs/req (h / r) | server written B/req (h / r) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	var ss []series
	for _, test := range []string{"SET", "GET"} {
		for _, pl := range p.RedisPipeline {
			v := fmt.Sprintf("%s P=%d", test, pl)
			for _, c := range p.RedisClients {
				h := gkey{Kind: "redis-benchmark", Engine: "holdfast", Variant: v, Clients: c}
				r := gkey{Kind: "redis-benchmark", Engine: "redis", Variant: v, Clients: c}
				lim := "–"
				if test == "SET" {
					lim = s.ofLimit(s.get(h, ops), c*pl) + " / " + s.ofLimit(s.get(r, ops), c*pl)
				}
				w("| %s | %d | %d | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s | %s / %s |\n", test, pl, c, cell(s.get(h, ops), 1), cell(s.get(r, ops), 1),
					ratio(s.get(h, ops), s.get(r, ops)), lim, num(s.get(h, p50).med), num(s.get(h, p99).med), num(s.get(r, p50).med), num(s.get(r, p99).med),
					num(s.get(h, cpu).med), num(s.get(r, cpu).med), num(s.get(h, wbytes).med), num(s.get(r, wbytes).med))
			}
			if test == "SET" {
				for _, e := range []string{"holdfast", "redis"} {
					var ys []agg
					for _, c := range p.RedisClients {
						ys = append(ys, s.get(gkey{Kind: "redis-benchmark", Engine: e, Variant: v, Clients: c}, ops))
					}
					ss = append(ss, series{name: fmt.Sprintf("%s -P %d", e, pl), xs: xs(p.RedisClients), ys: ys})
				}
			}
		}
	}
	w("\n%s", ch.line("redis-set", chartSpec{title: "Durable SET through redis-benchmark: throughput vs clients", xLabel: "clients (-c)", yLabel: "SET/s (log)",
		logX: true, logY: true, xTicks: xs(p.RedisClients)}, ss, "runs.csv rows with kind=redis-benchmark, variant SET P=1|16"))
}

func requestCounts(p plan) string {
	var parts []string
	for _, c := range p.RedisClients {
		parts = append(parts, fmt.Sprintf("-c %d: %s", c, num(float64(p.RedisRequests[c]))))
	}
	return strings.Join(parts, ", ")
}

func writeEtcd(md *bytes.Buffer, s *summary, ch *chartWriter) {
	w := func(format string, args ...any) { fmt.Fprintf(md, format, args...) }
	p := s.res.Plan
	w("### Server: holdfast vs etcd (one member), Go load generator\n\n")
	w("N clients, each with a connection of its own, write 16-byte keys with 100-byte values for %v: etcd through `go.etcd.io/etcd/client/v3` `Put`, "+
		"holdfast through `github.com/redis/go-redis/v9` `SET` on its RESP port. Every write is acknowledged only once durable on both.\n\n", p.EtcdDuration)
	w("\"of limit\" is ops/s as a fraction of the physical limit for that many clients (medians of the limit measured in the rounds above).\n\n")
	w("| clients | holdfast ops/s | etcd ops/s | holdfast ÷ etcd | of limit (h / e) | holdfast p50 / p99 µs | etcd p50 / p99 µs | server CPU µs/op (h / e) | server written B/op (h / e) |\n|---|---|---|---|---|---|---|---|---|\n")
	var ss []series
	for _, e := range []string{"holdfast", "etcd"} {
		var ys []agg
		for _, c := range p.EtcdClients {
			ys = append(ys, s.get(gkey{Kind: "etcd-load", Engine: e, Clients: c}, ops))
		}
		ss = append(ss, series{name: e, xs: xs(p.EtcdClients), ys: ys})
	}
	for _, c := range p.EtcdClients {
		h := gkey{Kind: "etcd-load", Engine: "holdfast", Clients: c}
		e := gkey{Kind: "etcd-load", Engine: "etcd", Clients: c}
		w("| %d | %s | %s | %s | %s / %s | %s / %s | %s / %s | %s / %s | %s / %s |\n", c, cell(s.get(h, ops), 1), cell(s.get(e, ops), 1), ratio(s.get(h, ops), s.get(e, ops)),
			s.ofLimit(s.get(h, ops), c), s.ofLimit(s.get(e, ops), c),
			num(s.get(h, p50).med), num(s.get(h, p99).med), num(s.get(e, p50).med), num(s.get(e, p99).med),
			num(s.get(h, cpu).med), num(s.get(e, cpu).med), num(s.get(h, wbytes).med), num(s.get(e, wbytes).med))
	}
	w("\n%s", ch.line("etcd-put", chartSpec{title: "Durable writes over the network: holdfast (RESP) vs etcd", xLabel: "clients", yLabel: "writes/s (log)",
		logX: true, logY: true, xTicks: xs(p.EtcdClients)}, ss, "runs.csv rows with kind=etcd-load"))
}

// loss is one figure where at least one peer's median beats holdfast's.
type loss struct {
	what, holdfast string
	better         []string // "peer value unit"
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// writeLosses lists, from the data, every comparison where holdfast's
// median is worse than a peer's, and explains the known causes of each
// kind of loss.
func writeLosses(md *bytes.Buffer, s *summary) {
	w := func(format string, args ...any) { fmt.Fprintf(md, format, args...) }
	byKind := map[string][]*loss{}
	cmp := func(kind string, k gkey, peer string, f func(record) float64, higherBetter bool, label, unit string) {
		hk := k
		hk.Engine = "holdfast"
		pk := k
		pk.Engine = peer
		h, o := s.get(hk, f), s.get(pk, f)
		if h.n == 0 || o.n == 0 {
			return
		}
		if (higherBetter && h.med < o.med) || (!higherBetter && h.med > o.med) {
			var l *loss
			for _, x := range byKind[kind] {
				if x.what == label {
					l = x
				}
			}
			if l == nil {
				l = &loss{what: label, holdfast: num(h.med) + " " + unit}
				byKind[kind] = append(byKind[kind], l)
			}
			l.better = append(l.better, fmt.Sprintf("%s %s", peer, num(o.med)))
		}
	}
	p := s.res.Plan
	for _, e := range s.engines("put") {
		if e == "holdfast" {
			continue
		}
		for _, n := range p.Writers {
			cmp("put", gkey{Kind: "put", Clients: n}, e, ops, true, fmt.Sprintf("durable Puts/s, %s", plural(n, "writer")), "ops/s")
			cmp("put-lat", gkey{Kind: "put", Clients: n}, e, p99, false, fmt.Sprintf("durable Put p99, %s", plural(n, "writer")), "µs")
			cmp("put-bytes", gkey{Kind: "put", Clients: n}, e, wbytes, false, fmt.Sprintf("bytes written per Put, %s", plural(n, "writer")), "B")
			cmp("put-cpu", gkey{Kind: "put", Clients: n}, e, cpu, false, fmt.Sprintf("CPU per Put, %s", plural(n, "writer")), "µs")
		}
	}
	for _, e := range s.engines("get") {
		if e == "holdfast" {
			continue
		}
		for _, c := range p.Readers {
			cmp("read", gkey{Kind: "get", Clients: c, Keys: p.ReadKeys}, e, ops, true, fmt.Sprintf("random Gets/s, %s", plural(c, "reader")), "ops/s")
		}
		cmp("read", gkey{Kind: "scan", Clients: 1, Keys: p.ReadKeys}, e, ops, true, "100-key scans/s", "scans/s")
	}
	for _, e := range s.engines("load") {
		if e == "holdfast" {
			continue
		}
		for _, n := range p.Sizes {
			cmp("load", gkey{Kind: "load", Keys: n}, e, ops, true, fmt.Sprintf("bulk load keys/s at %s keys", num(float64(n))), "keys/s")
			cmp("disk", gkey{Kind: "load", Keys: n}, e, func(r record) float64 { return float64(r.DiskBytes) / float64(n) }, false, fmt.Sprintf("disk bytes per key at %s keys", num(float64(n))), "B/key")
			cmp("open", gkey{Kind: "open", Keys: n}, e, func(r record) float64 { return r.Seconds }, false, fmt.Sprintf("open time at %s keys", num(float64(n))), "s")
			cmp("memory", gkey{Kind: "open", Keys: n}, e, func(r record) float64 { return rssAdded(r) / (1 << 20) }, false, fmt.Sprintf("RSS added by open at %s keys", num(float64(n))), "MiB")
		}
	}
	for _, t := range []string{"SET", "GET"} {
		for _, pl := range p.RedisPipeline {
			for _, c := range p.RedisClients {
				cmp("server-"+strings.ToLower(t), gkey{Kind: "redis-benchmark", Variant: fmt.Sprintf("%s P=%d", t, pl), Clients: c}, "redis", ops, true,
					fmt.Sprintf("redis-benchmark %s -P %d -c %d", t, pl, c), "req/s")
			}
		}
	}
	for _, c := range p.EtcdClients {
		cmp("server-etcd", gkey{Kind: "etcd-load", Clients: c}, "etcd", ops, true, fmt.Sprintf("writes/s vs etcd, %s", plural(c, "client")), "ops/s")
	}

	w("### Where holdfast loses, and why\n\n")
	w("Every comparison below is one where holdfast's median is worse than a peer's in this run (listed by the generator from the data, not chosen by hand). " +
		"The causes after each group are what is known from holdfast's design and from the engine's own profiles (the engine benchmarks further down); " +
		"where a cause was not verified in this run, it says so.\n\n")
	why := map[string]string{
		"put": "At one writer every engine pays one sync per Put; holdfast writes each group to its log with O_DIRECT in whole 4 KiB pages and then calls fdatasync, " +
			"so its floor is the zeroed-direct latency of the physical limit (prealloc-direct in a dataspace's first segment), and an engine whose sync is cheaper on this file system can be ahead. " +
			"With many writers the figure depends on how many Puts share one sync (group commit) and, once the disk is no longer the bottleneck, on CPU per Put: " +
			"on 2 cores the load generator, GC and the engine share the CPU (compare the CPU µs/op column). The causes known from holdfast's own profiles are listed " +
			"in the engine benchmarks below: the writes a client makes while one fdatasync runs are written by the next (groups waiting for the log's I/O goroutine are written together), so with 64 writers one write and fdatasync carries about 28 Puts; " +
			"a group's O_DIRECT write and fdatasync run one after the other on this device, and the O_DIRECT write costs about 28 µs of CPU on this VM. " +
			"In a new database, as here, the log's first 4 MiB are written into space `fallocate` reserved, whose fdatasync costs more (prealloc-direct above); the segments after it, growing to 64 MiB, are zero-filled ahead of the writes; this run did not profile.",
		"put-lat": "Tail latency of durable writes follows the disk's fdatasync tail (see the physical limit's p99) and the machine's load. For holdfast, a running compaction raises the p99 of Puts (BenchmarkPutDuringCompaction, engine benchmarks below: the p99 of the Puts made during a compaction was 1.9–3.1× the idle p99 in five rounds on 2026-12-08, the rest being the garbage collector's mark phases and the old segments' deletion); whether an automatic one ran here was not checked.",
		"put-bytes": "`/proc/self/io` counts a whole page each time a clean page is dirtied, and direct I/O by its size, so every engine that syncs after a small write is charged about 4 KiB per sync; " +
			"bytes per Put then depend on how many Puts share a sync and on what else each commit writes (bbolt's B+tree and meta pages, SQLite's page-sized WAL frames, holdfast's 4 KiB-aligned O_DIRECT group writes). " +
			"holdfast also writes every log segment after the first once ahead of need, with zeros (docs/format.md), up to a segment ahead of the log: in a run of a few seconds that doubles or more its bytes per Put.",
		"put-cpu": "CPU per Put includes the load generator, GC and the writer goroutine; holdfast's allocations per Put (7 with many writers, see the engine benchmarks), the O_DIRECT write system call per group and the index update under the write lock are the known costs.",
		"read": "holdfast keeps values larger than `InlineValueMaxBytes` (64 B; these are 100 B) in the log, and in memory only in its value cache (default 128 MiB, with about 128 bytes of overhead per value): " +
			"it never serves a page-cache copy that may not be what the device holds (I2, I4, I5). A miss reads the one or two 4 KiB blocks that hold the value's op from the device with O_DIRECT and verifies the op's own checksum " +
			"(record format 2; a bulk-loaded value shares its record with the rest of its batch, here " + num(float64(p.LoadBatch)) + " keys, but is read alone). " +
			"When the keys read do not fit the cache, as with 1,000,000 keys here, the misses, each a device read of tens of microseconds, set the throughput, and a scan reads its values one by one. " +
			"The peers serve these reads from the page cache or their own caches, warm here.",
		"load": "A bulk load is one `Apply` per batch: holdfast encodes the batch as one record, writes it with O_DIRECT and inserts every key into its in-memory index under the write lock.",
		"disk": "holdfast's log is preallocated in 64 MiB segments and padded to 4 KiB pages per group, and it does not compress; the disk figure counts allocated blocks, so a partly filled segment counts whole.",
		"open": "holdfast rebuilds its in-memory index at open: from a checkpoint written at clean close plus the log after it, and the rest of the log is verified in the background after Open returns.",
		"memory": "holdfast keeps every key and its location (and values up to 64 B) in an in-memory B-tree, so resident memory grows with the number of keys. " +
			"The peers keep their index on disk and hold a bounded cache (bbolt maps its file, and only the pages a read touches become resident).",
		"server-set": "holdfast submits a run of writes already buffered on one connection (SET, MSET, DEL, INCR...) to the engine without waiting, so they share commit groups, and answers them in order; any other command runs alone, in order (internal/resp, package doc); " +
			"Redis executes every command it has read and writes and fsyncs the AOF once before replying to them (appendfsync always syncs once per event-loop iteration). " +
			"Where Redis is still ahead, compare the server CPU per request: on 2 cores shared with redis-benchmark, CPU per request bounds throughput once fsyncs are shared. Not profiled in this run.",
		"server-get": "A GET of a 100-byte value is served from holdfast's value cache when it is there and otherwise read from the log on the device with O_DIRECT (see reads above), while Redis serves everything from memory. " +
			"Keys are drawn from 1,000,000 (-r), so GETs of keys no SET wrote are misses on both servers.",
		"server-etcd": "etcd and holdfast both acknowledge only after fdatasync; the difference is the request path (gRPC and Raft in etcd, RESP in holdfast) and how writes are grouped.",
	}
	lost := false
	for _, kind := range []string{"put", "put-lat", "put-bytes", "put-cpu", "read", "load", "disk", "open", "memory", "server-set", "server-get", "server-etcd"} {
		ls := byKind[kind]
		if len(ls) == 0 {
			continue
		}
		lost = true
		for _, l := range ls {
			w("- %s: holdfast %s; better: %s\n", l.what, l.holdfast, strings.Join(l.better, ", "))
		}
		w("\n  *Why:* %s\n\n", why[kind])
	}
	if !lost {
		w("In this run holdfast's median was not worse than any peer's in any compared figure.\n\n")
	}
}
