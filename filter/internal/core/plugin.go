package core

import (
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/gcpauth"
)

// Plugin is one configured ai-proxy instance (a proxy-wasm root context).
// Everything derivable from the configuration is computed here once, so
// requests only look things up.
type Plugin struct {
	cfg     *Config
	caps    Caps
	backend *Backend // the one upstream instance of ai-proxy

	timeoutHeader string                // timeout, for the router of a pass-through request
	routerTimeout string                // x-envoy-upstream-rq-timeout-ms of AI requests
	byModel       map[string]*metricSet // see metricsFor
	byLabel       map[string]*metricSet
	num           []byte       // formats numbers for properties
	buf           buildBuffers // Backend.Build's working memory

	root    RootHost
	store   gcpauth.Store // GCP token cache (nil: no GCP auth)
	waiting []*Stream     // waiting for another worker's token exchange

	watched    []*Stream // in flight through the host, under the idle watchdog
	idleTickMS uint32    // the watchdog's tick period
	tickMS     uint32    // the tick period asked of the host (0: off)
}

// NewPlugin prepares a validated configuration for a host with caps.
func NewPlugin(cfg *Config, caps Caps, root RootHost) *Plugin {
	p := &Plugin{cfg: cfg, caps: caps, root: root, backend: newBackend(cfg)}
	p.timeoutHeader = strconv.FormatInt(cfg.TimeoutMS, 10)
	p.routerTimeout = p.routerTimeoutMS()
	p.idleTickMS = idleTickPeriod(cfg.TimeoutMS)
	p.byModel, p.byLabel = map[string]*metricSet{}, map[string]*metricSet{}
	p.initGCP()
	return p
}

// NewStream starts the state of one HTTP request.
func (p *Plugin) NewStream(h Host) *Stream {
	return &Stream{p: p, b: p.backend, h: h}
}

// Reuse starts a new request on a stream whose previous one is done
// (OnDone called), keeping only its buffers: a host that recycles streams
// saves their allocations.
func (s *Stream) Reuse(p *Plugin, h Host) {
	if len(s.p.waiting) > 0 {
		s.p.unwait(s)
	}
	s.unwatch()
	buf := s.respBuf[:0]
	if cap(buf) > maxKeptBuffer {
		buf = nil
	}
	old := s.tr
	if old == nil {
		old = s.old // the request ended before it needed one
	}
	*s = Stream{p: p, b: p.backend, h: h, obj: s.obj, respBuf: buf, old: old}
}

// maxKeptBuffer bounds what a recycled stream keeps of its buffers, so one
// large response does not pin its memory in every pooled stream.
const maxKeptBuffer = 64 << 10
