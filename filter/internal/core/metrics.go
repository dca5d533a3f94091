package core

import "strconv"

// Metrics go through the proxy-wasm metrics ABI, which has no labels:
// labels are encoded in the name as .<label>.<value> pairs, which Envoy's
// stats_tags regexes turn into Prometheus labels (envoy-apisix-integration.md
// §6). Envoy prefixes every name with "wasmcustom.". Example:
//
//	llm_requests_total.provider.openai.model.gpt-4o-mini.status.2xx
//
// Label values are bounded: model names are sanitised and, past maxModels
// distinct ones per plugin, reported as "other", so a client cannot create
// unbounded series by inventing model names.

// MetricKind is the proxy-wasm metric type.
type MetricKind uint32

const (
	Counter   MetricKind = 0
	Histogram MetricKind = 2
)

const maxModels = 64

// metricNames caches the names per model label and status class so a
// request builds no strings once its series exist.
type metricNames struct {
	requests, latency string // + status class
	tokens            [4]string
	ttft              string
}

var tokenKinds = [4]string{"prompt", "completion", "cached", "reasoning"}

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

func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// names returns the metric names for model and status.
func (p *Plugin) names(model string, status int) (*metricNames, string) {
	label := modelLabel(model)
	n, ok := p.metrics[label]
	if !ok {
		if len(p.metrics) >= maxModels {
			label = "other"
			if n, ok = p.metrics[label]; ok {
				return n, statusClass(status)
			}
		}
		base := ".provider." + p.cfg.Provider.Name + ".model." + label
		n = &metricNames{
			requests: "llm_requests_total" + base + ".status.",
			latency:  "llm_latency_ms" + base + ".status.",
			ttft:     "llm_ttft_ms" + base,
		}
		for i, k := range tokenKinds {
			n.tokens[i] = "llm_tokens_total" + base + ".kind." + k
		}
		p.metrics[label] = n
	}
	return n, statusClass(status)
}
