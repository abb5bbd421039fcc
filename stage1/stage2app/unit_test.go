package stage2app

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rkt/rkt/stage1/manifest"
)

func TestParseDNSModes(t *testing.T) {
	for in, want := range map[string]DNSModes{
		"":                          {"default", "default"},
		"resolv=host,hosts=stage0":  {"host", "stage0"},
		"hosts=host":                {"default", "host"},
		"resolv=none":               {"none", "default"},
		"resolv=default,hosts=host": {"default", "host"},
	} {
		got, err := ParseDNSModes(in)
		if err != nil || got != want {
			t.Errorf("ParseDNSModes(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"resolv", "hosts=none", "dns=host", "resolv=host;hosts=host"} {
		if _, err := ParseDNSModes(bad); err == nil {
			t.Errorf("ParseDNSModes(%q) accepted", bad)
		}
	}
}

func TestEnvFile(t *testing.T) {
	env := []manifest.EnvVar{
		{Name: "PATH", Value: "/usr/bin:/bin"},
		{Name: "EMPTY", Value: ""},
		{Name: "EQ", Value: "a=b=c"},
		{Name: "SPACE", Value: " x y "},
		{Name: "NL", Value: "two\nlines"},
	}
	list := manifest.Env(env)
	if list[2] != "EQ=a=b=c" || len(list) != 5 {
		t.Fatalf("manifest.Env = %q", list)
	}
	data, skipped := FormatEnvFile(list)
	want := "PATH=/usr/bin:/bin\nEMPTY=\nEQ=a=b=c\nSPACE= x y \n"
	if string(data) != want || !reflect.DeepEqual(skipped, []string{"NL"}) {
		t.Errorf("FormatEnvFile = %q %q", data, skipped)
	}
	if got := ParseEnvFile(data); !reflect.DeepEqual(got, list[:4]) {
		t.Errorf("ParseEnvFile = %q", got)
	}
	if got := ParseEnvFile([]byte("junk\n=x\nA=1")); !reflect.DeepEqual(got, []string{"A=1"}) {
		t.Errorf("ParseEnvFile(junk) = %q", got)
	}
	if v, ok := LookupEnv(list, "EQ"); !ok || v != "a=b=c" {
		t.Errorf("LookupEnv = %q %v", v, ok)
	}
}

func mustPod(t *testing.T, js string) *manifest.PodManifest {
	t.Helper()
	pm, err := manifest.ParsePod([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

func TestPlanVolumes(t *testing.T) {
	pm := mustPod(t, `{"acKind":"PodManifest","acVersion":"0.8.11",
	 "apps":[{"name":"a","image":{"id":"sha512-0000000000000000000000000000000000000000000000000000000000000000"},
	  "app":{"exec":["/bin/true"],"user":"0","group":"0",
	   "mountPoints":[{"name":"data","path":"/data","readOnly":true},{"name":"cache","path":"/var/cache"},
	                  {"name":"logs","path":"/logs"},{"name":"over","path":"/over/ridden"}]},
	  "mounts":[{"volume":"src","path":"/data/src/"},{"volume":"other","path":"/over/ridden"},
	            {"volume":"inl","path":"/inline","appVolume":{"name":"inl","kind":"host","source":"/srv","recursive":true}}]}],
	 "volumes":[{"name":"data","kind":"host","source":"/srv/data"},
	            {"name":"src","kind":"host","source":"/srv/src","readOnly":false},
	            {"name":"other","kind":"empty","mode":"0700","uid":7,"gid":8},
	            {"name":"logs","kind":"host","source":"/var/log","readOnly":true,"recursive":false}]}`)
	ra := &pm.Apps[0]
	vms, warns, err := PlanVolumes(pm, ra, ra.App)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name, path      string
		ro, rec, implic bool
	}
	var got []row
	for _, vm := range vms {
		got = append(got, row{vm.Volume.Name, vm.Path, vm.ReadOnly, vm.Recursive, vm.Implicit})
	}
	want := []row{
		{"inl", "/inline", false, true, false},
		{"data", "/data", true, false, false},
		{"logs", "/logs", true, false, false},
		{"src", "/data/src", false, false, false},
		{"other", "/over/ridden", false, false, false},
		{"cache", "/var/cache", false, false, true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PlanVolumes:\n got %+v\nwant %+v", got, want)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], `"cache"`) {
		t.Errorf("warnings %q", warns)
	}
	for _, vm := range vms {
		if vm.Volume.Name == "other" {
			if mode, uid, gid, err := EmptyVolumeAttrs(vm.Volume); err != nil || mode != 0o700 || uid != 7 || gid != 8 {
				t.Errorf("EmptyVolumeAttrs = %o %d %d %v", mode, uid, gid, err)
			}
		}
		if vm.Volume.Name == "cache" {
			if mode, uid, gid, err := EmptyVolumeAttrs(vm.Volume); err != nil || mode != 0o755 || uid != 0 || gid != 0 {
				t.Errorf("implicit EmptyVolumeAttrs = %o %d %d %v", mode, uid, gid, err)
			}
		}
	}

	// A mount without its volume, relative and duplicate targets fail.
	for _, bad := range []string{
		`"mounts":[{"volume":"nope","path":"/x"}]`,
		`"mounts":[{"volume":"v","path":"x"}]`,
		`"mounts":[{"volume":"v","path":"/x"},{"volume":"v","path":"/x/"}]`,
		`"mounts":[{"volume":"v","path":"/"}]`,
	} {
		pm := mustPod(t, `{"acKind":"PodManifest","acVersion":"0.8.11",
		 "apps":[{"name":"a","image":{"id":"sha512-0000000000000000000000000000000000000000000000000000000000000000"},
		  "app":{"exec":["/bin/true"],"user":"0","group":"0"},`+bad+`}],
		 "volumes":[{"name":"v","kind":"host","source":"/srv"}]}`)
		if _, _, err := PlanVolumes(pm, &pm.Apps[0], pm.Apps[0].App); err == nil {
			t.Errorf("PlanVolumes accepted %s", bad)
		}
	}
}
