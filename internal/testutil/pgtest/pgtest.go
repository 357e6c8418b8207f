// Package pgtest starts a throwaway PostgreSQL server from the system's binaries for tests, with one
// isolated database per test.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinEnv names the environment variable that points at the directory holding initdb and postgres.
const BinEnv = "CRMSYNC_PG_BIN"

// notFound is the message a machine without PostgreSQL gets. Tests fail with it; they never skip.
const notFound = "PostgreSQL server binaries not found: install them with `apt-get install postgresql` (Debian) " +
	"or set " + BinEnv + " to the directory holding initdb and postgres"

// Server is one running PostgreSQL server in a temporary directory, listening on 127.0.0.1 and on a unix
// socket inside that directory. It trusts every local connection: it is for tests only.
type Server struct {
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
	log    string

	stopOnce sync.Once
	stopErr  error
}

// StartServer initialises a new cluster in a temporary directory and starts it. As root it runs the server
// as the `postgres` OS user (PostgreSQL refuses to run as root). It installs nothing. Stop removes it.
func StartServer() (*Server, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "crmsync-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: create temp dir: %w", err)
	}
	s := &Server{dir: dir, log: filepath.Join(dir, "server.log")}
	if err := s.initdb(bin, cred); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		err = s.start(bin, cred)
		if err == nil {
			return s, nil
		}
		if attempt == 2 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// FindBinDir returns the directory holding initdb and postgres: $CRMSYNC_PG_BIN, else the newest
// /usr/lib/postgresql/<version>/bin, else the directory of initdb on PATH.
func FindBinDir() (string, error) {
	if d := os.Getenv(BinEnv); d != "" {
		if hasServerBinaries(d) {
			return d, nil
		}
		return "", fmt.Errorf("pgtest: %s=%s does not hold initdb and postgres: %s", BinEnv, d, notFound)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if hasServerBinaries(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if d := filepath.Dir(p); hasServerBinaries(d) {
			return d, nil
		}
	}
	return "", errors.New(notFound)
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// serverCredential returns the credential to run the server with: nil when not root, the postgres user
// when root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and PostgreSQL refuses to run as root, but there is no "+
			"`postgres` OS user to run it as (create one, or run the tests as a normal user): %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) command(cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	return cmd
}

func (s *Server) dataDir() string   { return filepath.Join(s.dir, "data") }
func (s *Server) socketDir() string { return s.dir }

func (s *Server) initdb(bin string, cred *syscall.Credential) error {
	if cred != nil {
		// The temp dir is created by root with mode 0700; the server user must own it.
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: chown %s to postgres: %w", s.dir, err)
		}
	}
	cmd := s.command(cred, filepath.Join(bin, "initdb"),
		"-D", s.dataDir(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb failed (the server user must be able to reach %s): %w\n%s", s.dir, err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start(bin string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("pgtest: find a free port: %w", err)
	}
	logf, err := os.Create(s.log)
	if err != nil {
		return fmt.Errorf("pgtest: create server log: %w", err)
	}
	if cred != nil {
		_ = logf.Chown(int(cred.Uid), int(cred.Gid))
	}
	cmd := s.command(cred, filepath.Join(bin, "postgres"),
		"-D", s.dataDir(), "-p", strconv.Itoa(port), "-k", s.socketDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB",
		"-c", "max_wal_size=1GB", "-c", "log_min_messages=warning", "-c", "timezone=UTC")
	// The server dies with the test binary even if Stop is never called.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	logf.Close()
	s.cmd, s.port, s.exited = cmd, port, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(30 * time.Second); err != nil {
		s.kill()
		return err
	}
	return nil
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("pgtest: postgres exited during start-up:\n%s", s.tailLog())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			err = conn.Ping(ctx)
			_ = conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres not ready after %s: %v\n%s", timeout, err, s.tailLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) tailLog() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown: roll back and disconnect clients
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
}

// Stop shuts the server down and removes its directory. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.kill()
		s.stopErr = os.RemoveAll(s.dir)
	})
	return s.stopErr
}

// Port is the TCP port the server listens on at 127.0.0.1.
func (s *Server) Port() int { return s.port }

// DSN returns a URL for database db as the superuser postgres, over TCP. It holds no password.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// CreateDatabase creates a database with a random name t_<hex> and returns its name.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	if err := s.admin(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return name, nil
}

// DropDatabase drops database db, disconnecting its clients.
func (s *Server) DropDatabase(ctx context.Context, db string) error {
	if err := s.admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", db, err)
	}
	return nil
}

func (s *Server) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

// NewDatabase creates an isolated database for tb, dropped when tb's test ends, and returns its URL.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := s.CreateDatabase(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.DropDatabase(ctx, db); err != nil {
			tb.Errorf("%v", err)
		}
	})
	return s.DSN(db)
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
	sharedMu   sync.Mutex
)

// Shared returns the test binary's one server, starting it on first use. Main stops it.
func Shared() (*Server, error) {
	sharedOnce.Do(func() {
		sharedMu.Lock()
		defer sharedMu.Unlock()
		shared, sharedErr = StartServer()
	})
	return shared, sharedErr
}

// Start returns the URL of a fresh database on the shared server, dropped when tb ends. It fails tb (never
// skips) when PostgreSQL is not installed.
func Start(tb testing.TB) (dsn string) {
	tb.Helper()
	s, err := Shared()
	if err != nil {
		tb.Fatal(err)
	}
	return s.NewDatabase(tb)
}

// Main runs the tests and stops the shared server, if one was started. Use it as
// `func TestMain(m *testing.M) { pgtest.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	sharedMu.Unlock()
	os.Exit(code)
}
