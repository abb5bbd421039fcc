package native

import (
	"errors"

	"github.com/google/uuid"

	"github.com/rkt/rkt/stage1/native/machined"
	"github.com/rkt/rkt/stage1/native/supervisor"
)

// registerMachine registers the pod with systemd-machined, as rkt did,
// when the host runs systemd and machined answers: name "rkt-<uuid>",
// class container, the supervisor (host pid) as leader. Anywhere else it
// does nothing and says so only with --debug. It returns the
// unregistration, for when the pod ends.
func registerMachine(p *supervisor.Pod, podUUID string, pid int, l *logger) func() {
	none := func() {}
	conn, err := machined.SystemBus("/run")
	if err != nil {
		l.Debugf("not registering with systemd-machined: %v", err)
		return none
	}
	id, err := uuid.Parse(podUUID)
	if err != nil {
		conn.Close()
		l.Warnf("not registering with systemd-machined: pod UUID: %v", err)
		return none
	}
	m := machined.Machine{Name: "rkt-" + podUUID, ID: id, Service: "rkt", Class: "container",
		Leader: uint32(pid), RootDirectory: p.Stage1Path()}
	if err := machined.Register(conn, m); err != nil {
		conn.Close()
		if errors.Is(err, machined.ErrNotAvailable) {
			l.Debugf("not registering with systemd-machined: %v", err)
		} else {
			l.Warnf("%v", err)
		}
		return none
	}
	l.Debugf("registered with systemd-machined as %s", m.Name)
	return func() {
		if err := machined.Unregister(conn, m.Name); err != nil {
			l.Debugf("%v", err)
		}
		conn.Close()
	}
}
