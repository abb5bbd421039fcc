// Package mds is the metadata service (reference §8, MDS-01..05): a
// registration API on a unix socket, where the stage1 registers a pod and
// its apps, and the public ACE metadata API on TCP, where the apps read
// their pod's metadata with the token of $AC_METADATA_URL.
package mds

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/appc/spec/schema"
	"github.com/appc/spec/schema/types"
)

// Content types of the public API (appc spec, ace.md).
const (
	contentJSON = "application/json"
	contentText = "text/plain; charset=us-ascii"
)

// maxBody bounds a registration or form body.
const maxBody = 4 << 20

type podInfo struct {
	uuid     types.UUID
	token    string
	ip       net.IP // nil: not checked
	manifest *schema.PodManifest
	images   map[string]*schema.ImageManifest
}

// Service is the in-memory state and the HMAC key of one service start.
type Service struct {
	mu     sync.RWMutex
	byUUID map[string]*podInfo
	byTok  map[string]*podInfo
	key    []byte
}

// New returns a service with a fresh 512-bit HMAC key.
func New() (*Service, error) {
	key := make([]byte, 64)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("HMAC key: %w", err)
	}
	return &Service{byUUID: map[string]*podInfo{}, byTok: map[string]*podInfo{}, key: key}, nil
}

// Logged wraps h so that each request is logged as `METHOD URI - status`.
func Logged(h http.Handler, logf func(format string, a ...any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		logf("%s %s - %d", r.Method, r.RequestURI, sw.code)
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// RegistrationHandler serves the registration API (MDS-02):
// PUT /pods/<uuid>?token=T[&ip=IP], PUT /pods/<uuid>/<app>, DELETE /pods/<uuid>.
func (s *Service) RegistrationHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] != "pods" {
			http.NotFound(w, r)
			return
		}
		uuid, err := types.NewUUID(parts[1])
		if err != nil {
			http.Error(w, "bad pod UUID: "+err.Error(), http.StatusBadRequest)
			return
		}
		switch {
		case len(parts) == 2 && r.Method == http.MethodPut:
			s.registerPod(w, r, *uuid)
		case len(parts) == 2 && r.Method == http.MethodDelete:
			s.unregisterPod(w, *uuid)
		case len(parts) == 3 && r.Method == http.MethodPut:
			s.registerApp(w, r, *uuid, parts[2])
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

func (s *Service) registerPod(w http.ResponseWriter, r *http.Request, uuid types.UUID) {
	token := r.URL.Query().Get("token")
	if token == "" {
		http.Error(w, "missing token", http.StatusBadRequest)
		return
	}
	var ip net.IP
	if v := r.URL.Query().Get("ip"); v != "" {
		if ip = net.ParseIP(v); ip == nil {
			http.Error(w, "bad ip", http.StatusBadRequest)
			return
		}
	}
	pm := &schema.PodManifest{}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(pm); err != nil {
		http.Error(w, "bad pod manifest: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.byTok[token]; ok && other.uuid != uuid {
		http.Error(w, "token in use", http.StatusConflict)
		return
	}
	if old, ok := s.byUUID[uuid.String()]; ok {
		delete(s.byTok, old.token)
	}
	p := &podInfo{uuid: uuid, token: token, ip: ip, manifest: pm, images: map[string]*schema.ImageManifest{}}
	s.byUUID[uuid.String()] = p
	s.byTok[token] = p
	w.WriteHeader(http.StatusOK)
}

func (s *Service) unregisterPod(w http.ResponseWriter, uuid types.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byUUID[uuid.String()]
	if !ok {
		http.Error(w, "pod not registered", http.StatusNotFound)
		return
	}
	delete(s.byUUID, uuid.String())
	delete(s.byTok, p.token)
	w.WriteHeader(http.StatusOK)
}

func (s *Service) registerApp(w http.ResponseWriter, r *http.Request, uuid types.UUID, app string) {
	if _, err := types.NewACName(app); err != nil {
		http.Error(w, "bad app name: "+err.Error(), http.StatusBadRequest)
		return
	}
	im := &schema.ImageManifest{}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(im); err != nil {
		http.Error(w, "bad image manifest: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byUUID[uuid.String()]
	if !ok {
		http.Error(w, "pod not registered", http.StatusNotFound)
		return
	}
	p.images[app] = im
	w.WriteHeader(http.StatusOK)
}

// PublicHandler serves the ACE metadata API (MDS-04, MDS-05) under
// /<token>/acMetadata/v1.
func (s *Service) PublicHandler() http.Handler {
	return http.HandlerFunc(s.servePublic)
}

func (s *Service) servePublic(w http.ResponseWriter, r *http.Request) {
	token, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	s.mu.RLock()
	p, ok := s.byTok[token]
	s.mu.RUnlock()
	if token == "" || !ok {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if p.ip != nil {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !net.ParseIP(host).Equal(p.ip) {
			http.Error(w, "forbidden: request not from the pod's address", http.StatusForbidden)
			return
		}
	}
	const base = "acMetadata/v1/"
	if !strings.HasPrefix(rest, base) {
		http.NotFound(w, r)
		return
	}
	path := strings.Split(strings.TrimPrefix(rest, base), "/")
	for i, p := range path {
		var err error
		if path[i], err = url.PathUnescape(p); err != nil {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
	}
	if len(path) == 3 && path[0] == "pod" && path[1] == "hmac" {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch path[2] {
		case "sign":
			s.sign(w, r, p)
		case "verify":
			s.verify(w, r)
		default:
			http.NotFound(w, r)
		}
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	pm := p.manifest
	switch {
	case len(path) == 2 && path[0] == "pod" && path[1] == "annotations":
		writeJSON(w, pm.Annotations)
	case len(path) >= 3 && path[0] == "pod" && path[1] == "annotations":
		// An annotation name may hold "/", escaped or not.
		writeAnnotation(w, r, pm.Annotations, strings.Join(path[2:], "/"))
	case len(path) == 2 && path[0] == "pod" && path[1] == "manifest":
		writeJSON(w, pm)
	case len(path) == 2 && path[0] == "pod" && path[1] == "uuid":
		writeText(w, p.uuid.String())
	case len(path) >= 3 && path[0] == "apps":
		ra := pm.Apps.Get(types.ACName(path[1]))
		im := p.images[path[1]]
		if ra == nil || im == nil {
			http.Error(w, "no such app", http.StatusNotFound)
			return
		}
		sub := strings.Join(path[2:], "/")
		switch {
		case sub == "annotations":
			writeJSON(w, appAnnotations(ra, im))
		case len(path) >= 4 && path[2] == "annotations":
			writeAnnotation(w, r, appAnnotations(ra, im), strings.Join(path[3:], "/"))
		case sub == "image/manifest":
			writeJSON(w, im)
		case sub == "image/id":
			writeText(w, ra.Image.ID.String())
		default:
			http.NotFound(w, r)
		}
	default:
		http.NotFound(w, r)
	}
}

// appAnnotations are the image's annotations with the pod manifest's
// app annotations merged over them.
func appAnnotations(ra *schema.RuntimeApp, im *schema.ImageManifest) types.Annotations {
	out := append(types.Annotations(nil), im.Annotations...)
	for _, a := range ra.Annotations {
		out.Set(a.Name, a.Value)
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentJSON)
	_, _ = w.Write(b)
}

func writeText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", contentText)
	_, _ = io.WriteString(w, s)
}

func writeAnnotation(w http.ResponseWriter, r *http.Request, as types.Annotations, name string) {
	n, err := types.NewACIdentifier(name)
	if err != nil {
		http.Error(w, "bad annotation name", http.StatusBadRequest)
		return
	}
	v, ok := as.Get(n.String())
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeText(w, v)
}

// mac is HMAC-SHA512(key, uuid bytes ‖ content).
func (s *Service) mac(uuid types.UUID, content string) []byte {
	h := hmac.New(sha512.New, s.key)
	h.Write(uuid[:])
	h.Write([]byte(content))
	return h.Sum(nil)
}

func (s *Service) sign(w http.ResponseWriter, r *http.Request, p *podInfo) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	content, ok := r.PostForm["content"]
	if !ok || len(content) != 1 {
		http.Error(w, "content= is required", http.StatusBadRequest)
		return
	}
	writeText(w, base64.StdEncoding.EncodeToString(s.mac(p.uuid, content[0])))
}

func (s *Service) verify(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	uuid, err := types.NewUUID(r.PostForm.Get("uuid"))
	if err != nil {
		http.Error(w, "bad uuid", http.StatusBadRequest)
		return
	}
	sig, err := base64.StdEncoding.DecodeString(r.PostForm.Get("signature"))
	if err != nil || len(sig) == 0 {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	content, ok := r.PostForm["content"]
	if !ok || len(content) != 1 {
		http.Error(w, "content= is required", http.StatusBadRequest)
		return
	}
	if !hmac.Equal(sig, s.mac(*uuid, content[0])) {
		w.Header().Set("Content-Type", contentText)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", contentText)
	w.WriteHeader(http.StatusOK)
}
