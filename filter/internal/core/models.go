package core

// Model-aware routing of ai-proxy-multi: instances that declare the
// models they serve, and the model listing the route answers itself.

import (
	"slices"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// serves reports whether instance i serves model: an instance without
// models serves every model.
func (p *Plugin) serves(i int, model string) bool {
	patterns := p.models[i]
	if patterns == nil {
		return true
	}
	for _, pattern := range patterns {
		if matchModel(pattern, model) {
			return true
		}
	}
	return false
}

// servedBySome reports whether any instance serves model, whether or not
// it may be picked now.
func (p *Plugin) servedBySome(model string) bool {
	for i := range p.models {
		if p.serves(i, model) {
			return true
		}
	}
	return false
}

// matchModel reports whether model matches pattern, in which * matches
// any run of characters (none included) and every other byte itself.
// After a mismatch it retries from the last *, one byte further: linear
// for one *, and never worse than len(pattern)*len(model).
func matchModel(pattern, model string) bool {
	p, m := 0, 0
	star, next := -1, 0 // the last * seen, and where its run would end next
	for m < len(model) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, next = p, m
			p++
		case p < len(pattern) && pattern[p] == model[m]:
			p++
			m++
		case star >= 0:
			next++
			p, m = star+1, next
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// listedModels are the exact model names the instances declare, once,
// in configuration order, each with the first instance that declares it.
// Patterns name no model and are left out.
func listedModels(instances []Instance) (names, owners []string) {
	for _, in := range instances {
		for _, m := range in.Models {
			if !strings.Contains(m, "*") && !slices.Contains(names, m) {
				names, owners = append(names, m), append(owners, in.Name)
			}
		}
	}
	return names, owners
}

// modelList is the answer to GET /v1/models in OpenAI's list format
// (https://platform.openai.com/docs/api-reference/models/list).
func modelList(instances []Instance) []byte {
	names, owners := listedModels(instances)
	b := []byte(`{"object":"list","data":[`)
	for i, m := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = jsonbytes.AppendString(b, m)
		b = append(b, `,"object":"model","created":0,"owned_by":`...)
		b = jsonbytes.AppendString(b, owners[i])
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// anthropicModelList is the same listing in Anthropic's format
// (https://docs.anthropic.com/en/api/models-list), for clients that send
// anthropic-version, as Anthropic's SDKs do: one page, the model name as
// display name, the epoch as creation time.
func anthropicModelList(instances []Instance) []byte {
	names, _ := listedModels(instances)
	b := []byte(`{"data":[`)
	for i, m := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"model","id":`...)
		b = jsonbytes.AppendString(b, m)
		b = append(b, `,"display_name":`...)
		b = jsonbytes.AppendString(b, m)
		b = append(b, `,"created_at":"1970-01-01T00:00:00Z"}`...)
	}
	b = append(b, `],"has_more":false,"first_id":`...)
	if len(names) == 0 {
		return append(b, `null,"last_id":null}`...)
	}
	b = jsonbytes.AppendString(b, names[0])
	b = append(b, `,"last_id":`...)
	b = jsonbytes.AppendString(b, names[len(names)-1])
	return append(b, '}')
}

// modelID returns the model a model-listing path names
// (/v1/models/{id}), or "" for the listing itself (/v1/models).
func modelID(path string) string {
	bare, _, _ := strings.Cut(path, "?")
	bare = strings.TrimSuffix(bare, "/")
	if strings.HasSuffix(bare, "/models") {
		return ""
	}
	return bare[strings.LastIndexByte(bare, '/')+1:]
}

// readModels answers a model-listing request on a route whose instances
// declare models: the listing from the configuration, without asking any
// provider, and a single model from the instance that serves it.
func (s *Stream) readModels() Action {
	if s.reqModel = modelID(s.path); s.reqModel != "" {
		if !s.pickInstance() {
			return Pause
		}
		return s.passthrough()
	}
	s.status, s.local, s.read = 200, true, true
	list := s.p.modelList
	if header(s.headers, "anthropic-version") != "" {
		list = s.p.anthropicModelList
	}
	s.h.SendLocal(200, [][2]string{{"content-type", "application/json"}}, list)
	return Pause
}
