// Package envoy runs real Envoy for tests: it finds the pinned binaries
// (make envoy installs them), starts Envoy the way a careful test does,
// reads its admin endpoints, and provides a lab (DNS, CA, TLS front) so
// the shipped examples/envoy configs reach the mocks in e2e/mock as if they
// were the providers.
package envoy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// Binary is one Envoy executable.
type Binary struct {
	Version string // "1.40.0"
	Path    string
}

// Minor reports the minor version (36 for 1.36.4), 0 when unknown.
func (b Binary) Minor() int {
	parts := strings.Split(b.Version, ".")
	if len(parts) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(parts[1])
	return n
}

const howToGetEnvoy = "run the Envoy tests with `make test` (it installs the pinned Envoy versions with `make envoy`), " +
	"or set AI_PROXY_ENVOY=\"<version>=/abs/path/to/envoy ...\", or ENVOY_BIN=/path/to/envoy to use your own Envoy"

var (
	binOnce sync.Once
	bins    []Binary
	binErr  error
)

// Binaries returns the Envoy binaries to test with: $ENVOY_BIN alone when
// it is set, else every "version=path" of $AI_PROXY_ENVOY (make test sets
// it). Each must run and report its version. Without any, the test fails
// and says how to get Envoy: Envoy tests never skip.
func Binaries(t testing.TB) []Binary {
	t.Helper()
	binOnce.Do(func() { bins, binErr = findBinaries() })
	if binErr != nil {
		t.Fatalf("envoy: %v", binErr)
	}
	return bins
}

func findBinaries() ([]Binary, error) {
	var out []Binary
	if p := os.Getenv("ENVOY_BIN"); p != "" {
		out = append(out, Binary{Path: p})
	} else {
		for _, f := range strings.Fields(os.Getenv("AI_PROXY_ENVOY")) {
			v, p, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("AI_PROXY_ENVOY entry %q is not version=path; %s", f, howToGetEnvoy)
			}
			out = append(out, Binary{Version: v, Path: p})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Envoy binary given: %s", howToGetEnvoy)
	}
	for i, b := range out {
		v, err := Version(b.Path)
		if err != nil {
			return nil, fmt.Errorf("%v; %s", err, howToGetEnvoy)
		}
		if b.Version != "" && b.Version != v {
			return nil, fmt.Errorf("%s reports version %s, not %s; %s", b.Path, v, b.Version, howToGetEnvoy)
		}
		out[i].Version = v
	}
	return out, nil
}

var versionRE = regexp.MustCompile(`version: [0-9a-f]+/(\d+\.\d+\.\d+[^/]*)/`)

// Version runs `envoy --version` and returns the release, e.g. "1.40.0".
func Version(path string) (string, error) {
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v: %s", path, err, bytes.TrimSpace(out))
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version printed no version: %s", path, bytes.TrimSpace(out))
	}
	return string(m[1]), nil
}

// Validate runs `envoy --mode validate` on a config, with env added to the
// environment Envoy inherits (validation configures the plugin, which
// resolves its $env:// references), and returns its output and whether
// Envoy accepted it.
func Validate(t testing.TB, b Binary, config []byte, env ...string) (string, bool) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(path, config, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(b.Path, "--mode", "validate", "-c", path, "--disable-hot-restart", "-l", "warning")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// Envoy is a running Envoy process.
type Envoy struct {
	Binary Binary
	// Admin is the admin base URL, http://127.0.0.1:port.
	Admin string
	// LogPath is the file that receives Envoy's stdout and stderr (its logs
	// and stdout access logs).
	LogPath string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// Options tune Start.
type Options struct {
	// Concurrency is --concurrency; 0 means 2 (two workers, two VMs).
	Concurrency int
	// LogLevel is -l; "" means info.
	LogLevel string
	// Args are extra command-line arguments.
	Args []string
	// Env adds NAME=value entries to the environment Envoy inherits: the
	// variables a config's vm_config.environment_variables.host_env_keys
	// passes to the filter.
	Env []string
	// Output receives Envoy's stdout and stderr; nil means a log file
	// (Envoy.LogPath).
	Output io.Writer
}

var baseID atomic.Int64

func init() { baseID.Store(int64(os.Getpid()%10000) * 100) }

// Start runs Envoy with config until the test ends: two workers, no hot
// restart, a base id of its own, admin on a loopback port Envoy picks. It
// returns once /ready answers LIVE; a config Envoy rejects fails the test
// with the log. Logs are printed when the test fails.
func Start(t testing.TB, b Binary, config []byte, opts Options) *Envoy {
	t.Helper()
	e, err := Launch(b, config, t.TempDir(), opts)
	if e != nil {
		t.Cleanup(func() {
			e.Stop()
			if t.Failed() {
				t.Logf("Envoy %s log (%s):\n%s", b.Version, e.LogPath, e.shortLog())
			}
		})
	}
	if err != nil {
		t.Fatalf("%v; its log follows", err)
	}
	return e
}

// Launch is Start outside a test: it writes config into dir, runs Envoy
// and waits until /ready answers LIVE. Envoy's output goes to
// opts.Output, else to a log file in dir. The caller stops it; when Envoy
// exits or is not ready within a minute, Launch returns an error (and
// the Envoy, stopped, when it was started).
func Launch(b Binary, config []byte, dir string, opts Options) (*Envoy, error) {
	cfgPath := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(cfgPath, config, 0o600); err != nil {
		return nil, err
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 2
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	e := &Envoy{Binary: b, exited: make(chan struct{})}
	out := opts.Output
	var logFile *os.File
	if out == nil {
		e.LogPath = filepath.Join(dir, "envoy.log")
		var err error
		if logFile, err = os.Create(e.LogPath); err != nil {
			return nil, err
		}
		out = logFile
	}
	adminPath := filepath.Join(dir, "admin-address")
	args := append([]string{
		"-c", cfgPath,
		"--concurrency", strconv.Itoa(opts.Concurrency),
		"--disable-hot-restart",
		"--base-id", strconv.FormatInt(baseID.Add(1), 10),
		"--admin-address-path", adminPath,
		"-l", opts.LogLevel,
	}, opts.Args...)
	e.cmd = exec.Command(b.Path, args...)
	e.cmd.Stdout, e.cmd.Stderr = out, out
	e.cmd.Env = append(os.Environ(), opts.Env...)
	// Envoy dies with its parent even if nobody stops it.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := e.cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, fmt.Errorf("starting %s: %v", b.Path, err)
	}
	go func() {
		e.err = e.cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		close(e.exited)
	}()

	// Ready: the admin address file exists and /ready says LIVE. Compiling
	// the module takes V8 a few seconds on a loaded machine.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if e.Admin == "" {
			if a, err := os.ReadFile(adminPath); err == nil && len(bytes.TrimSpace(a)) > 0 {
				e.Admin = "http://" + string(bytes.TrimSpace(a))
			}
		}
		if e.Admin != "" {
			if body, code, err := e.get("/ready"); err == nil && code == 200 && strings.TrimSpace(body) == "LIVE" {
				return e, nil
			}
		}
		select {
		case <-e.exited:
			return e, fmt.Errorf("Envoy %s exited before it was ready (%v)", b.Version, e.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Stop()
			return e, fmt.Errorf("Envoy %s not ready after 60s", b.Version)
		}
	}
}

// Stop ends Envoy: SIGTERM, then SIGKILL after 5 s.
func (e *Envoy) Stop() {
	select {
	case <-e.exited:
		return
	default:
	}
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(5 * time.Second):
		e.cmd.Process.Kill()
		<-e.exited
	}
}

