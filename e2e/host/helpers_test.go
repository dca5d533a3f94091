package host_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

var allProfiles = []host.Profile{host.Envoy, host.EnvoyFixed, host.APISIX}

// echoModule compiles the scriptable guest; the APISIX build leaves out the
// imports wasm-nginx-module does not provide.
func echoModule(t testing.TB, p host.Profile) *host.Module {
	t.Helper()
	var wasm []byte
	if p == host.APISIX {
		wasm = hosttest.BuildGuest(t, "../testdata/abiecho", "apisix")
	} else {
		wasm = hosttest.BuildGuest(t, "../testdata/abiecho")
	}
	m, err := host.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newEcho returns a plugin running script on a fresh VM configured by cfg.
func newEcho(t testing.TB, cfg host.VMConfig, script string) *host.Plugin {
	t.Helper()
	vm, err := echoModule(t, cfg.Profile).NewVM(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	p, err := vm.NewPlugin([]byte(script))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// result returns the result logged by the first script command that
// starts with cmd in callback cb, e.g. result(logs, "request_headers",
// "get 0 :path") → "0 /x".
func result(logs []host.LogLine, cb, cmd string) (string, bool) {
	prefix := cb + ": " + cmd + " -> "
	for _, l := range logs {
		if strings.HasPrefix(l.Msg, prefix) {
			return strings.TrimSpace(strings.TrimPrefix(l.Msg, prefix)), true
		}
	}
	return "", false
}

func mustResult(t testing.TB, logs []host.LogLine, cb, cmd string) string {
	t.Helper()
	r, ok := result(logs, cb, cmd)
	if !ok {
		t.Fatalf("no %q result from %s in logs:\n%s", cmd, cb, dump(logs))
	}
	return r
}

func dump(logs []host.LogLine) string {
	var b strings.Builder
	for _, l := range logs {
		b.WriteString("  " + l.String() + "\n")
	}
	return b.String()
}

func hasLog(logs []host.LogLine, substr string) bool {
	for _, l := range logs {
		if strings.Contains(l.Msg, substr) {
			return true
		}
	}
	return false
}

// recorder is an Upstream that answers with a fixed response and keeps
// the requests it saw.
type recorder struct {
	mu     sync.Mutex
	status int
	header [][2]string
	chunks []string
	reqs   []*host.UpstreamRequest
}

func (r *recorder) upstream(ctx context.Context, req *host.UpstreamRequest) (*host.UpstreamResponse, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	status := r.status
	if status == 0 {
		status = 200
	}
	var body io.ReadCloser
	if r.chunks != nil {
		body = &chunkReader{chunks: append([]string(nil), r.chunks...)}
	}
	return &host.UpstreamResponse{Status: status, Header: r.header, Body: body}, nil
}

// chunkReader returns one chunk per Read.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func (c *chunkReader) Close() error { return nil }
