package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rkt/rkt/stage1/native/netspec"
	"github.com/rkt/rkt/stage1/stage1log"
)

// Timeout bounds the CNI plugins' work of one helper run.
const Timeout = 60 * time.Second

// Main is the stage1 network helper (/net in the native stage1 image):
// it reads a netspec.HelperRequest from stdin, sets the pod's networks
// up or tears them down, and writes a netspec.HelperReply to stdout. It
// exits 0 when it did what was asked, 1 when the reply holds an error,
// and 254 when it could not even read the request or write the reply.
func Main(stdin io.Reader, stdout io.Writer) int {
	var req netspec.HelperRequest
	if err := json.NewDecoder(stdin).Decode(&req); err != nil {
		return stage1log.New(false).Fail(fmt.Errorf("network helper: reading the request: %w", err))
	}
	l := stage1log.New(req.Debug)
	reply, err := serve(req, l)
	status := 0
	if err != nil {
		reply.Error = err.Error()
		status = 1
	}
	if err := json.NewEncoder(stdout).Encode(reply); err != nil {
		return l.Fail(fmt.Errorf("network helper: writing the reply: %w", err))
	}
	return status
}

// serve does what req asks, with the plugins found next to the helper.
func serve(req netspec.HelperRequest, l *stage1log.Logger) (netspec.HelperReply, error) {
	var reply netspec.HelperReply
	exe, err := os.Executable()
	if err != nil {
		return reply, fmt.Errorf("network helper: %w", err)
	}
	o := Options{
		PodDir:      req.PodDir,
		UUID:        req.UUID,
		LocalConfig: req.LocalConfig,
		PluginDirs:  PluginDirs(req.LocalConfig, filepath.Dir(exe)),
		Warnf:       l.Warnf,
		Debugf:      l.Debugf,
		Ports:       req.Ports,
	}
	nsPath := ""
	if req.Netns {
		// The helper's own view of the inherited descriptor: a path
		// the plugins it runs can open.
		nsPath = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), netspec.NetnsFD)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	switch req.Op {
	case netspec.OpSetup:
		if nsPath == "" {
			return reply, errors.New("network setup without a network namespace")
		}
		res, err := Setup(ctx, o, req.Nets, nsPath)
		if err != nil {
			return reply, err
		}
		if len(res.Nets) > 0 {
			reply.IP = res.Nets[0].IP
		}
		if res.Gateway != nil {
			reply.Gateway = res.Gateway.String()
		}
		reply.DNS = res.DNS
		return reply, nil
	case netspec.OpTeardown:
		return reply, Teardown(ctx, o, nsPath)
	}
	return reply, fmt.Errorf("network helper: unknown operation %q", req.Op)
}
