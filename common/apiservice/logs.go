package apiservice

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rkt/rkt/common/apiproto"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/podmanifest"
)

// logsDir is where the native stage1 keeps each app's output,
// <pod>/logs/<app>.log (docs/stage1-native.md).
const logsDir = "logs"

// followPoll is how often a followed log is checked for new lines.
const followPoll = 200 * time.Millisecond

// GetLogs streams an app's output from the per-app log file the stage1
// keeps in the pod directory: all of it, or the last `lines` lines, and
// with `follow` what the app writes next, until the pod stops or the
// client goes away. The log files carry no per-line times, so
// since_time/until_time are refused rather than ignored.
func (s *Server) GetLogs(req *apiproto.GetLogsRequest, stream apiproto.PublicAPI_GetLogsServer) error {
	if req.GetSinceTime() != 0 || req.GetUntilTime() != 0 {
		return status.Error(codes.InvalidArgument, "since_time and until_time need timestamped logs, which the stage1 does not keep")
	}
	p, err := pod.Lookup(s.root, req.GetPodId())
	if err != nil {
		return status.Errorf(codes.NotFound, "pod %q: %v", req.GetPodId(), err)
	}
	app := req.GetAppName()
	if app == "" {
		m, _, err := podmanifest.Read(p)
		if err != nil {
			return status.Errorf(codes.NotFound, "pod %q: %v", p.UUID, err)
		}
		if len(m.Apps) != 1 {
			return status.Errorf(codes.InvalidArgument, "pod %q has %d apps: give app_name", p.UUID, len(m.Apps))
		}
		app = m.Apps[0].Name.String()
	}
	if strings.ContainsAny(app, "/\x00") || app == "." || app == ".." {
		return status.Errorf(codes.InvalidArgument, "invalid app name %q", app)
	}
	f, err := os.Open(p.Path(filepath.Join(logsDir, app+".log")))
	if errors.Is(err, fs.ErrNotExist) {
		return status.Errorf(codes.NotFound, "no logs for app %q of pod %q (the pod's stage1 keeps none)", app, p.UUID)
	}
	if err != nil {
		return status.Errorf(codes.Internal, "%v", err)
	}
	defer f.Close()
	lines, err := readLines(f)
	if err != nil {
		return status.Errorf(codes.Internal, "reading logs: %v", err)
	}
	if n := int(req.GetLines()); n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) > 0 {
		if err := stream.Send(&apiproto.GetLogsResponse{Lines: lines}); err != nil {
			return err
		}
	}
	if !req.GetFollow() {
		return nil
	}
	r := bufio.NewReader(f)
	var partial []byte
	ctx := stream.Context()
	for {
		more, err := readAppended(r, &partial)
		if err != nil {
			return status.Errorf(codes.Internal, "reading logs: %v", err)
		}
		if len(more) > 0 {
			if err := stream.Send(&apiproto.GetLogsResponse{Lines: more}); err != nil {
				return err
			}
			continue
		}
		if err := p.Refresh(); err != nil || p.State != pod.StateRunning {
			// The pod is gone or finished: what it wrote before it ended
			// is all there is; one last read gets it.
			last, err := readAppended(r, &partial)
			if err == nil && len(partial) > 0 {
				last = append(last, string(partial))
			}
			if len(last) > 0 {
				return stream.Send(&apiproto.GetLogsResponse{Lines: last})
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
	}
}

// readLines reads a whole log; a last line without a newline counts.
func readLines(r io.Reader) ([]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) == 0 {
		return nil, nil
	}
	return strings.Split(string(data), "\n"), nil
}

// readAppended returns the complete lines written since the last call;
// an unfinished line waits in partial for its end.
func readAppended(r *bufio.Reader, partial *[]byte) ([]string, error) {
	var out []string
	for {
		chunk, err := r.ReadBytes('\n')
		*partial = append(*partial, chunk...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(bytes.TrimSuffix(*partial, []byte("\n"))))
		*partial = (*partial)[:0]
	}
}
