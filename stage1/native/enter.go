package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/rkt/rkt/common/stage1abi"
	"github.com/rkt/rkt/stage1/native/supervisor"
)

// Enter is the `enter` entrypoint: it asks the pod supervisor, over the
// enter socket in the pod directory, to run the command inside the app
// with the app's user, groups, environment and working directory, and
// exits with the command's status. The terminal's signals stop the
// command: closing the connection makes the supervisor kill it.
func Enter(args []string) int {
	l := newLogger(false)
	ea, err := stage1abi.ParseEnterArgs(args)
	if err != nil {
		return l.Fail(err)
	}
	if len(ea.Command) == 0 {
		return l.Fail(errors.New("enter: no command given"))
	}
	dir, err := os.Getwd()
	if err != nil {
		return l.Fail(fmt.Errorf("pod directory: %w", err))
	}
	signal.Ignore(unix.SIGPIPE)
	rep, err := enter(dir, &supervisor.EnterRequest{App: ea.AppName, Argv: ea.Command}, [3]int{0, 1, 2})
	if err != nil {
		return l.Fail(fmt.Errorf("enter: %w", err))
	}
	if rep.Error != "" {
		return l.Fail(fmt.Errorf("enter: %s", rep.Error))
	}
	return rep.Status
}

// enter sends req with the fds to the supervisor of the pod in dir and
// waits for its reply.
func enter(dir string, req *supervisor.EnterRequest, fds [3]int) (*supervisor.EnterReply, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: relSocket(dir)}); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, errors.New("the pod is not running (no supervisor listening)")
		}
		return nil, fmt.Errorf("connect to the pod supervisor: %w", err)
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if err := unix.Sendmsg(fd, data, unix.UnixRights(fds[:]...), nil, 0); err != nil {
		return nil, fmt.Errorf("send the request: %w", err)
	}
	buf := make([]byte, 64*1024)
	for {
		n, _, _, _, err := unix.Recvmsg(fd, buf, nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the reply: %w", err)
		}
		if n == 0 {
			return nil, errors.New("the pod supervisor closed the connection")
		}
		rep := &supervisor.EnterReply{}
		if err := json.Unmarshal(buf[:n], rep); err != nil {
			return nil, fmt.Errorf("bad reply: %w", err)
		}
		return rep, nil
	}
}

// socketPath is the enter socket of the pod in dir.
func socketPath(dir string) string { return filepath.Join(dir, supervisor.EnterSocket) }
