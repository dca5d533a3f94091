package core

import (
	"net/url"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/providers"
)

// target is where one client protocol goes: computed once per plugin for
// everything that does not depend on the body.
type target struct {
	upstream  convert.Protocol
	maxTokens string // provider's max-tokens field for upstream
	scheme    string
	authority string
	cluster   string // where callouts go: upstream_cluster, else host:port
	path      string // path and query, ready for :path; "" = built per request
	query     string // query to append to per-request paths ("" or "?...")
	// modelPath builds the path from the model when path is "".
	modelPath func(c providers.Conf, model string, stream bool) string
}

// buildTargets resolves every client protocol the provider serves.
// targets maps a client protocol to where its requests go: an array, as
// every request looks it up.
type targets [8]*target

// get returns the target for client requests, if the provider serves them.
func (ts *targets) get(client convert.Protocol) (*target, bool) {
	if int(client) < len(ts) && ts[client] != nil {
		return ts[client], true
	}
	return nil, false
}

// getOrAny returns the target for client requests, else any target of
// the provider (nil when it has none).
func (ts *targets) getOrAny(client convert.Protocol) *target {
	if t, ok := ts.get(client); ok {
		return t
	}
	for _, t := range ts {
		if t != nil {
			return t
		}
	}
	return nil
}

func buildTargets(c *Config) *targets {
	p := c.Provider
	conf := c.providerConf()
	out := &targets{}
	for _, client := range []convert.Protocol{convert.OpenAIChat, convert.OpenAIResponses, convert.OpenAIEmbeddings, convert.AnthropicMessages, convert.BedrockConverse} {
		ep, ok := p.Endpoint(client)
		if !ok {
			continue
		}
		t := &target{upstream: ep.Upstream, maxTokens: ep.MaxTokens, scheme: p.Scheme}
		t.authority = p.HostFor(conf.Region)
		path := p.PathOf(ep, conf)
		q := url.Values{}
		if e := c.Endpoint; e != nil {
			t.scheme, t.authority = e.Scheme, e.Host
			if e.Path != "" {
				path = e.Path
				if native, ok := convert.ProtocolFromPath(e.Path); ok && (native == convert.AnthropicMessages || native == convert.BedrockConverse) {
					// An override endpoint may name a native protocol.
					t.upstream = native
				}
				if t.upstream != ep.Upstream {
					t.maxTokens = "max_tokens"
				}
			} else if path == "" {
				path = convert.DefaultPath(ep.Upstream)
			}
			for k, vs := range e.Query {
				q[k] = vs
			}
		}
		if ep.ModelPath != nil && (c.Endpoint == nil || c.Endpoint.Path == "") {
			path = "" // built from the model per request
			t.modelPath = ep.ModelPath
		}
		for _, kv := range c.AuthQuery {
			q.Set(kv[0], kv[1])
		}
		if len(q) > 0 {
			t.query = "?" + q.Encode()
		}
		if path != "" {
			t.path = path + t.query
		}
		t.cluster = c.UpstreamCluster
		if t.cluster == "" {
			t.cluster = providers.ClusterName(t.scheme, t.authority)
		}
		out[client] = t
	}
	return out
}
