package cpulimit

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeRoot lays out /proc/self/cgroup, /proc/self/mountinfo and the given
// cgroup files under a temporary directory.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// A container with its own cgroup namespace on a v2 host: everything is "/".
const v2Mountinfo = `1 0 0:30 / / rw - overlay overlay rw
2 1 0:31 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
`

// A v1 (hybrid) host, the process in a nested cgroup, one mount point with
// a space in it to check mountinfo's escapes.
const v1Mountinfo = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpu\040set rw,relatime - cgroup cgroup rw,cpuset
40 30 0:40 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const v1Cgroup = `9:name=systemd:/
3:cpuset:/
2:cpu,cpuacct:/kubepods/pod1
0::/
`

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string
		numCPU int
		want   Count
	}{
		{
			name: "v2 quota 1.5 rounds up",
			files: map[string]string{
				"proc/self/cgroup":      "0::/\n",
				"proc/self/mountinfo":   v2Mountinfo,
				"sys/fs/cgroup/cpu.max": "150000 100000\n",
			},
			numCPU: 8,
			want:   Count{2, "cgroup v2 cpu.max 150000/100000"},
		},
		{
			name: "v2 nested path on the host",
			files: map[string]string{
				"proc/self/cgroup":                               "0::/system.slice/app.service\n",
				"proc/self/mountinfo":                            v2Mountinfo,
				"sys/fs/cgroup/system.slice/app.service/cpu.max": "300000 100000\n",
			},
			numCPU: 8,
			want:   Count{3, "cgroup v2 cpu.max 300000/100000"},
		},
		{
			name: "v2 no limit",
			files: map[string]string{
				"proc/self/cgroup":      "0::/\n",
				"proc/self/mountinfo":   v2Mountinfo,
				"sys/fs/cgroup/cpu.max": "max 100000\n",
			},
			numCPU: 8,
			want:   Count{8, "CPUs"},
		},
		{
			name: "v2 quota below one CPU gives one",
			files: map[string]string{
				"proc/self/cgroup":      "0::/\n",
				"proc/self/mountinfo":   v2Mountinfo,
				"sys/fs/cgroup/cpu.max": "20000 100000\n",
			},
			numCPU: 4,
			want:   Count{1, "cgroup v2 cpu.max 20000/100000"},
		},
		{
			name: "quota above the CPUs: the CPUs decide",
			files: map[string]string{
				"proc/self/cgroup":      "0::/\n",
				"proc/self/mountinfo":   v2Mountinfo,
				"sys/fs/cgroup/cpu.max": "1600000 100000\n",
			},
			numCPU: 4,
			want:   Count{4, "CPUs"},
		},
		{
			name: "v1 quota, cpu controller before the v2 line",
			files: map[string]string{
				"proc/self/cgroup":    v1Cgroup,
				"proc/self/mountinfo": v1Mountinfo,
				"sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us":  "250000\n",
				"sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us": "100000\n",
			},
			numCPU: 16,
			want:   Count{3, "cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us 250000/100000"},
		},
		{
			name: "v1 no quota (-1)",
			files: map[string]string{
				"proc/self/cgroup":    v1Cgroup,
				"proc/self/mountinfo": v1Mountinfo,
				"sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us":  "-1\n",
				"sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us": "100000\n",
			},
			numCPU: 16,
			want:   Count{16, "CPUs"},
		},
		{
			name: "v1 mount root is the process's own cgroup (container)",
			files: map[string]string{
				"proc/self/cgroup":                    "5:cpu,cpuacct:/kubepods/pod1\n",
				"proc/self/mountinfo":                 "31 30 0:28 /kubepods/pod1 /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu,cpuacct\n",
				"sys/fs/cgroup/cpu/cpu.cfs_quota_us":  "50000\n",
				"sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
			},
			numCPU: 2,
			want:   Count{1, "cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us 50000/100000"},
		},
		{
			name:   "no /proc: the CPUs",
			files:  map[string]string{},
			numCPU: 2,
			want:   Count{2, "CPUs"},
		},
		{
			name: "malformed cpu.max: the CPUs",
			files: map[string]string{
				"proc/self/cgroup":      "0::/\n",
				"proc/self/mountinfo":   v2Mountinfo,
				"sys/fs/cgroup/cpu.max": "lots\n",
			},
			numCPU: 2,
			want:   Count{2, "CPUs"},
		},
		{
			name: "cgroup mounted elsewhere than the process's cgroup",
			files: map[string]string{
				"proc/self/cgroup":      "0::/other\n",
				"proc/self/mountinfo":   "2 1 0:31 /mine /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
				"sys/fs/cgroup/cpu.max": "100000 100000\n",
			},
			numCPU: 2,
			want:   Count{2, "CPUs"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := count(fakeRoot(t, tc.files), tc.numCPU); got != tc.want {
				t.Errorf("count = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGetOnThisMachine(t *testing.T) {
	c := Get()
	if c.N < 1 || c.Source == "" {
		t.Fatalf("Get() = %v", c)
	}
	t.Logf("this machine: %v", c)
}

func TestString(t *testing.T) {
	if s := (Count{2, "cgroup v2 cpu.max 150000/100000"}).String(); s != "2 (cgroup v2 cpu.max 150000/100000)" {
		t.Errorf("String() = %q", s)
	}
}
