package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// Options configure a Gateway.
type Options struct {
	Profile host.Profile
	Workers int // VMs, one per Envoy worker; default 1
	// Env is the guests' environment (Envoy's
	// vm_config.environment_variables); Config.Env is added to it.
	Env map[string]string
	Log func(level host.LogLevel, msg string)
	// BufferFilter plays envoy.filters.http.buffer right after the Wasm
	// filter, as examples/envoy/envoy.yaml has it: the router gets the
	// whole body, framed by a content-length the buffer filter sets.
	// Without it a body the filter rewrote goes upstream chunked.
	BufferFilter bool
}

// Gateway is an http.Handler that runs every request through the filter.
type Gateway struct {
	cfg     *Config
	opt     Options
	workers []*worker
	next    atomic.Uint32
	client  *http.Client
	mocks   map[string]*mock.Server
	shared  *host.Shared // the workers' shared data and metrics
	stop    chan struct{}
	wg      sync.WaitGroup
}

type worker struct {
	vm      *host.VM
	plugins []*host.Plugin // by route index
}

// builtins are the mock providers a cluster can name as builtin:<name>.
// They serve `make run` for as long as it runs, and nothing reads their
// records, so they keep only the last few requests: a mock that recorded
// every request grew by its headers and body each time (~3 KB).
var builtins = map[string]func() *mock.Server{
	"openai":    func() *mock.Server { return mock.NewOpenAI(mock.WithRecordLimit(builtinRecords)) },
	"anthropic": func() *mock.Server { return mock.NewAnthropic(mock.WithRecordLimit(builtinRecords)) },
	"bedrock":   func() *mock.Server { return mock.NewBedrock(mock.WithRecordLimit(builtinRecords)) },
	"gcp":       func() *mock.Server { return mock.NewGCP(mock.WithRecordLimit(builtinRecords)) },
}

// builtinRecords is how many requests a builtin mock keeps.
const builtinRecords = 16

// New loads wasm into opt.Workers VMs and configures every route's plugin
// on each. A configuration the filter rejects is an error that carries the
// filter's own log line.
func New(ctx context.Context, wasm []byte, cfg *Config, opt Options) (*Gateway, error) {
	g := &Gateway{cfg: cfg, opt: opt, mocks: map[string]*mock.Server{}, stop: make(chan struct{})}
	for name, target := range cfg.Clusters {
		if b, ok := strings.CutPrefix(target, "builtin:"); ok {
			start, ok := builtins[b]
			if !ok {
				g.Close()
				return nil, fmt.Errorf("gateway config: cluster %q: no builtin mock %q", name, b)
			}
			if g.mocks[b] == nil {
				g.mocks[b] = start()
			}
		}
	}
	g.client = &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: connectTimeout}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost:   64,
		ResponseHeaderTimeout: 0, // the router's timeout and the filter's watchdog govern
		DisableCompression:    true,
	}}
	mod, err := host.Compile(ctx, wasm)
	if err != nil {
		g.Close()
		return nil, err
	}
	env := maps.Clone(opt.Env)
	if len(cfg.Env) > 0 && env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, cfg.Env)
	shared := host.NewShared()
	g.shared = shared
	n := max(opt.Workers, 1)
	for i := 0; i < n; i++ {
		vm, err := mod.NewVM(ctx, host.VMConfig{
			Profile: opt.Profile, VMID: "ai-proxy", Env: env, Shared: shared,
			Clusters: g.Resolve, HTTPClient: g.client, Log: opt.Log,
		})
		if err != nil {
			g.Close()
			return nil, err
		}
		w := &worker{vm: vm}
		g.workers = append(g.workers, w)
		for _, r := range cfg.Routes {
			p, err := vm.NewPlugin(r.PluginConfig())
			if err != nil {
				g.Close()
				return nil, fmt.Errorf("route %q: %w", r.ID, err)
			}
			w.plugins = append(w.plugins, p)
		}
	}
	g.wg.Add(1)
	go g.tick()
	return g, nil
}

