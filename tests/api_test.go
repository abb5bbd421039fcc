package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rkt/rkt/common/apiproto"
	"github.com/rkt/rkt/tests/harness"
)

// `rkt api-service` (reference §9), driven by a gRPC client over the
// generated v1alpha stubs, as rkt's own clients would.

// apiStart starts the real rkt api-service on a free port of 127.0.0.1
// and returns a client. At the end of the test the service gets SIGTERM
// and must stop cleanly (exit 0).
func apiStart(t *testing.T, e *harness.Env) apiproto.PublicAPIClient {
	t.Helper()
	c, _ := apiStartAt(t, e)
	return c
}

// apiStartAt starts the real api-service on a free loopback port and
// returns a client and the address.
func apiStartAt(t *testing.T, e *harness.Env) (apiproto.PublicAPIClient, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := append([]string{"api-service"}, e.GlobalFlags()...)
	args = append(args, "--listen="+addr)
	cmd := exec.Command(harness.Bin("rkt"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("api-service did not stop cleanly: %v\nstderr:\n%s", err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("api-service ignored SIGTERM\nstderr:\n%s", stderr.String())
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("api-service exited early: %v\nstderr:\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("api-service not listening on %s\nstderr:\n%s", addr, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return apiproto.NewPublicAPIClient(conn), addr
}

func apiCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func apiListPods(t *testing.T, c apiproto.PublicAPIClient, detail bool, filters ...*apiproto.PodFilter) []string {
	t.Helper()
	resp, err := c.ListPods(apiCtx(t), &apiproto.ListPodsRequest{Filters: filters, Detail: detail})
	if err != nil {
		t.Fatalf("ListPods(%v): %v", filters, err)
	}
	var ids []string
	for _, p := range resp.Pods {
		ids = append(ids, p.Id)
	}
	return ids
}

func apiListImages(t *testing.T, c apiproto.PublicAPIClient, filters ...*apiproto.ImageFilter) []*apiproto.Image {
	t.Helper()
	resp, err := c.ListImages(apiCtx(t), &apiproto.ListImagesRequest{Filters: filters})
	if err != nil {
		t.Fatalf("ListImages(%v): %v", filters, err)
	}
	return resp.Images
}

func apiCode(t *testing.T, err error, want codes.Code, what string) {
	t.Helper()
	if status.Code(err) != want {
		t.Errorf("%s: got %v, want code %v", what, err, want)
	}
}

// apiTree records every file under dir with its size, mode and mtime,
// to show the service changed nothing.
func apiTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mt := fi.ModTime().UnixNano()
		if fi.IsDir() {
			mt = 0 // a directory's mtime is not ours to keep
		}
		fmt.Fprintf(&b, "%s %v %d %d\n", p, fi.Mode(), fi.Size(), mt)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func apiEq(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

// TestAPIHandMadePods serves the hand-made pods of podread_test.go: every
// state, exit statuses, networks; no root needed.
func TestAPIHandMadePods(t *testing.T) {
	f := prSetup(t)
	e := f.e
	before := apiTree(t, e.DataDir)
	c := apiStart(t, e)

	info, err := c.GetInfo(apiCtx(t), &apiproto.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if in := info.GetInfo(); in.ApiVersion != "1.0.0-alpha" || in.AppcVersion == "" || in.RktVersion == "" ||
		in.GlobalFlags.GetDir() != e.DataDir || in.GlobalFlags.GetUserConfigDir() != e.UserConfig ||
		in.GlobalFlags.GetLocalConfigDir() != e.LocalConfig || in.GlobalFlags.GetSystemConfigDir() != e.SystemConfig {
		t.Errorf("GetInfo: %v", in)
	}

	all := apiListPods(t, c, false)
	// The never-run garbage pod is gone for the API, as for rkt list.
	if want := []string{prExited, prPrepared, prRunning, prGarbage, prAborted}; !apiEq(all, want) {
		t.Errorf("ListPods: %v, want %v", all, want)
	}
	resp, err := c.ListPods(apiCtx(t), &apiproto.ListPodsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*apiproto.Pod{}
	for _, p := range resp.Pods {
		byID[p.Id] = p
		if len(p.Manifest) != 0 {
			t.Errorf("pod %s: manifest without detail", p.Id)
		}
	}
	wantStates := map[string]apiproto.PodState{
		prExited:   apiproto.PodState_POD_STATE_EXITED,
		prPrepared: apiproto.PodState_POD_STATE_PREPARED,
		prRunning:  apiproto.PodState_POD_STATE_RUNNING,
		prGarbage:  apiproto.PodState_POD_STATE_GARBAGE,
		prAborted:  apiproto.PodState_POD_STATE_ABORTED_PREPARE,
	}
	for id, st := range wantStates {
		if byID[id].GetState() != st {
			t.Errorf("pod %s: state %v, want %v", id, byID[id].GetState(), st)
		}
		if byID[id].GetCreatedAt() != f.created.UnixNano() {
			t.Errorf("pod %s: created_at %d, want %d", id, byID[id].GetCreatedAt(), f.created.UnixNano())
		}
	}
	ex := byID[prExited]
	if ex.Pid != 4242 || ex.StartedAt != f.started.UnixNano() || len(ex.Apps) != 2 ||
		ex.Apps[0].Name != "web" || ex.Apps[0].Image.GetId() != prImageID("example.com/web") ||
		ex.Apps[1].State != apiproto.AppState_APP_STATE_EXITED || ex.Apps[1].ExitCode != 3 {
		t.Errorf("exited pod: %v", ex)
	}
	if len(ex.Networks) != 2 || ex.Networks[0].Name != "default" || ex.Networks[0].Ipv4 != "172.16.28.2" || ex.Networks[1].Name != "lan" {
		t.Errorf("exited pod networks: %v", ex.Networks)
	}
	if g := byID[prGarbage]; g.GcMarkedAt == 0 || len(g.Apps) != 1 || g.Apps[0].ExitCode != 1 {
		t.Errorf("garbage pod: %v", g)
	}
	if r := byID[prRunning]; len(r.Apps) != 1 || r.Apps[0].State != apiproto.AppState_APP_STATE_RUNNING {
		t.Errorf("running pod: %v", r)
	}
	if a := byID[prAborted]; len(a.Apps) != 0 {
		t.Errorf("aborted pod has apps: %v", a)
	}

	// Filters: criteria AND'ed within a filter, filters OR'ed.
	cases := []struct {
		name    string
		filters []*apiproto.PodFilter
		want    []string
	}{
		{"ids", []*apiproto.PodFilter{{Ids: []string{prPrepared, prRunning, "nosuch"}}}, []string{prPrepared, prRunning}},
		{"states", []*apiproto.PodFilter{{States: []apiproto.PodState{apiproto.PodState_POD_STATE_EXITED, apiproto.PodState_POD_STATE_GARBAGE}}}, []string{prExited, prGarbage}},
		{"app names all", []*apiproto.PodFilter{{AppNames: []string{"web", "db"}}}, []string{prExited}},
		{"app name", []*apiproto.PodFilter{{AppNames: []string{"web"}}}, []string{prExited, prPrepared, prRunning}},
		{"image ids", []*apiproto.PodFilter{{ImageIds: []string{prImageID("example.com/job")}}}, []string{prGarbage}},
		{"networks", []*apiproto.PodFilter{{NetworkNames: []string{"default", "lan"}}}, []string{prExited, prRunning}},
		{"network missing", []*apiproto.PodFilter{{NetworkNames: []string{"default", "nosuch"}}}, nil},
		{"and", []*apiproto.PodFilter{{AppNames: []string{"web"}, States: []apiproto.PodState{apiproto.PodState_POD_STATE_PREPARED}}}, []string{prPrepared}},
		{"or", []*apiproto.PodFilter{{AppNames: []string{"db"}}, {AppNames: []string{"job"}}}, []string{prExited, prGarbage}},
		{"annotations", []*apiproto.PodFilter{{Annotations: []*apiproto.KeyValue{{Key: "nosuch", Value: "x"}}}}, nil},
		{"cgroups", []*apiproto.PodFilter{{Cgroups: []string{"/nosuch"}}}, nil},
	}
	for _, tc := range cases {
		if got := apiListPods(t, c, false, tc.filters...); !apiEq(got, tc.want) {
			t.Errorf("ListPods %s: %v, want %v", tc.name, got, tc.want)
		}
	}

	// InspectPod: detail, manifest, app images from the pod's copies.
	ip, err := c.InspectPod(apiCtx(t), &apiproto.InspectPodRequest{Id: prExited[:8]})
	if err != nil {
		t.Fatal(err)
	}
	p := ip.GetPod()
	if p.Id != prExited || len(p.Manifest) == 0 || !json.Valid(p.Manifest) || len(p.Apps) != 2 {
		t.Fatalf("InspectPod: %v", p)
	}
	if img := p.Apps[0].Image; img.Name != "example.com/web" || img.Version != "1.0" || len(img.Manifest) == 0 ||
		img.BaseFormat.GetType() != apiproto.ImageType_IMAGE_TYPE_APPC {
		t.Errorf("InspectPod app image: %v", img)
	}
	if p.Apps[0].State != apiproto.AppState_APP_STATE_EXITED || p.Apps[0].ExitCode != 0 {
		t.Errorf("InspectPod app: %v", p.Apps[0])
	}
	_, err = c.InspectPod(apiCtx(t), &apiproto.InspectPodRequest{Id: "99999999-0000-4000-8000-000000000000"})
	apiCode(t, err, codes.NotFound, "InspectPod unknown")
	_, err = c.InspectPod(apiCtx(t), &apiproto.InspectPodRequest{Id: prHidden})
	apiCode(t, err, codes.NotFound, "InspectPod garbage")
	_, err = c.InspectPod(apiCtx(t), &apiproto.InspectPodRequest{})
	apiCode(t, err, codes.InvalidArgument, "InspectPod no id")

	// A detailed list carries manifests.
	dresp, err := c.ListPods(apiCtx(t), &apiproto.ListPodsRequest{Detail: true, Filters: []*apiproto.PodFilter{{Ids: []string{prPrepared}}}})
	if err != nil || len(dresp.Pods) != 1 || len(dresp.Pods[0].Manifest) == 0 || dresp.Pods[0].Apps[0].Image.GetName() != "example.com/web" {
		t.Errorf("detailed ListPods: %v %v", dresp, err)
	}

	// No store: no images, not an error.
	if imgs := apiListImages(t, c); len(imgs) != 0 {
		t.Errorf("ListImages without a store: %v", imgs)
	}

	// The unimplemented streams say so.
	ev, err := c.ListenEvents(apiCtx(t), &apiproto.ListenEventsRequest{})
	if err == nil {
		_, err = ev.Recv()
	}
	apiCode(t, err, codes.Unimplemented, "ListenEvents")
	// A pod of several apps needs app_name; hand-made pods have no logs.
	lg, err := c.GetLogs(apiCtx(t), &apiproto.GetLogsRequest{PodId: prExited})
	if err == nil {
		_, err = lg.Recv()
	}
	apiCode(t, err, codes.InvalidArgument, "give app_name")
	lg, err = c.GetLogs(apiCtx(t), &apiproto.GetLogsRequest{PodId: prExited, AppName: "nosuch"})
	if err == nil {
		_, err = lg.Recv()
	}
	apiCode(t, err, codes.NotFound, "no logs")

	// A pod that vanishes is just not listed.
	if err := os.RemoveAll(filepath.Join(e.DataDir, "pods", "prepared", prPrepared)); err != nil {
		t.Fatal(err)
	}
	if got := apiListPods(t, c, true); apiContains(got, prPrepared) || len(got) != 4 {
		t.Errorf("ListPods after removal: %v", got)
	}
	var want strings.Builder
	for _, l := range strings.SplitAfter(before, "\n") {
		if !strings.Contains(l, prPrepared) {
			want.WriteString(l)
		}
	}
	if after := apiTree(t, e.DataDir); after != want.String() {
		t.Errorf("api-service changed the data dir:\nbefore:\n%s\nafter:\n%s", want.String(), after)
	}
}

func apiContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestAPIRealPods serves a store with a fetched image and pods made by
// rkt run.
func TestAPIRealPods(t *testing.T) {
	e, short := runEnv(t)
	id := fixtureID(t, "busybox.aci") // the full ID; fetch --full shows the store key's length
	if !strings.HasPrefix(id, short) {
		t.Fatalf("fetched %s, fixture is %s", short, id)
	}
	uuidFile := filepath.Join(e.Root, "uuid")
	e.Rkt("run", "--uuid-file-save="+uuidFile, "example.com/busybox", "--exec=/bin/sh", "--", "-c", "echo one; echo two; echo three").OK(t)
	first := readFile(t, uuidFile)
	e.Rkt("run", "--uuid-file-save="+uuidFile, "example.com/busybox", "--exec=/bin/false")
	second := readFile(t, uuidFile)
	c := apiStart(t, e)

	pods := apiListPods(t, c, false)
	if len(pods) != 2 || !apiContains(pods, first) || !apiContains(pods, second) {
		t.Fatalf("ListPods: %v, want %s and %s", pods, first, second)
	}
	// GetLogs reads the app's log kept by the stage1.
	for lines, want := range map[int32]string{0: "one two three", 2: "two three"} {
		lg, err := c.GetLogs(apiCtx(t), &apiproto.GetLogsRequest{PodId: first, Lines: lines})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			resp, err := lg.Recv()
			if err != nil {
				break
			}
			got = append(got, resp.GetLines()...)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("GetLogs lines=%d: %q, want %q", lines, got, want)
		}
	}
	lg, err := c.GetLogs(apiCtx(t), &apiproto.GetLogsRequest{PodId: first, SinceTime: 1})
	if err == nil {
		_, err = lg.Recv()
	}
	apiCode(t, err, codes.InvalidArgument, "since_time")
	exited := []*apiproto.PodFilter{{States: []apiproto.PodState{apiproto.PodState_POD_STATE_EXITED}, AppNames: []string{"busybox"}, ImageIds: []string{id}}}
	if got := apiListPods(t, c, false, exited...); len(got) != 2 {
		t.Errorf("ListPods exited busybox: %v", got)
	}
	if got := apiListPods(t, c, false, &apiproto.PodFilter{Ids: []string{first}}); !apiEq(got, []string{first}) {
		t.Errorf("ListPods by id: %v", got)
	}
	if got := apiListPods(t, c, false, &apiproto.PodFilter{States: []apiproto.PodState{apiproto.PodState_POD_STATE_RUNNING}}); len(got) != 0 {
		t.Errorf("ListPods running: %v", got)
	}
	if got := apiListPods(t, c, false, &apiproto.PodFilter{AppNames: []string{"busybox", "other"}}); len(got) != 0 {
		t.Errorf("ListPods two apps: %v", got)
	}

	ip, err := c.InspectPod(apiCtx(t), &apiproto.InspectPodRequest{Id: second})
	if err != nil {
		t.Fatal(err)
	}
	p := ip.GetPod()
	if p.State != apiproto.PodState_POD_STATE_EXITED || len(p.Apps) != 1 || p.Apps[0].Name != "busybox" ||
		p.Apps[0].State != apiproto.AppState_APP_STATE_EXITED || p.Apps[0].ExitCode != 1 ||
		p.Apps[0].Image.GetName() != "example.com/busybox" || p.Apps[0].Image.GetId() != id ||
		len(p.Manifest) == 0 || p.CreatedAt == 0 || p.StartedAt == 0 || p.StartedAt < p.CreatedAt {
		t.Errorf("InspectPod: %v", p)
	}
	if ip, err := c.InspectPod(apiCtx(t), &apiproto.InspectPodRequest{Id: first}); err != nil || ip.Pod.Apps[0].ExitCode != 0 {
		t.Errorf("InspectPod first: %v %v", ip, err)
	}

	imgs := apiListImages(t, c)
	var bb *apiproto.Image
	for _, img := range imgs {
		if img.Id == id {
			bb = img
		}
	}
	if bb == nil {
		t.Fatalf("ListImages: no %s in %v", id, imgs)
	}
	if bb.Name != "example.com/busybox" || bb.Version == "" || bb.ImportTimestamp == 0 || bb.Size == 0 ||
		len(bb.Manifest) != 0 || bb.BaseFormat.GetType() != apiproto.ImageType_IMAGE_TYPE_APPC {
		t.Errorf("ListImages busybox: %v", bb)
	}
	ts := bb.ImportTimestamp
	imageCases := []struct {
		name   string
		filter *apiproto.ImageFilter
		found  bool
	}{
		{"id", &apiproto.ImageFilter{Ids: []string{id}}, true},
		{"other id", &apiproto.ImageFilter{Ids: []string{"sha512-0000"}}, false},
		{"prefix", &apiproto.ImageFilter{Prefixes: []string{"example.com/"}}, true},
		{"other prefix", &apiproto.ImageFilter{Prefixes: []string{"coreos.com/"}}, false},
		{"base name", &apiproto.ImageFilter{BaseNames: []string{"busybox"}}, true},
		{"base name part", &apiproto.ImageFilter{BaseNames: []string{"busy"}}, false},
		{"keyword", &apiproto.ImageFilter{Keywords: []string{"sybo"}}, true},
		{"full name", &apiproto.ImageFilter{FullNames: []string{"example.com/busybox"}}, true},
		{"full name part", &apiproto.ImageFilter{FullNames: []string{"busybox"}}, false},
		{"label", &apiproto.ImageFilter{Labels: []*apiproto.KeyValue{{Key: "version", Value: bb.Version}}}, true},
		{"wrong label", &apiproto.ImageFilter{Labels: []*apiproto.KeyValue{{Key: "version", Value: "nosuch"}}}, false},
		{"imported after", &apiproto.ImageFilter{ImportedAfter: ts - 1}, true},
		{"imported after now", &apiproto.ImageFilter{ImportedAfter: ts}, false},
		{"imported before", &apiproto.ImageFilter{ImportedBefore: ts + 1}, true},
		{"imported before then", &apiproto.ImageFilter{ImportedBefore: ts}, false},
		{"annotation", &apiproto.ImageFilter{Annotations: []*apiproto.KeyValue{{Key: "nosuch", Value: "x"}}}, false},
		{"and", &apiproto.ImageFilter{Prefixes: []string{"example.com/"}, Keywords: []string{"nosuch"}}, false},
	}
	for _, tc := range imageCases {
		found := false
		for _, img := range apiListImages(t, c, tc.filter) {
			found = found || img.Id == id
		}
		if found != tc.found {
			t.Errorf("ListImages %s: found %v, want %v", tc.name, found, tc.found)
		}
	}
	if got := apiListImages(t, c, &apiproto.ImageFilter{Keywords: []string{"nosuch"}}, &apiproto.ImageFilter{Ids: []string{id}}); len(got) != 1 {
		t.Errorf("ListImages OR: %v", got)
	}

	for _, arg := range []string{id, id[:19]} {
		ii, err := c.InspectImage(apiCtx(t), &apiproto.InspectImageRequest{Id: arg})
		if err != nil {
			t.Fatalf("InspectImage %s: %v", arg, err)
		}
		if ii.Image.Id != id || ii.Image.Name != "example.com/busybox" || !json.Valid(ii.Image.Manifest) {
			t.Errorf("InspectImage %s: %v", arg, ii.Image)
		}
	}
	_, err = c.InspectImage(apiCtx(t), &apiproto.InspectImageRequest{Id: "sha512-" + strings.Repeat("0", 64)})
	apiCode(t, err, codes.NotFound, "InspectImage unknown")
	_, err = c.InspectImage(apiCtx(t), &apiproto.InspectImageRequest{Id: "example.com/busybox"})
	apiCode(t, err, codes.InvalidArgument, "InspectImage name")
}

// GetLogs with follow streams what a running app writes until it exits.
func TestAPIGetLogsFollow(t *testing.T) {
	e, _ := runEnv(t)
	cmd, uuid := startPod(t, e, "example.com/busybox", "--exec=/bin/sh", "--", "-c", "for i in 1 2 3 4 5; do echo tick$i; sleep 0.3; done")
	c := apiStart(t, e)
	lg, err := c.GetLogs(apiCtx(t), &apiproto.GetLogsRequest{PodId: uuid, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		resp, err := lg.Recv()
		if err != nil {
			break
		}
		got = append(got, resp.GetLines()...)
	}
	cmd.Wait()
	if strings.Join(got, " ") != "tick1 tick2 tick3 tick4 tick5" {
		t.Errorf("followed logs: %q", got)
	}
}

// A generic gRPC client (grpcurl, installed by scripts/test) works with
// the service, given our .proto.
func TestAPIWithGrpcurl(t *testing.T) {
	grpcurl := filepath.Join(harness.Top(), "build", "tools", "grpcurl")
	if _, err := os.Stat(grpcurl); err != nil {
		t.Skip("build/tools/grpcurl not installed (scripts/test installs it)")
	}
	e, _ := runEnv(t)
	e.Rkt("run", "example.com/busybox", "--exec=/bin/true").OK(t)
	_, addr := apiStartAt(t, e)
	proto := []string{"-plaintext", "-import-path", filepath.Join(harness.Top(), "common", "apiproto"), "-proto", "api.proto"}
	r := harness.Run(t, grpcurl, append(proto, addr, "v1alpha.PublicAPI/GetInfo")...).OK(t)
	if !strings.Contains(r.Stdout, `"apiVersion": "1.0.0-alpha"`) {
		t.Errorf("GetInfo: %s", r)
	}
	r = harness.Run(t, grpcurl, append(proto, "-d", `{"detail": true}`, addr, "v1alpha.PublicAPI/ListPods")...).OK(t)
	if !strings.Contains(r.Stdout, "POD_STATE_EXITED") || !strings.Contains(r.Stdout, `"name": "busybox"`) {
		t.Errorf("ListPods: %s", r)
	}
}
