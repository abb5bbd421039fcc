package apiservice

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/rkt/rkt/common/apiproto"
	"github.com/rkt/rkt/common/cli"
)

// DefaultListen is the address served without --listen (API-01).
const DefaultListen = "localhost:15441"

// stopGrace is how long a graceful stop waits for calls in flight.
const stopGrace = 5 * time.Second

// Command returns the `rkt api-service` command.
func Command() *cli.Command {
	var listen string
	return &cli.Command{
		Name:    "api-service",
		Summary: "Run API service (experimental)",
		Usage:   "[--listen=ADDRESS]",
		Description: `Serves rkt's read-only v1alpha gRPC API (service v1alpha.PublicAPI) on
ADDRESS, without TLS, until SIGINT or SIGTERM. Started by systemd socket
activation it serves the socket it is given instead (then --listen may
not be used). It reads the data directory and changes nothing on disk.`,
		Flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&listen, "listen", DefaultListen, "address to listen for client API requests")
		},
		Run: func(env *cli.Env, args []string) error {
			if len(args) != 0 {
				return cli.Usagef("api-service takes no arguments")
			}
			root, err := env.DataDir()
			if err != nil {
				return err
			}
			g := env.Globals
			srv := New(root, &apiproto.GlobalFlags{
				Dir:                root.Path(),
				SystemConfigDir:    g.SystemConfig,
				LocalConfigDir:     g.LocalConfig,
				UserConfigDir:      g.UserConfig,
				InsecureFlags:      g.Insecure.String(),
				TrustKeysFromHttps: g.TrustKeysFromHTTPS,
			})
			srv.Log = env.Stderr
			l, err := activated()
			if err != nil {
				return err
			}
			if l != nil && env.Flags.Changed("listen") {
				l.Close()
				return cli.Usagef("--listen cannot be used with socket activation")
			}
			if l == nil {
				if l, err = net.Listen("tcp", listen); err != nil {
					return fmt.Errorf("api-service: %w", err)
				}
			}
			return serve(env, srv, l)
		},
	}
}

// activated returns the socket systemd passed (LISTEN_FDS), if any.
func activated() (net.Listener, error) {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		return nil, nil
	}
	if n > 1 {
		return nil, fmt.Errorf("api-service: socket activation passed %d sockets, want 1", n)
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	f := os.NewFile(3, "LISTEN_FD_3")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("api-service: activation socket: %w", err)
	}
	return l, nil
}

// serve answers on l until SIGINT or SIGTERM, then stops gracefully:
// calls in flight may finish for stopGrace.
func serve(env *cli.Env, srv *Server, l net.Listener) error {
	gs := grpc.NewServer()
	apiproto.RegisterPublicAPIServer(gs, srv)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(l) }()
	fmt.Fprintf(env.Stderr, "rkt: api-service: listening on %s\n", l.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("api-service: %w", err)
	case sig := <-sigs:
		env.Debugf("api-service: %v, stopping", sig)
	}
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopGrace):
		gs.Stop()
	}
	<-errc
	return nil
}
