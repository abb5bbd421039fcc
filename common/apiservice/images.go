package apiservice

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/appc/spec/schema"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rkt/rkt/common/apiproto"
	"github.com/rkt/rkt/common/buildinfo"
	"github.com/rkt/rkt/common/store"
)

// imageInfo reads the info of the image with the full ID id.
func (s *Server) imageInfo(id string) (*store.ImageInfo, error) {
	key, err := store.KeyOf(id)
	if err != nil {
		return nil, err
	}
	return s.store.Info(key)
}

// imageFromManifest builds the API image of a JSON image manifest.
func imageFromManifest(id string, data []byte) (*apiproto.Image, error) {
	var m schema.ImageManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("image %s: invalid manifest: %w", id, err)
	}
	img := &apiproto.Image{
		BaseFormat: &apiproto.ImageFormat{Type: apiproto.ImageType_IMAGE_TYPE_APPC, Version: buildinfo.AppcVersion},
		Id:         id,
		Name:       m.Name.String(),
		Version:    "latest", // as rkt, for an image without a version label
		Manifest:   data,
	}
	if v, ok := m.Labels.Get("version"); ok {
		img.Version = v
	}
	for _, l := range m.Labels {
		img.Labels = append(img.Labels, &apiproto.KeyValue{Key: l.Name.String(), Value: l.Value})
	}
	img.Annotations = keyValues(m.Annotations)
	return img, nil
}

// readImage builds the API image stored under key.
func (s *Server) readImage(key string) (*apiproto.Image, error) {
	info, err := s.store.Info(key)
	if err != nil {
		return nil, err
	}
	data, err := s.store.Manifest(key)
	if err != nil {
		return nil, err
	}
	img, err := imageFromManifest(info.ID, data)
	if err != nil {
		return nil, err
	}
	img.ImportTimestamp = info.ImportTime.Unix()
	img.Size = info.Size + info.TreeSize
	return img, nil
}

// ListImages lists the images matching any of the filters (all without
// filters), by import time then ID. Manifests only come with detail.
func (s *Server) ListImages(ctx context.Context, req *apiproto.ListImagesRequest) (*apiproto.ListImagesResponse, error) {
	keys, err := s.store.Keys()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "listing images: %v", err)
	}
	resp := &apiproto.ListImagesResponse{}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, status.FromContextError(err).Err()
		}
		img, err := s.readImage(k)
		if err != nil {
			if !vanished(err) {
				s.logf("%v", err)
			}
			continue
		}
		if !matchImage(img, req.GetFilters()) {
			continue
		}
		if !req.GetDetail() {
			img.Manifest = nil
		}
		resp.Images = append(resp.Images, img)
	}
	sort.SliceStable(resp.Images, func(i, j int) bool {
		a, b := resp.Images[i], resp.Images[j]
		if a.ImportTimestamp != b.ImportTimestamp {
			return a.ImportTimestamp < b.ImportTimestamp
		}
		return a.Id < b.Id
	})
	return resp, nil
}

// InspectImage returns one image with its manifest. The id may be a
// unique prefix of the image ID ("sha512-" and at least one hex digit).
func (s *Server) InspectImage(_ context.Context, req *apiproto.InspectImageRequest) (*apiproto.InspectImageResponse, error) {
	id := strings.TrimSpace(req.GetId())
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "no image id given")
	}
	key, err := store.KeyOf(id)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "image id %q: %v", id, err)
	}
	if _, err := s.store.Info(key); err != nil {
		keys, err := s.store.Keys()
		if err != nil {
			return nil, status.Errorf(codes.Internal, "listing images: %v", err)
		}
		var match []string
		for _, k := range keys {
			if strings.HasPrefix(k, key) {
				match = append(match, k)
			}
		}
		switch len(match) {
		case 0:
			return nil, status.Errorf(codes.NotFound, "image %q not found", id)
		case 1:
			key = match[0]
		default:
			return nil, status.Errorf(codes.InvalidArgument, "image id %q matches %d images", id, len(match))
		}
	}
	img, err := s.readImage(key)
	if vanished(err) {
		return nil, status.Errorf(codes.NotFound, "image %q not found", id)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if !strings.HasPrefix(img.Id, strings.ToLower(id)) {
		return nil, status.Errorf(codes.NotFound, "image %q not found", id)
	}
	return &apiproto.InspectImageResponse{Image: img}, nil
}

func matchImage(img *apiproto.Image, filters []*apiproto.ImageFilter) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if imageFilter(img, f) {
			return true
		}
	}
	return false
}

// imageFilter: every criterion given must hold (rkt's
// satisfiesImageFilter): ids, full names, prefixes, base names and
// keywords match any of their values, labels and annotations all;
// imported_after/before are exclusive bounds in seconds.
func imageFilter(img *apiproto.Image, f *apiproto.ImageFilter) bool {
	if len(f.GetIds()) > 0 && !contains(f.GetIds(), img.Id) {
		return false
	}
	if len(f.GetFullNames()) > 0 && !contains(f.GetFullNames(), img.Name) {
		return false
	}
	if len(f.GetPrefixes()) > 0 && !anyOf(f.GetPrefixes(), func(p string) bool { return strings.HasPrefix(img.Name, p) }) {
		return false
	}
	if len(f.GetBaseNames()) > 0 && !contains(f.GetBaseNames(), path.Base(img.Name)) {
		return false
	}
	if len(f.GetKeywords()) > 0 && !anyOf(f.GetKeywords(), func(k string) bool { return strings.Contains(img.Name, k) }) {
		return false
	}
	if f.GetImportedAfter() > 0 && img.ImportTimestamp <= f.GetImportedAfter() {
		return false
	}
	if f.GetImportedBefore() > 0 && img.ImportTimestamp >= f.GetImportedBefore() {
		return false
	}
	return hasKeyValues(img.Labels, f.GetLabels()) && hasKeyValues(img.Annotations, f.GetAnnotations())
}

func anyOf(list []string, pred func(string) bool) bool {
	for _, x := range list {
		if pred(x) {
			return true
		}
	}
	return false
}
