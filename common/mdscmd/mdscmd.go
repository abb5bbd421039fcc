// Package mdscmd is `rkt metadata-service` (reference MDS-01): the
// registration API on a unix socket (or the socket systemd passes) and
// the public ACE metadata API on TCP4, until SIGINT or SIGTERM.
package mdscmd

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/rkt/rkt/common/cli"
	"github.com/rkt/rkt/common/mds"
	"github.com/rkt/rkt/common/mdsclient"
)

// Command returns the `rkt metadata-service` command.
func Command() *cli.Command {
	var port int
	var socket string
	return &cli.Command{
		Name:    "metadata-service",
		Summary: "Run the metadata service",
		Usage:   "[--listen-port=18112]",
		Description: `Serves the appc metadata of the pods started with --mds-register:
the registration API on the unix socket ` + mdsclient.SocketPath + ` (or the
socket passed by systemd socket activation) and the public API, under
/<token>/acMetadata/v1, on TCP port --listen-port of all IPv4 addresses.
Runs until SIGINT or SIGTERM. The state is in memory only.`,
		NeedsRoot: true,
		Flags: func(fs *pflag.FlagSet) {
			fs.IntVar(&port, "listen-port", mdsclient.DefaultPort, "TCP port of the public API")
			fs.StringVar(&socket, "socket", mdsclient.SocketPath, "")
			_ = fs.MarkHidden("socket")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 0 {
				return cli.Usagef("metadata-service takes no arguments")
			}
			if port <= 0 || port > 65535 {
				return cli.Usagef("invalid --listen-port %d", port)
			}
			return serve(env, socket, port)
		},
	}
}

// activated returns the sockets systemd passed (LISTEN_FDS): fd 3 is the
// registration socket, fd 4, if passed, the public TCP socket.
func activated() ([]net.Listener, error) {
	if os.Getenv("LISTEN_PID") != "" && os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		return nil, nil
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	var out []net.Listener
	for fd := 3; fd < 3+min(n, 2); fd++ {
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "LISTEN_FD_"+strconv.Itoa(fd))
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("socket activation: fd %d: %w", fd, err)
		}
		out = append(out, l)
	}
	return out, nil
}

func serve(env *cli.Env, socket string, port int) error {
	svc, err := mds.New()
	if err != nil {
		return err
	}
	logger := log.New(env.Stderr, "", log.LstdFlags)
	fds, err := activated()
	if err != nil {
		return err
	}
	var reg, pub net.Listener
	if len(fds) > 0 {
		reg = fds[0]
	}
	if len(fds) > 1 {
		pub = fds[1]
	}
	if reg == nil {
		if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(socket), err)
		}
		if err := os.Chmod(filepath.Dir(socket), 0o755); err != nil {
			return err
		}
		// A socket left by a service that died: nobody answers on it.
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			return fmt.Errorf("%s: another metadata service is running", socket)
		}
		_ = os.Remove(socket)
		ul, err := net.Listen("unix", socket)
		if err != nil {
			return fmt.Errorf("registration socket: %w", err)
		}
		ul.(*net.UnixListener).SetUnlinkOnClose(true)
		if err := os.Chmod(socket, 0o660); err != nil {
			ul.Close()
			return err
		}
		reg = ul
		logger.Printf("registration API listening on %s", socket)
	} else {
		logger.Printf("registration API on the socket-activated fd 3")
	}
	if pub == nil {
		if pub, err = net.Listen("tcp4", ":"+strconv.Itoa(port)); err != nil {
			reg.Close()
			return fmt.Errorf("public API: %w", err)
		}
	}
	logger.Printf("public API listening on %s", pub.Addr())
	servers := []*http.Server{
		{Handler: mds.Logged(svc.RegistrationHandler(), logger.Printf), ReadHeaderTimeout: 10 * time.Second},
		{Handler: mds.Logged(svc.PublicHandler(), logger.Printf), ReadHeaderTimeout: 10 * time.Second},
	}
	errs := make(chan error, 2)
	for i, l := range []net.Listener{reg, pub} {
		go func() { errs <- servers[i].Serve(l) }()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var serr error
	select {
	case s := <-sigs:
		logger.Printf("%v: stopping", s)
	case serr = <-errs:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(ctx)
	}
	if serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return nil
}