// Exited reports whether the process has ended.
func (e *Envoy) Exited() bool {
	select {
	case <-e.exited:
		return true
	default:
		return false
	}
}

// Log returns everything Envoy has written so far.
func (e *Envoy) Log() string {
	b, _ := os.ReadFile(e.LogPath)
	return string(b)
}

// shortLog is the log without the start-up listing of every extension.
func (e *Envoy) shortLog() string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(e.Log(), "\n") {
		if strings.Contains(l, "[main] [source/server/server.cc:") && strings.Contains(l, "]   ") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

func (e *Envoy) get(path string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.Admin+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

// AdminGet returns the body of an admin endpoint, failing the test unless
// it answers 200.
func (e *Envoy) AdminGet(t testing.TB, path string) string {
	t.Helper()
	body, code, err := e.get(path)
	if err != nil || code != 200 {
		t.Fatalf("Envoy admin %s: %d %v\n%s", path, code, err, body)
	}
	return body
}

// Stats returns the counters and gauges of /stats as name → value
// (histograms are left out), optionally only those matching filter (a
// regular expression, as the admin endpoint takes it).
func (e *Envoy) Stats(t testing.TB, filter string) map[string]int64 {
	t.Helper()
	path := "/stats"
	if filter != "" {
		path += "?filter=" + filter
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(e.AdminGet(t, path)))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(val, 10, 64); err == nil {
			out[name] = n
		}
	}
	return out
}

// Prometheus returns /stats/prometheus.
func (e *Envoy) Prometheus(t testing.TB) string {
	t.Helper()
	return e.AdminGet(t, "/stats/prometheus")
}

// ListenerAddr returns the host:port listener name is bound to (the lab
// configs bind port 0), from /listeners.
func (e *Envoy) ListenerAddr(t testing.TB, name string) string {
	t.Helper()
	var ls struct {
		ListenerStatuses []struct {
			Name         string `json:"name"`
			LocalAddress struct {
				SocketAddress struct {
					Address   string `json:"address"`
					PortValue int    `json:"port_value"`
				} `json:"socket_address"`
			} `json:"local_address"`
		} `json:"listener_statuses"`
	}
	if err := json.Unmarshal([]byte(e.AdminGet(t, "/listeners?format=json")), &ls); err != nil {
		t.Fatalf("Envoy admin /listeners: %v", err)
	}
	for _, l := range ls.ListenerStatuses {
		if l.Name == name {
			sa := l.LocalAddress.SocketAddress
			return fmt.Sprintf("%s:%d", sa.Address, sa.PortValue)
		}
	}
	t.Fatalf("Envoy has no listener %q", name)
	return ""
}

// Module returns the path of the ai-proxy module for Envoy to load:
// $AI_PROXY_WASM (make test builds it), else a fresh build written to the
// test's temporary directory.
func Module(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("AI_PROXY_WASM"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	return WriteModule(t, hosttest.Filter(t))
}

// WriteModule writes wasm to a file in the test's temporary directory and
// returns its path.
func WriteModule(t testing.TB, wasm []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "module.wasm")
	if err := os.WriteFile(p, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