// tick drives proxy_on_tick like Envoy's per-worker timers.
func (g *Gateway) tick() {
	defer g.wg.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case now := <-t.C:
			for _, w := range g.workers {
				w.vm.Tick(now)
			}
		}
	}
}

// Close stops the VMs and the embedded mocks.
func (g *Gateway) Close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
	for _, w := range g.workers {
		w.vm.Close()
	}
	for _, m := range g.mocks {
		m.Close()
	}
}

// Shared returns what the workers share: shared data and metrics.
func (g *Gateway) Shared() *host.Shared { return g.shared }

// VMs returns the workers' VMs (for tests and benchmarks).
func (g *Gateway) VMs() []*host.VM {
	vms := make([]*host.VM, len(g.workers))
	for i, w := range g.workers {
		vms[i] = w.vm
	}
	return vms
}

// lookup finds name in the clusters table: exactly, then without the port.
func (g *Gateway) lookup(name string) (string, bool) {
	target, ok := g.cfg.Clusters[name]
	if !ok {
		if h, _, err := net.SplitHostPort(name); err == nil {
			target, ok = g.cfg.Clusters[h]
		}
	}
	if !ok {
		return "", false
	}
	if b, isMock := strings.CutPrefix(target, "builtin:"); isMock {
		return g.mocks[b].URL, true
	}
	return strings.TrimSuffix(target, "/"), true
}

// Resolve maps a callout cluster name to a base URL: the clusters table,
// else the name itself as a real host:port, over TLS when the port is 443
// or absent (a cluster named like the provider's authority), else plain.
func (g *Gateway) Resolve(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	if base, ok := g.lookup(name); ok {
		return base, true
	}
	if _, port, err := net.SplitHostPort(name); err == nil && port != "443" {
		return "http://" + name, true
	}
	return "https://" + name, true
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":"gateway_error","code":%d}}`, msg, status)
}

// ServeHTTP runs one request through the filter on the next worker.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ri := -1
	for i := range g.cfg.Routes {
		if g.cfg.Routes[i].match(r.Method, r.URL.Path) {
			ri = i
			break
		}
	}
	if ri < 0 {
		jsonError(w, http.StatusNotFound, "no route matches "+r.Method+" "+r.URL.Path)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		jsonError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		return
	}
	req := &host.Request{Method: r.Method, Scheme: "http", Authority: r.Host, Path: r.URL.RequestURI(), Body: body, RemoteAddr: r.RemoteAddr}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header = append(req.Header, [2]string{strings.ToLower(k), v})
		}
	}
	if len(body) > 0 {
		req.Header = append(req.Header, [2]string{"content-length", strconv.Itoa(len(body))})
	}
	wk := g.workers[int(g.next.Add(1))%len(g.workers)]
	flusher, _ := w.(http.Flusher)
	wrote := false
	opt := host.Options{
		Upstream: g.forward,
		OnHeaders: func(status int, h [][2]string) {
			wrote = true
			for _, kv := range h {
				if kv[0] != "" && kv[0][0] != ':' && kv[0] != "transfer-encoding" && kv[0] != "connection" {
					w.Header().Add(kv[0], kv[1])
				}
			}
			w.WriteHeader(status)
			if flusher != nil {
				flusher.Flush()
			}
		},
		OnChunk: func(b []byte) {
			w.Write(b)
			if flusher != nil {
				flusher.Flush()
			}
		},
	}
	resp, err := wk.plugins[ri].Do(r.Context(), req, opt)
	if err != nil {
		if wrote {
			// The answer broke after its headers (host.ErrReset and the
			// like): reset the client connection as Envoy resets the
			// stream, so the client cannot take a cut body for a whole one.
			panic(http.ErrAbortHandler)
		}
		status := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		jsonError(w, status, err.Error())
		return
	}
	if !wrote {
		opt.OnHeaders(resp.Status, resp.Header)
		w.Write(resp.Body)
	}
}

// Envoy's router and cluster defaults the gateway models.
const (
	// connectTimeout is a cluster's default connect_timeout.
	connectTimeout = 5 * time.Second
	// routeTimeout is a route's default timeout, used when the request
	// carries no x-envoy-upstream-rq-timeout-ms.
	routeTimeout = 15 * time.Second
)

