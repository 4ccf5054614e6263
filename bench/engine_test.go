package main

import (
	"bytes"
	"os"
	"testing"
)

// TestEngines runs every engine adapter through the operations the
// workloads use, on a small database in a temporary directory: a bulk load,
// Puts, Gets that return exactly what was written, ordered scans, and a
// reopen that keeps everything.
func TestEngines(t *testing.T) {
	const loaded = 2500
	for _, spec := range engines {
		t.Run(spec.Name, func(t *testing.T) {
			dir := t.TempDir()
			e, err := spec.open(dir)
			if err != nil {
				t.Fatal(err)
			}
			var keys, vals [][]byte
			for i := uint64(0); i < loaded; i++ {
				keys = append(keys, keyOf(make([]byte, keyBytes), i))
				vals = append(vals, valueOf(i))
				if len(keys) == 1000 || i == loaded-1 {
					if err := e.Load(keys, vals); err != nil {
						t.Fatal(err)
					}
					keys, vals = keys[:0], vals[:0]
				}
			}
			var k [keyBytes]byte
			if err := e.Put(keyOf(k[:], loaded), valueOf(loaded)); err != nil {
				t.Fatal(err)
			}
			check := func(e engine) {
				t.Helper()
				for _, i := range []uint64{0, 1, 999, 1000, loaded - 1, loaded} {
					v, err := e.Get(keyOf(k[:], i))
					if err != nil {
						t.Fatalf("get %d: %v", i, err)
					}
					if !bytes.Equal(v, valueOf(i)) {
						t.Fatalf("get %d: wrong value", i)
					}
				}
				if _, err := e.Get([]byte("no such key 0000")); err == nil {
					t.Fatal("get of a missing key: no error")
				}
				n, err := e.Scan(keyOf(k[:], 10), scanKeys)
				if err != nil || n != scanKeys {
					t.Fatalf("scan from 10: %d keys, %v; want %d", n, err, scanKeys)
				}
				n, err = e.Scan(keyOf(k[:], loaded-5), scanKeys)
				if err != nil || n != 6 {
					t.Fatalf("scan from the end: %d keys, %v; want 6", n, err)
				}
			}
			check(e)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			e, err = spec.open(dir)
			if err != nil {
				t.Fatal(err)
			}
			check(e)
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestKeyOf(t *testing.T) {
	var a, b [keyBytes]byte
	for _, tc := range []struct{ i, j uint64 }{{0, 1}, {9, 10}, {15, 16}, {255, 256}, {1<<40 - 2, 1<<40 - 1}} {
		ka, kb := keyOf(a[:], tc.i), keyOf(b[:], tc.j)
		if len(ka) != keyBytes || bytes.Compare(ka, kb) >= 0 {
			t.Errorf("keyOf(%d)=%q, keyOf(%d)=%q: want 16 bytes in index order", tc.i, ka, tc.j, kb)
		}
	}
	if got := string(keyOf(a[:], 0xabc)); got != "0000000000000abc" {
		t.Errorf("keyOf(0xabc) = %q", got)
	}
	if len(valueOf(12345)) != valueBytes {
		t.Error("valueOf: wrong length")
	}
}

func TestPercentiles(t *testing.T) {
	var l latencies
	for i := 1; i <= 1000; i++ {
		l = append(l, 1000*1000) // 1 ms
	}
	l[999] = 9 * 1000 * 1000
	p50, p99, p999 := percentiles([]latencies{l})
	if p50 != 1000 || p99 != 1000 || p999 != 1000 {
		t.Errorf("p50 %v p99 %v p999 %v, want 1000 µs each (one outlier in 1000 is above p99.9)", p50, p99, p999)
	}
	l[998] = 9 * 1000 * 1000
	if _, _, p999 := percentiles([]latencies{l}); p999 != 9000 {
		t.Errorf("p999 with two outliers in 1000 = %v, want 9000", p999)
	}
}

func TestAggAndNum(t *testing.T) {
	a := aggOf([]float64{3, 1, 2})
	if a.med != 2 || a.min != 1 || a.max != 3 || a.n != 3 {
		t.Errorf("aggOf = %+v", a)
	}
	if a := aggOf([]float64{4, 1}); a.med != 2.5 {
		t.Errorf("median of two = %v", a.med)
	}
	for v, want := range map[float64]string{1234567: "1,234,567", 100: "100", 99.5: "99.5", 1.234: "1.23", 0.01234: "0.0123", -1500: "-1,500"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
	if got := cell(agg{med: 2, min: 1, max: 3, n: 3}, 1); got != "2.00 [1.00–3.00]" {
		t.Errorf("cell = %q", got)
	}
}

func TestParseRedisBenchmarkCSV(t *testing.T) {
	out := []byte(`"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","12345.68","0.500","0.100","0.447","0.900","1.503","9.000"
`)
	rec, err := parseRedisBenchmarkCSV(out)
	if err != nil {
		t.Fatal(err)
	}
	if rec.OpsPerS != 12345.68 || rec.P50us != 447 || rec.P99us != 1503 {
		t.Errorf("parsed %+v", rec)
	}
	if _, err := parseRedisBenchmarkCSV([]byte("ERROR: connection refused\n")); err == nil {
		t.Error("garbage parsed without error")
	}
}

func TestSpliceReport(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/r.md"
	block := beginMarker + "\nnew\n" + endMarker + "\n"
	for _, tc := range []struct{ old, want string }{
		{"# T\n\nhand\n", "# T\n\n" + block + "\n\nhand\n"},
		{"# T\n" + beginMarker + "\nold\n" + endMarker + "\nhand\n", "# T\n" + beginMarker + "\nnew\n" + endMarker + "\nhand\n"},
	} {
		if err := writeFile(path, tc.old); err != nil {
			t.Fatal(err)
		}
		if err := spliceReport(path, block); err != nil {
			t.Fatal(err)
		}
		got := readFile(t, path)
		if got != tc.want {
			t.Errorf("splice of %q:\n got %q\nwant %q", tc.old, got, tc.want)
		}
	}
	if err := writeFile(path, "# T\n"+beginMarker+"\nno end\n"); err != nil {
		t.Fatal(err)
	}
	if err := spliceReport(path, block); err == nil {
		t.Error("begin marker without end: no error")
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
