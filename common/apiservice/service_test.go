package apiservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rkt/rkt/common/apiproto"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/stage1abi"
)

const testImageID = "sha512-" +
	"1111111111111111111111111111111111111111111111111111111111111111" +
	"1111111111111111111111111111111111111111111111111111111111111111"

// podManifest is a pod manifest of the size prepare writes for one app.
func podManifest(app string) string {
	env := []map[string]string{}
	for _, kv := range [][2]string{{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, {"SHELL", "/bin/sh"}, {"USER", "root"}, {"LOGNAME", "root"}, {"HOME", "/root"}, {"AC_APP_NAME", app}} {
		env = append(env, map[string]string{"name": kv[0], "value": kv[1]})
	}
	m := map[string]any{
		"acVersion": "0.8.11", "acKind": "PodManifest",
		"apps": []any{map[string]any{
			"name":        app,
			"image":       map[string]any{"name": "example.com/" + app, "id": testImageID, "labels": []any{map[string]string{"name": "version", "value": "1.0"}, map[string]string{"name": "os", "value": "linux"}}},
			"app":         map[string]any{"exec": []string{"/bin/" + app}, "user": "0", "group": "0", "workingDirectory": "/", "environment": env},
			"annotations": []any{map[string]string{"name": "app-note", "value": "x"}},
		}},
		"annotations": []any{map[string]string{"name": "coreos.com/rkt/stage1/mutable", "value": "false"}},
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func imageManifest(app string) string {
	b, _ := json.Marshal(map[string]any{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/" + app,
		"labels": []any{map[string]string{"name": "version", "value": "1.0"}, map[string]string{"name": "os", "value": "linux"}}})
	return string(b)
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func podID(i int) string { return fmt.Sprintf("%08d-0000-4000-8000-000000000000", i) }

// newRoot makes a data dir holding n exited one-app pods in run/.
func newRoot(t testing.TB, n int) dirs.Root {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"} {
		if err := os.MkdirAll(filepath.Join(dir, "pods", d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		app := "app"
		if i%2 == 1 {
			app = "other"
		}
		pd := filepath.Join(dir, "pods", "run", podID(i))
		write(t, filepath.Join(pd, stage1abi.PodManifestFile), podManifest(app))
		write(t, filepath.Join(pd, stage1abi.PodCreatedFile), "")
		write(t, filepath.Join(pd, stage1abi.PIDFile), "42")
		write(t, filepath.Join(pd, stage1abi.AppsInfoDir, app, stage1abi.AppManifestFile), imageManifest(app))
		write(t, filepath.Join(pd, stage1abi.Stage1RootfsRel, stage1abi.StatusDir, app), "0")
	}
	root, err := dirs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestListPodsFilters(t *testing.T) {
	root := newRoot(t, 4)
	s := New(root, nil)
	ctx := context.Background()
	list := func(filters ...*apiproto.PodFilter) []string {
		t.Helper()
		resp, err := s.ListPods(ctx, &apiproto.ListPodsRequest{Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range resp.Pods {
			ids = append(ids, p.Id)
		}
		return ids
	}
	if got := list(); len(got) != 4 {
		t.Fatalf("all: %v", got)
	}
	if got := list(&apiproto.PodFilter{AppNames: []string{"other"}}); fmt.Sprint(got) != fmt.Sprint([]string{podID(1), podID(3)}) {
		t.Errorf("app other: %v", got)
	}
	kv := &apiproto.KeyValue{Key: "coreos.com/rkt/stage1/mutable", Value: "false"}
	if got := list(&apiproto.PodFilter{Annotations: []*apiproto.KeyValue{kv}, Ids: []string{podID(2)}}); fmt.Sprint(got) != fmt.Sprint([]string{podID(2)}) {
		t.Errorf("annotation+id: %v", got)
	}
	if got := list(&apiproto.PodFilter{Annotations: []*apiproto.KeyValue{{Key: kv.Key, Value: "true"}}}); len(got) != 0 {
		t.Errorf("wrong annotation value: %v", got)
	}
	// A vanished pod is skipped; a broken one too, and reported.
	if err := os.RemoveAll(filepath.Join(root.PodsIn("run"), podID(0))); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root.PodsIn("run"), podID(1), stage1abi.PodManifestFile), "{")
	if got := list(); fmt.Sprint(got) != fmt.Sprint([]string{podID(2), podID(3)}) {
		t.Errorf("after removal: %v", got)
	}
	_, err := s.InspectPod(ctx, &apiproto.InspectPodRequest{Id: podID(0)})
	if status.Code(err) != codes.NotFound {
		t.Errorf("InspectPod vanished: %v", err)
	}
}

func TestPodFilterCgroups(t *testing.T) {
	p := &apiproto.Pod{Cgroup: "/machine.slice/machine-rkt-x.scope"}
	cases := []struct {
		f    *apiproto.PodFilter
		want bool
	}{
		{&apiproto.PodFilter{Cgroups: []string{"/machine.slice/machine-rkt-x.scope"}}, true},
		{&apiproto.PodFilter{Cgroups: []string{"/machine.slice"}}, false},
		{&apiproto.PodFilter{PodSubCgroups: []string{"/machine.slice/machine-rkt-x.scope/system.slice/app.service"}}, true},
		{&apiproto.PodFilter{PodSubCgroups: []string{"/machine.slice/machine-rkt-x.scope"}}, true},
		{&apiproto.PodFilter{PodSubCgroups: []string{"/machine.slice/machine-rkt-x.scope2/a"}}, false},
		{&apiproto.PodFilter{PodSubCgroups: []string{"/machine.slice"}}, false},
	}
	for _, c := range cases {
		if got := podFilter(p, c.f); got != c.want {
			t.Errorf("%v: %v, want %v", c.f, got, c.want)
		}
	}
	if podFilter(&apiproto.Pod{}, &apiproto.PodFilter{PodSubCgroups: []string{"/a"}}) {
		t.Error("a pod without cgroup matched a sub-cgroup")
	}
}

func TestCgroupOf(t *testing.T) {
	v1 := "12:cpu:/x\n1:name=systemd:/machine.slice/machine-rkt.scope/init.scope\n0::/u\n"
	if got := cgroupOf([]byte(v1)); got != "/machine.slice/machine-rkt.scope/init.scope" {
		t.Errorf("v1: %q", got)
	}
	if got := cgroupOf([]byte("0::/system.slice/rkt.service\n")); got != "/system.slice/rkt.service" {
		t.Errorf("v2: %q", got)
	}
}

func TestImageFilter(t *testing.T) {
	img := &apiproto.Image{Id: testImageID, Name: "coreos.com/etcd", ImportTimestamp: 100,
		Labels: []*apiproto.KeyValue{{Key: "version", Value: "2"}}}
	cases := []struct {
		f    *apiproto.ImageFilter
		want bool
	}{
		{&apiproto.ImageFilter{BaseNames: []string{"etcd"}}, true},
		{&apiproto.ImageFilter{BaseNames: []string{"etc"}}, false},
		{&apiproto.ImageFilter{Keywords: []string{"etc"}}, true},
		{&apiproto.ImageFilter{Prefixes: []string{"k8s.io", "coreos.com/"}}, true},
		{&apiproto.ImageFilter{FullNames: []string{"coreos.com/etcd"}}, true},
		{&apiproto.ImageFilter{ImportedAfter: 99, ImportedBefore: 101}, true},
		{&apiproto.ImageFilter{ImportedAfter: 100}, false},
		{&apiproto.ImageFilter{Labels: []*apiproto.KeyValue{{Key: "version", Value: "2"}}}, true},
		{&apiproto.ImageFilter{Labels: []*apiproto.KeyValue{{Key: "version", Value: "2"}, {Key: "os", Value: "linux"}}}, false},
	}
	for _, c := range cases {
		if got := imageFilter(img, c.f); got != c.want {
			t.Errorf("%v: %v, want %v", c.f, got, c.want)
		}
	}
}

// grpcClient serves s on a loopback port for the duration of b.
func grpcClient(b testing.TB, s *Server) apiproto.PublicAPIClient {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer()
	apiproto.RegisterPublicAPIServer(gs, s)
	go func() { _ = gs.Serve(l) }()
	b.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return apiproto.NewPublicAPIClient(conn)
}

// BenchmarkListPods lists a thousand pods over gRPC (target: < 100 ms a
// call). go test -run='^$' -bench=. ./common/apiservice
func BenchmarkListPods(b *testing.B) {
	c := grpcClient(b, New(newRoot(b, 1000), nil))
	for _, detail := range []bool{false, true} {
		b.Run(fmt.Sprintf("detail=%v", detail), func(b *testing.B) {
			for range b.N {
				resp, err := c.ListPods(context.Background(), &apiproto.ListPodsRequest{Detail: detail})
				if err != nil || len(resp.Pods) != 1000 {
					b.Fatalf("%v, %d pods", err, len(resp.GetPods()))
				}
			}
		})
	}
}

// BenchmarkInspectPod inspects one pod among a thousand by a UUID prefix
// over gRPC (target: < 5 ms a call).
func BenchmarkInspectPod(b *testing.B) {
	c := grpcClient(b, New(newRoot(b, 1000), nil))
	for _, id := range []string{podID(500), podID(500)[:8]} {
		b.Run(fmt.Sprintf("id=%d", len(id)), func(b *testing.B) {
			for range b.N {
				if _, err := c.InspectPod(context.Background(), &apiproto.InspectPodRequest{Id: id}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkListPodsCold is the first ListPods of a new service (no
// manifest cached yet) with 1,000 pods.
func BenchmarkListPodsCold(b *testing.B) {
	root := newRoot(b, 1000)
	b.ResetTimer()
	for range b.N {
		resp, err := New(root, nil).ListPods(context.Background(), &apiproto.ListPodsRequest{})
		if err != nil || len(resp.Pods) != 1000 {
			b.Fatalf("%v, %d pods", err, len(resp.GetPods()))
		}
	}
}
