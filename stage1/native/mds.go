package native

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rkt/rkt/common/mdsclient"
	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/native/supervisor"
)

// registerMDS registers the pod and its apps with the metadata service
// (reference MDS-03), now that its network gave it an address, and
// writes <pod>/mds-registered holding the AC_METADATA_URL of its apps:
// the host as the pod reaches it (its network's gateway), port 18112.
func registerMDS(p *supervisor.Pod, ra *stage1abi.RunArgs, n *podNetns, l *logger) error {
	if n == nil || n.gw == nil {
		return fmt.Errorf("--mds-token: the metadata service needs a pod network with a gateway (--net=%s)", ra.Net)
	}
	// The manifests as written: the service serves them whole.
	manifest := p.Manifest.Raw
	var apps []mdsclient.App
	for _, a := range p.Apps {
		if a.Image == nil {
			continue
		}
		apps = append(apps, mdsclient.App{Name: a.Name(), ImageManifest: a.Image.Raw})
	}
	c := &mdsclient.Client{Attempts: 3, Delay: time.Second}
	if err := c.RegisterPod(ra.UUID, ra.MDSToken, n.ip, manifest, apps); err != nil {
		if strings.Contains(err.Error(), mdsclient.ErrUnreachable.Error()) {
			return err
		}
		return fmt.Errorf("%v: %w", mdsclient.ErrUnreachable, err)
	}
	url := "http://" + n.gw.String() + ":" + strconv.Itoa(mdsclient.DefaultPort) + "/" + ra.MDSToken
	if err := os.WriteFile(filepath.Join(p.Dir, mdsclient.RegisteredFile), []byte(url+"\n"), 0o600); err != nil {
		_ = c.Unregister(ra.UUID)
		return fmt.Errorf("write %s: %w", mdsclient.RegisteredFile, err)
	}
	l.Debugf("registered with the metadata service: pod ip %s", n.ip)
	return nil
}

// unregisterMDS removes the pod from the metadata service when it
// exited, and then <pod>/mds-registered (else `rkt gc` tries again).
func unregisterMDS(p *supervisor.Pod, uuid string, l *logger) {
	c := &mdsclient.Client{}
	if err := c.Unregister(uuid); err != nil && !errors.Is(err, mdsclient.ErrNotRegistered) {
		l.Warnf("unregister from the metadata service: %v", err)
		return
	}
	_ = os.Remove(filepath.Join(p.Dir, mdsclient.RegisteredFile))
}
