package core

import (
	"slices"
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/gcpauth"
)

// Plugin is one configured ai-proxy instance (a proxy-wasm root context).
// Everything derivable from the configuration is computed here once, so
// requests only look things up.
type Plugin struct {
	cfg     *Config
	caps    Caps
	backend *Backend // the one upstream instance of ai-proxy; nil for multi

	// ai-proxy-multi: one backend per instance, and the balancer.
	backends []*Backend
	names    []string
	bal      *balancer
	multi    *MultiConfig
	// models: each instance's models (nil: every model), when any
	// instance declares some; nil otherwise. modelList answers
	// GET /v1/models then (models.go).
	models             [][]string
	modelList          []byte
	anthropicModelList []byte // the same, for Anthropic clients
	// testExcluded, when set, takes instances out of selection (tests).
	testExcluded func(instance int) bool
	budget       *budgets // ai-rate-limiting (nil: none)

	timeoutHeader   string        // timeout, for the router of a pass-through request
	routerTimeout   string        // x-envoy-upstream-rq-timeout-ms of AI requests
	metrics         []metricCache // per instance
	fallbackMetrics fallbackMetrics
	num             []byte       // formats numbers for properties
	buf             buildBuffers // Backend.Build's working memory

	root    RootHost
	health  *healthState  // ai-proxy-multi instances' health (probe.go); nil for ai-proxy
	store   gcpauth.Store // GCP token cache (nil: no GCP auth)
	waiting []*Stream     // waiting for another worker's token exchange

	watched    []*Stream // in flight through the host, under the idle watchdog
	idleTickMS uint32    // the watchdog's tick period
	tickMS     uint32    // the tick period asked of the host (0: off)
}

// NewPlugin prepares a validated configuration for a host with caps.
func NewPlugin(cfg *Config, caps Caps, root RootHost) *Plugin {
	p := newPlugin(cfg, caps, root)
	p.backend = newBackend(cfg)
	p.backends = []*Backend{p.backend}
	p.metrics = []metricCache{newMetricCache(".provider." + cfg.Provider.Name)}
	p.initGCP()
	return p
}

// NewMultiPlugin prepares a validated ai-proxy or ai-proxy-multi
// configuration: ai-proxy is the one-instance case and takes no balancer.
func NewMultiPlugin(mc *MultiConfig, caps Caps, root RootHost) *Plugin {
	if mc.Instances == nil {
		p := NewPlugin(mc.Config, caps, root)
		p.multi = mc
		p.initBudgets()
		return p
	}
	p := newPlugin(mc.Config, caps, root)
	p.multi = mc
	weights := make([]int64, len(mc.Instances))
	priorities := make([]int64, len(mc.Instances))
	for i, in := range mc.Instances {
		p.backends = append(p.backends, newBackend(in.Config))
		p.names = append(p.names, in.Name)
		p.metrics = append(p.metrics, newMetricCache(".instance."+modelLabel(in.Name)+".provider."+in.Config.Provider.Name))
		weights[i], priorities[i] = in.Weight, in.Priority
	}
	p.bal = newBalancer(p.names, weights, priorities, mc.Algorithm == "chash")
	if slices.ContainsFunc(mc.Instances, func(in Instance) bool { return in.Models != nil }) {
		for _, in := range mc.Instances {
			p.models = append(p.models, in.Models)
		}
		p.modelList = modelList(mc.Instances)
		p.anthropicModelList = anthropicModelList(mc.Instances)
	}
	p.initGCP()
	p.initBudgets()
	p.initHealth()
	return p
}

func newPlugin(cfg *Config, caps Caps, root RootHost) *Plugin {
	p := &Plugin{cfg: cfg, caps: caps, root: root}
	p.timeoutHeader = strconv.FormatInt(cfg.TimeoutMS, 10)
	p.routerTimeout = p.routerTimeoutMS()
	p.idleTickMS = idleTickPeriod(cfg.TimeoutMS)
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