// routerTimeout reads the total timeout Envoy's router applies to a
// request: x-envoy-upstream-rq-timeout-ms when it is a number, 0 meaning
// none, else the route's default (FilterUtility::finalTimeout in
// https://github.com/envoyproxy/envoy/blob/main/source/common/router/router.cc).
// The router removes the header before forwarding.
func routerTimeout(h [][2]string) time.Duration {
	for _, kv := range h {
		if kv[0] == "x-envoy-upstream-rq-timeout-ms" {
			if ms, err := strconv.ParseUint(kv[1], 10, 32); err == nil {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	return routeTimeout
}

// forward plays Envoy's dynamic forward proxy and router: it sends the
// request where the filter pointed :scheme/:authority/:path. The router's
// timeout starts now, the request being complete, and spans the whole
// response (Filter::onRequestComplete): before the response headers it
// becomes Envoy's 504 "upstream request timeout", after them a broken
// body, which the host turns into a reset.
func (g *Gateway) forward(ctx context.Context, ur *host.UpstreamRequest) (*host.UpstreamResponse, error) {
	base, ok := g.lookup(ur.Authority)
	if !ok {
		base = ur.Scheme + "://" + ur.Authority
	}
	cancel := context.CancelFunc(func() {})
	d := routerTimeout(ur.Header)
	if d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
	}
	hr, err := http.NewRequestWithContext(ctx, ur.Method, base+ur.Path, strings.NewReader(string(ur.Body)))
	if err != nil {
		cancel()
		return nil, err
	}
	hr.Host = ur.Authority
	for _, kv := range ur.Header {
		switch kv[0] {
		case "host", "content-length", "transfer-encoding", "connection", "x-envoy-upstream-rq-timeout-ms":
			continue
		}
		hr.Header.Add(kv[0], kv[1])
	}
	if d > 0 {
		// The router tells the upstream how long it will wait.
		hr.Header.Set("x-envoy-expected-rq-timeout-ms", strconv.FormatInt(d.Milliseconds(), 10))
	}
	hr.ContentLength = int64(len(ur.Body))
	if _, framed := ur.Get("content-length"); !framed && len(ur.Body) > 0 && !g.opt.BufferFilter {
		// Envoy's HTTP/1 codec frames a body by the request's
		// content-length, and chunked when there is none (the filter drops
		// it whenever it rewrites the body): -1 makes Go send it chunked
		// too. Checked against Envoy 1.36.4 and 1.40.0 by
		// e2e/envoytest TestHarnessMatchesEnvoy.
		hr.ContentLength = -1
	}
	resp, err := g.client.Do(hr)
	if err != nil {
		cancel()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			const msg = "upstream request timeout"
			return &host.UpstreamResponse{Status: http.StatusGatewayTimeout, Header: [][2]string{
				{"content-length", strconv.Itoa(len(msg))}, {"content-type", "text/plain"}},
				Body: io.NopCloser(strings.NewReader(msg))}, nil
		}
		return nil, err
	}
	out := &host.UpstreamResponse{Status: resp.StatusCode, Body: cancelOnClose{resp.Body, cancel}}
	for k, vs := range resp.Header {
		for _, v := range vs {
			out.Header = append(out.Header, [2]string{strings.ToLower(k), v})
		}
	}
	if resp.ContentLength >= 0 && resp.Header.Get("content-length") == "" {
		out.Header = append(out.Header, [2]string{"content-length", strconv.FormatInt(resp.ContentLength, 10)})
	}
	return out, nil
}

// cancelOnClose ends the router's timeout with the response body.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// EnvFromOS picks from the gateway's environment the variables the filter
// reads, as Envoy's vm_config.environment_variables.host_env_keys would:
// GCP_SERVICE_ACCOUNT and every variable cfg names with $env://.
func EnvFromOS(cfg *Config) map[string]string {
	env := map[string]string{}
	for _, k := range append([]string{"GCP_SERVICE_ACCOUNT"}, cfg.EnvNames()...) {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	return env
}
