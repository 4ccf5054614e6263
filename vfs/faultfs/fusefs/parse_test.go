package fusefs

import (
	"strings"
	"testing"
)

// The command strings LazyFS's README and its users write, verbatim.
var lazyFSCommands = []string{
	"lazyfs::clear-cache",
	"lazyfs::cache-checkpoint",
	"lazyfs::display-cache-usage",
	"lazyfs::unsynced-data-report",
	"lazyfs::crash::timing=before::op=write::from_rgx=file1",
	"lazyfs::crash::timing=before::op=rename::to_rgx=fileabd",
	"lazyfs::crash::timing=after::op=write::from_rgx=member/wal/[0-9]+-[0-9]+.wal",
	"lazyfs::crash::timing=after::op=fsync::from_rgx=version-2/log.[0-9]0000000[0-9]",
	"lazyfs::crash::timing=after::op=write::from_rgx=*",
	"lazyfs::torn-op::file=/tmp/lazyfs.root/objects/data.mdb::persist=1,3::parts=3::occurrence=5",
	"lazyfs::torn-seq::op=write::file=/tmp/lazyfs.root/objects/data.mdb::persist=1,4::occurrence=2",
}

func TestParseCommandAcceptsLazyFSCommands(t *testing.T) {
	for _, c := range lazyFSCommands {
		if _, err := ParseCommand(c + "\n"); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, tc := range []struct{ cmd, want string }{
		{"", "empty command"},
		{"clear-cache", "want lazyfs::"},
		{"lazyfs::clear", "unknown command"},
		{"lazyfs::clear-cache::x=1", "unknown argument"},
		{"lazyfs::crash::timing=during::op=write::from_rgx=a", "neither before nor after"},
		{"lazyfs::crash::timing=before::op=write", "give from_rgx"},
		{"lazyfs::crash::timing=before::op=write::from_rgx=(", "from_rgx"},
		{"lazyfs::crash::timing=before::op=write::from_rgx=a::to_rgx=b", "only for rename"},
		{"lazyfs::crash::timing=before::op=link::from_rgx=a", "no hard or symbolic links"},
		{"lazyfs::crash::timing=before::op=write::op=read::from_rgx=a", "given twice"},
		{"lazyfs::torn-op::file=f::persist=1,4::parts=3::occurrence=5", "persist"},
		{"lazyfs::torn-op::file=f::persist=1::parts=3::parts_bytes=1,2::occurrence=1", "exactly one of parts"},
		{"lazyfs::torn-op::file=f::persist=1::parts=3::occurrence=0", "occurrence"},
		{"lazyfs::torn-seq::op=read::file=f::persist=1::occurrence=1", "only write"},
		{"faultfs::fail-sync::path=/a", "exactly one of nth and seq"},
		{"faultfs::fail-sync::path=/a::nth=1::err=EBOGUS", "EBOGUS"},
		{"faultfs::fail-sync::path=/a::seq=xq", "seq"},
		{"faultfs::crash::keep=101", "percentage"},
		{"faultfs::crash::unit=100", "neither 512 nor 4096"},
		{"faultfs::profile::name=zfs", "unknown profile"},
		{"faultfs::inject::sync nth=0", "nth"},
		{"faultfs::" + strings.Repeat("x", MaxCommandBytes), "more than"},
	} {
		_, err := ParseCommand(tc.cmd)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCommand(%.60q) = %v, want an error containing %q", tc.cmd, err, tc.want)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"[[injection]]\ntype=\"boom\"", "unknown type"},
		{"[[injection]]\ntype=\"clear\"\nfrom=\"f\"\ntiming=\"before\"\nop=\"fsync\"\noccurrence=1", "crash=true"},
		{"[[injection]]\ntype=\"torn-op\"\nfile=\"f\"\noccurrence=1\nparts=2\npersist=[3]", "persist"},
		{"[[injection]]\ntype=\"torn-seq\"\nop=\"write\"\nfile=\"f\"\noccurrence=1\npersist=[1]\nbogus=1", "unknown key"},
		{"[cache]\napply_eviction=true\n[cache.simple]\ncustom_size=\"lots\"", "bad size"},
		{"[faults]\nfifo=\"/x\"", "unknown keys"},
		{`[{"path": "/a", "seq": "xW"}]`, "exactly one of block and sector"},
		{`[{"path": "/a", "seq": "q", "block": 1}]`, "seq"},
		{`[{"path": "/a", "seq": "x", "block": 1, "extra": 2}]`, "unknown field"},
		{"sync nth=0", "line 1"},
	} {
		_, err := ParseConfig([]byte(tc.cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%q) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	cfg, err := ParseConfig([]byte("# comment\nsync,syncdata path=*.log nth=3 err=EIO\n\nwrite prob=0.5 seed=1 err=ENOSPC\n"))
	if err != nil || len(cfg.Injections) != 2 {
		t.Fatalf("spec lines: %+v, %v", cfg, err)
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, c := range lazyFSCommands {
		f.Add(c)
	}
	f.Add("faultfs::fail-sync::path=/a::nth=2::err=EIO::op=fdatasync")
	f.Add("faultfs::crash::keep=50::unit=512::tear=true::dirops=random")
	f.Add("faultfs::inject::sync,syncdata path=*.log nth=3 err=EIO")
	f.Fuzz(func(t *testing.T, s string) {
		cmd, err := ParseCommand(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(cmd.Verb, "lazyfs::") && !strings.HasPrefix(cmd.Verb, "faultfs::") {
			t.Fatalf("accepted %q as verb %q", s, cmd.Verb)
		}
		if inj := cmd.Injection; inj != nil {
			for _, p := range inj.Persist {
				if p < 1 {
					t.Fatalf("accepted persist %d", p)
				}
			}
			if inj.Type == "torn-op" && inj.Parts+len(inj.PartsBytes) < 1 {
				t.Fatalf("torn-op without parts from %q", s)
			}
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("[[injection]]\ntype=\"torn-seq\"\nop=\"write\"\nfile=\"output.txt\"\npersist=[1,4]\noccurrence=2\n"))
	f.Add([]byte("[faults]\nfifo_path=\"/tmp/f\"\n[file system]\nlogfile=\"/tmp/l\"\n[[injection]]\ntype=\"torn-op\"\nfile=\"o\"\noccurrence=5\nparts_bytes=[4096,3600,1260]\npersist=[1,3]\n"))
	f.Add([]byte(`[{"path": "/a", "seq": "xW", "sector": 9}]`))
	f.Add([]byte("devwrite path=/data/f offset=8192 len=4096 seq=xW\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			return
		}
		for _, inj := range cfg.Injections {
			switch inj.Type {
			case "clear", "torn-op", "torn-seq", "spec", "cuttlefs":
			default:
				t.Fatalf("accepted injection type %q", inj.Type)
			}
			if inj.Type == "torn-op" && inj.Parts+len(inj.PartsBytes) < 1 {
				t.Fatal("torn-op without parts")
			}
		}
	})
}
