// Package apiservice is `rkt api-service`: rkt's read-only v1alpha gRPC
// API (reference §9). Everything it answers is read from the data
// directory as it is at the time of the call: pods through common/pod,
// images from the store's files. It never writes, creates or locks
// anything on disk (a pod's state is probed with the same non-blocking
// shared flock(2) `rkt list` uses), so it may run unprivileged, in the
// rkt group. A pod or an image that disappears while it is read is left
// out of the answer, not an error.
package apiservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rkt/rkt/common/apiproto"
	"github.com/rkt/rkt/common/buildinfo"
	"github.com/rkt/rkt/common/dirs"
	"github.com/rkt/rkt/common/pod"
	"github.com/rkt/rkt/common/store"
)

// APIVersion is the version of the API GetInfo reports (API-01).
const APIVersion = "1.0.0-alpha"

// Server implements apiproto.PublicAPIServer over one data directory.
type Server struct {
	apiproto.UnimplementedPublicAPIServer

	root      dirs.Root
	store     *store.Store
	flags     *apiproto.GlobalFlags
	manifests manifestCache
	// Log receives the problems met reading single pods and images, which
	// do not fail a call. Nil discards them.
	Log io.Writer
}

// New returns a Server reading the data directory root; flags are
// reported by GetInfo.
func New(root dirs.Root, flags *apiproto.GlobalFlags) *Server {
	if flags == nil {
		flags = &apiproto.GlobalFlags{}
	}
	if flags.Dir == "" {
		flags.Dir = root.Path()
	}
	return &Server{root: root, store: store.OpenReadOnly(root), flags: flags}
}

func (s *Server) logf(format string, a ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, "rkt: api-service: "+format+"\n", a...)
	}
}

// GetInfo reports the versions and the global flags of the service.
func (s *Server) GetInfo(context.Context, *apiproto.GetInfoRequest) (*apiproto.GetInfoResponse, error) {
	return &apiproto.GetInfoResponse{Info: &apiproto.Info{
		RktVersion:  buildinfo.Version,
		AppcVersion: buildinfo.AppcVersion,
		ApiVersion:  APIVersion,
		GlobalFlags: s.flags,
	}}, nil
}

// ListPods lists the pods matching any of the filters (all without
// filters). Pods are in UUID order.
func (s *Server) ListPods(ctx context.Context, req *apiproto.ListPodsRequest) (*apiproto.ListPodsResponse, error) {
	all, errs := pod.All(s.root)
	for _, err := range errs {
		s.logf("%v", err)
	}
	resp := &apiproto.ListPodsResponse{}
	live := make(map[string]bool, len(all))
	defer s.manifests.keep(live)
	for _, p := range all {
		live[p.UUID] = true
		if err := ctx.Err(); err != nil {
			return nil, status.FromContextError(err).Err()
		}
		if p.Place == pod.Garbage {
			continue // as rkt: never-run pods marked by gc are gone
		}
		ap, err := s.readPod(p, req.GetDetail())
		if err != nil {
			if !vanished(err) {
				s.logf("%v", err)
			}
			continue
		}
		if matchPod(ap, req.GetFilters()) {
			if !req.GetDetail() {
				ap.Manifest = nil
			}
			resp.Pods = append(resp.Pods, ap)
		}
	}
	return resp, nil
}

// InspectPod returns one pod in detail. The id may be a unique prefix of
// the UUID, as on the command line.
func (s *Server) InspectPod(_ context.Context, req *apiproto.InspectPodRequest) (*apiproto.InspectPodResponse, error) {
	if strings.TrimSpace(req.GetId()) == "" {
		return nil, status.Error(codes.InvalidArgument, "no pod id given")
	}
	p, err := pod.Lookup(s.root, req.GetId())
	switch {
	case errors.Is(err, pod.ErrAmbiguous):
		return nil, status.Errorf(codes.InvalidArgument, "pod %q: %v", req.GetId(), err)
	case errors.Is(err, pod.ErrNoMatch), errors.Is(err, pod.ErrNotFound), errors.Is(err, pod.ErrInvalidUUID):
		return nil, status.Errorf(codes.NotFound, "pod %q not found", req.GetId())
	case err != nil:
		return nil, status.Errorf(codes.Internal, "pod %q: %v", req.GetId(), err)
	}
	ap, err := s.readPod(p, true)
	if vanished(err) {
		return nil, status.Errorf(codes.NotFound, "pod %q not found", req.GetId())
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return &apiproto.InspectPodResponse{Pod: ap}, nil
}

// ListenEvents is not implemented, as in rkt.
func (s *Server) ListenEvents(*apiproto.ListenEventsRequest, apiproto.PublicAPI_ListenEventsServer) error {
	return status.Error(codes.Unimplemented, "ListenEvents is not implemented yet (as in rkt)")
}

// vanished reports whether err means that what was being read has been
// removed (or moved on by gc) meanwhile.
func vanished(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, pod.ErrNotFound) || errors.Is(err, store.ErrNotFound)
}
