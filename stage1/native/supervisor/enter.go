package supervisor

import (
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/stage1/podproc"
	"github.com/rkt/rkt/stage1/stage2app"
)

// EnterSocket is the unix socket, in the pod directory, on which the
// supervisor serves `enter` requests.
const EnterSocket = "enter.sock"

// EnterRequest is what `enter` sends the supervisor, with its stdin,
// stdout and stderr attached (SCM_RIGHTS).
type EnterRequest struct {
	App  string   `json:"app"`
	Argv []string `json:"argv"`
}

// EnterReply is the supervisor's answer: the command's exit status, or
// why it could not run.
type EnterReply struct {
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

// MaxMessage bounds an enter request or reply.
const MaxMessage = 1 << 20

// serveEnter accepts enter requests on the listening socket f until the
// supervisor exits.
func (s *supervisor) serveEnter(f *os.File) {
	lfd := int(f.Fd())
	for {
		nfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			s.log.Warnf("enter socket: %v", err)
			return
		}
		go s.handleEnter(nfd)
	}
}

func reply(fd int, rep *EnterReply) {
	data, _ := json.Marshal(rep)
	_ = unix.Sendmsg(fd, data, nil, nil, 0)
}

// handleEnter runs one enter request.
func (s *supervisor) handleEnter(fd int) {
	defer func() {
		_ = unix.Shutdown(fd, unix.SHUT_RDWR) // wakes the hang-up watcher
		unix.Close(fd)
	}()
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil || cred.Uid != 0 {
		reply(fd, &EnterReply{Error: "permission denied: only root may enter a pod"})
		return
	}
	buf := make([]byte, MaxMessage)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil || n == 0 {
		return
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, c := range cmsgs {
			if fds, err := unix.ParseUnixRights(&c); err == nil {
				for _, x := range fds {
					files = append(files, os.NewFile(uintptr(x), "enter-stdio"))
				}
			}
		}
	}
	req := &EnterRequest{}
	if err := json.Unmarshal(buf[:n], req); err != nil {
		reply(fd, &EnterReply{Error: "bad request: " + err.Error()})
		return
	}
	if len(files) != 3 {
		reply(fd, &EnterReply{Error: "bad request: want stdin, stdout and stderr"})
		return
	}
	rep := s.runEntered(fd, req, files)
	reply(fd, rep)
}

// runEntered starts the command of req in its app with the app's
// credentials, environment and working directory (never more privilege
// than the app has), and waits for it. When the client goes away first,
// the command is killed.
func (s *supervisor) runEntered(fd int, req *EnterRequest, files []*os.File) *EnterReply {
	if len(req.Argv) == 0 {
		return &EnterReply{Error: "no command given"}
	}
	a, err := s.pod.FindApp(req.App)
	if err != nil {
		return &EnterReply{Error: err.Error()}
	}
	var ap *appProc
	for _, x := range s.apps {
		if x.app == a {
			ap = x
		}
	}
	if ap == nil {
		return &EnterReply{Error: fmt.Sprintf("app %q is not running", a.Name())}
	}
	bin, err := stage2app.LookPath(ap.rootfs, req.Argv[0], envLookup(ap.env, "PATH"), ap.wd)
	if err != nil {
		return &EnterReply{Error: err.Error()}
	}
	cfg, err := s.execConfig(ap, bin, req.Argv, ap.wd)
	var pid int
	var ch chan unix.WaitStatus
	if err == nil {
		// In a session of its own (its terminal, if any, the caller's).
		cfg.Setpgid, cfg.Setsid = false, true
		pid, ch, err = s.startCfg(ap, cfg, files)
	}
	if err != nil {
		return &EnterReply{Error: fmt.Sprintf("execute %q in app %q: %v", bin, a.Name(), err)}
	}
	s.log.Debugf("entered app %q: pid %d runs %q", a.Name(), pid, req.Argv)
	for _, f := range files {
		f.Close()
	}
	hup := make(chan struct{})
	go func() {
		// The client sends nothing more: a read returns when it is gone.
		b := make([]byte, 1)
		for {
			n, _, err := unix.Recvfrom(fd, b, 0)
			if err == unix.EINTR {
				continue
			}
			if n == 0 || err != nil {
				close(hup)
				return
			}
		}
	}()
	for {
		select {
		case ws := <-ch:
			return &EnterReply{Status: podproc.WaitExitStatus(ws)}
		case <-hup:
			_ = unix.Kill(pid, unix.SIGKILL)
			hup = nil
		}
	}
}
