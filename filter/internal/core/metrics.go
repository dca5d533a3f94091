package core

import "github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"

// Metrics go through the proxy-wasm metrics ABI, which has no labels:
// labels are encoded in the name as .<label>.<value> pairs, which Envoy's
// stats_tags regexes turn into Prometheus labels
// (docs/host-behaviours.md#metrics). Envoy prefixes every name with "wasmcustom.". Example:
//
//	llm_requests_total.provider.openai.model.gpt-4o-mini.status.2xx
//
// Label values are bounded: model names are sanitised and, past maxModels
// distinct ones per plugin, reported as "other", so a client cannot create
// unbounded series by inventing model names.

// MetricKind is the proxy-wasm metric type.
type MetricKind = proxywasm.MetricKind

const (
	Counter   = proxywasm.Counter
	Gauge     = proxywasm.Gauge
	Histogram = proxywasm.Histogram
)

const maxModels = 64

// statusClasses are the status label values; statusClassIndex picks one.
var statusClasses = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClassIndex(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

var tokenKinds = [4]string{"prompt", "completion", "cached", "reasoning"}

// metricSet is one model's series. Names are built and ids defined on
// first use and then kept, so a request after the first builds no strings
// and makes no define calls. An id is stored plus one: 0 is "not defined
// yet" (Envoy's first counter id is 0).
type metricSet struct {
	base              string // ".provider.<p>.model.<label>"
	requests, latency [len(statusClasses)]uint32
	tokens            [len(tokenKinds)]uint32
	ttft              uint32
}

// modelLabel sanitises a model name into a label value: [A-Za-z0-9_-] kept,
// everything else (dots included, which separate labels) becomes '_'.
func modelLabel(m string) string {
	if m == "" {
		return "unknown"
	}
	if len(m) > 64 {
		m = m[:64]
	}
	b := []byte(m)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// metricCache is the series of one instance: prefix is
// ".provider.<p>" for ai-proxy and ".instance.<name>.provider.<p>" for an
// instance of ai-proxy-multi (names are bounded by the configuration).
// byModel caches the raw model names seen (bounded too), byLabel the
// series themselves.
type metricCache struct {
	prefix  string
	byModel map[string]*metricSet
	byLabel map[string]*metricSet
}

func newMetricCache(prefix string) metricCache {
	return metricCache{prefix: prefix, byModel: map[string]*metricSet{}, byLabel: map[string]*metricSet{}}
}

// metricsFor returns model's series.
func (c *metricCache) metricsFor(model string) *metricSet {
	if m := c.byModel[model]; m != nil {
		return m
	}
	label := modelLabel(model)
	m := c.byLabel[label]
	if m == nil {
		if len(c.byLabel) >= maxModels {
			label = "other"
			m = c.byLabel[label]
		}
		if m == nil {
			m = &metricSet{base: c.prefix + ".model." + label}
			c.byLabel[label] = m
		}
	}
	if len(c.byModel) < 4*maxModels {
		c.byModel[model] = m
	}
	return m
}

// record adds v to the metric whose id is cached in *slot, defining it as
// name() on first use.
func record(h Host, kind MetricKind, slot *uint32, name func() string, v int64) {
	if *slot == 0 {
		id, ok := h.DefineMetric(kind, name())
		if !ok {
			return
		}
		*slot = id + 1
	}
	h.RecordMetric(kind, *slot-1, v)
}

// recordMetrics publishes one finished request.
func (s *Stream) recordMetrics(status int, durationMS, ttft int64, tokens [len(tokenKinds)]int64) {
	m := s.p.metrics[s.inst].metricsFor(s.model)
	c := statusClassIndex(status)
	record(s.h, Counter, &m.requests[c], func() string { return "llm_requests_total" + m.base + ".status." + statusClasses[c] }, 1)
	record(s.h, Histogram, &m.latency[c], func() string { return "llm_latency_ms" + m.base + ".status." + statusClasses[c] }, durationMS)
	if s.firstToken > 0 {
		record(s.h, Histogram, &m.ttft, func() string { return "llm_ttft_ms" + m.base }, ttft)
	}
	for i, v := range tokens {
		if v > 0 {
			record(s.h, Counter, &m.tokens[i], func() string { return "llm_tokens_total" + m.base + ".kind." + tokenKinds[i] }, v)
		}
	}
}

// fallbackReasons are the reason label's values, in the order of a
// fallbackMetrics' slots.
var fallbackReasons = [...]string{reason429, reason5xx, reasonListed, reasonTransport, fallbackUnhealthy, fallbackRateLimited}

// fallbackMetrics are an ai-proxy-multi plugin's series of fallbacks, per
// failed instance and reason, and of attempts per request.
type fallbackMetrics struct {
	byInstance [][len(fallbackReasons)]uint32
	attempts   uint32
}

// recordFallback counts one fallback away from instance i.
func (p *Plugin) recordFallback(h Host, i int, reason string) {
	f := &p.fallbackMetrics
	if f.byInstance == nil {
		f.byInstance = make([][len(fallbackReasons)]uint32, len(p.names))
	}
	r := 0
	for r < len(fallbackReasons)-1 && fallbackReasons[r] != reason {
		r++
	}
	record(h, Counter, &f.byInstance[i][r], func() string {
		return "llm_fallbacks_total.instance." + modelLabel(p.names[i]) + ".reason." + fallbackReasons[r]
	}, 1)
}

// recordAttempts records how many attempts a multi request took.
func (p *Plugin) recordAttempts(h Host, n int) {
	record(h, Histogram, &p.fallbackMetrics.attempts, func() string { return "llm_attempts" }, int64(n))
}
