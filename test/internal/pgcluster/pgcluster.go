// Package pgcluster runs a private PostgreSQL cluster that a test may stop and restart,
// for storage outage tests: the shared cluster of test/with-postgres.sh serves every
// other package in parallel and must stay up. It uses the binaries and account that
// script exports (FOSITE_MCP_POSTGRES_BINDIR, FOSITE_MCP_POSTGRES_RUNAS): initdb into a
// temporary directory, a free loopback port, fsync off. Without them the test is skipped,
// or fails under REQUIRE_POSTGRES=1 (CI).
package pgcluster

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// Environment variables set by test/with-postgres.sh.
const (
	EnvBinDir          = "FOSITE_MCP_POSTGRES_BINDIR"
	EnvRunAs           = "FOSITE_MCP_POSTGRES_RUNAS"
	envRequirePostgres = "REQUIRE_POSTGRES"
)

// Cluster is a running (or stopped) private PostgreSQL cluster.
type Cluster struct {
	// DSN connects to its "postgres" database as the superuser "postgres".
	DSN string

	bindir, runas, dir string
	port               int
}

// Start creates and starts a cluster; it is stopped and removed at tb's cleanup.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	bindir := os.Getenv(EnvBinDir)
	if bindir == "" {
		if os.Getenv(envRequirePostgres) == "1" {
			tb.Fatalf("%s is not set but REQUIRE_POSTGRES=1: run the tests through test/with-postgres.sh", EnvBinDir)
		}
		tb.Skipf("%s is not set (run through test/with-postgres.sh): no PostgreSQL to stop and restart", EnvBinDir)
	}
	dir, err := os.MkdirTemp("", "fosite-mcp-pgfault-")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{bindir: bindir, runas: os.Getenv(EnvRunAs), dir: dir}
	tb.Cleanup(func() {
		_ = c.ctl("stop", "-m", "immediate").Run()
		_ = os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if c.runas != "" {
		u, err := user.Lookup(c.runas)
		if err != nil {
			tb.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	if c.port, err = freePort(); err != nil {
		tb.Fatal(err)
	}
	initdb := c.command(filepath.Join(bindir, "initdb"), "-D", c.data(), "-U", "postgres", "--auth=trust",
		"--no-sync", "-E", "UTF8", "--locale=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	c.DSN = fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable connect_timeout=2", c.port)
	c.Start(tb)
	return c
}

// Start starts the stopped cluster on its port and waits until it accepts connections.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
		c.port, c.dir)
	if out, err := c.ctl("start", "-w", "-t", "60", "-l", filepath.Join(c.dir, "server.log"), "-o", opts).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		tb.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the cluster with a fast shutdown (open sessions are terminated, as when an
// operator stops the service) and waits until it is down.
func (c *Cluster) Stop(tb testing.TB) {
	tb.Helper()
	if out, err := c.ctl("stop", "-m", "fast", "-w", "-t", "60").CombinedOutput(); err != nil {
		tb.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) ctl(args ...string) *exec.Cmd {
	return c.command(filepath.Join(c.bindir, "pg_ctl"), append([]string{"-D", c.data()}, args...)...)
}

// command runs name as the cluster's account (PostgreSQL refuses to run as root).
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	if c.runas == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("runuser", append([]string{"-u", c.runas, "--", name}, args...)...)
}

// freePort returns a loopback TCP port nobody listens on at the moment.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
