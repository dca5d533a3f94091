package core

import (
	"bytes"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// option is one top-level member to set: the key as it appears between the
// quotes in JSON (escaped), and the raw value.
type option struct {
	key string
	raw []byte
}

// escapeKey renders k as it appears between quotes in JSON.
func escapeKey(k string) string {
	q := appendJSONString(nil, k)
	return string(q[1 : len(q)-1])
}

// parseMembers returns the members of the object obj but the one named
// skip.
func parseMembers(obj []byte, skip string) []option {
	var out []option
	jsonbytes.Parse(obj).ForEach(func(k, v jsonbytes.Value) bool {
		if k.Str() != skip {
			out = append(out, option{escapeKey(k.Str()), bytes.Clone(v)})
		}
		return true
	})
	return out
}

// maxScratch bounds the body buffer a plugin keeps between requests.
const maxScratch = 4 << 20

// bodyEditor applies a backend's settings to the top-level members of a
// body in the upstream protocol, in APISIX's order: options (model
// forced), the stream usage request, llm_options.max_tokens (always
// wins), then the request_body deep merge. It is the jsonbytes.Editor a
// translator applies while it writes the upstream body, and the
// pass-through applies over the client's index, so the body is written
// once with the settings in it.
type bodyEditor struct {
	b      *Backend
	t      *target
	stream bool
	patch  []option // request_body for t.upstream
	// The client's value of the output cap's other name (alias), moved to
	// t.maxTokens when that is absent.
	alias    string
	aliasVal []byte
	hasAlias bool
	// A cap inside an object (Bedrock's inferenceConfig.maxTokens).
	nestedKey, nestedRest string
	keys                  []string
	err                   error // the first Edit error: the settings could not be applied
}

// reset prepares e for one build of b's request to t.
func (e *bodyEditor) reset(b *Backend, t *target, stream bool) {
	*e = bodyEditor{b: b, t: t, stream: stream,
		alias: convert.MaxTokensAlias(t.upstream, t.maxTokens), aliasVal: e.aliasVal[:0], keys: e.keys[:0]}
	if int(t.upstream) < len(b.patches) {
		e.patch = b.patches[t.upstream]
	}
	for _, o := range b.options {
		e.keys = append(e.keys, o.key)
	}
	if convert.ModelInBody(t.upstream) && b.cfg.Model != "" {
		e.keys = append(e.keys, "model")
	}
	if member := convert.StreamUsageMember(t.upstream); stream && member != "" {
		e.keys = append(e.keys, member)
	}
	top := t.maxTokens != "" && strings.IndexByte(t.maxTokens, '.') < 0
	if top && (b.cfg.MaxTokens > 0 || e.alias != "") {
		e.keys = append(e.keys, t.maxTokens)
	}
	for _, p := range e.patch {
		e.keys = append(e.keys, p.key)
	}
	if !top && t.maxTokens != "" && b.cfg.MaxTokens > 0 {
		e.nestedKey, e.nestedRest, _ = strings.Cut(t.maxTokens, ".")
		e.keys = append(e.keys, e.nestedKey)
	}
	// Keys only ever taken out come last: an absent one is not added.
	if !convert.ModelInBody(t.upstream) {
		e.keys = append(e.keys, "model", "stream")
	}
	if e.alias != "" {
		e.keys = append(e.keys, e.alias)
	}
}

// Keys lists the keys the settings concern: those they may add, in
// APISIX's order, then those they only take out.
func (e *bodyEditor) Keys() []string { return e.keys }

// Edit folds every setting that concerns key over its value: raw as the
// body has it, nil when absent.
func (e *bodyEditor) Edit(key string, raw []byte) ([]byte, error) {
	b, t := e.b, e.t
	present, v := raw != nil, raw
	for _, o := range b.options {
		if o.key == key {
			v = o.raw
		}
	}
	switch {
	case !convert.ModelInBody(t.upstream):
		// The model travels in the path; Bedrock also rejects unknown
		// members such as stream.
		if present && (key == "model" || key == "stream") {
			v = nil
		}
	case key == "model" && b.cfg.Model != "" && string(raw) != string(b.modelJSON):
		v = b.modelJSON
	}
	if member := convert.StreamUsageMember(t.upstream); e.stream && member != "" && key == member {
		withUsage, changed, err := convert.WithStreamUsage(v)
		if err != nil {
			return nil, e.fail(err)
		}
		if changed {
			v = withUsage
		}
	}
	// Where the protocol has two names for the output cap, each provider
	// reads one (openai rejects max_tokens for reasoning models, most
	// others only know max_tokens): the client's value moves to the
	// provider's name.
	if e.alias != "" {
		switch {
		case key == e.alias && present:
			e.aliasVal, e.hasAlias = append(e.aliasVal[:0], raw...), true // raw may be overwritten
			v = nil
		case key == t.maxTokens && !present && e.hasAlias:
			v = e.aliasVal
		}
	}
	if b.cfg.MaxTokens > 0 && key == t.maxTokens && e.nestedKey == "" {
		v = b.maxTokensJSON
	}
	for _, p := range e.patch {
		if p.key != key {
			continue
		}
		switch {
		case jsonbytes.Value(p.raw).IsObject() && len(v) > 0 && v[0] == '{':
			merged, err := deepMerge(v, p.raw, b.cfg.RequestBodyForce)
			if err != nil {
				return nil, e.fail(err)
			}
			v = merged
		case b.cfg.RequestBodyForce || v == nil:
			v = p.raw
		}
	}
	if key == e.nestedKey && e.nestedKey != "" {
		if !jsonbytes.Value(v).IsObject() {
			v = []byte("{}")
		}
		var err error
		if v, err = jsonbytes.SetPath(v, e.nestedRest, b.maxTokensJSON); err != nil {
			return nil, e.fail(err)
		}
	}
	return v, nil
}

func (e *bodyEditor) fail(err error) error {
	if e.err == nil {
		e.err = err
	}
	return err
}

// deepMerge returns the object body with patch merged in, body itself when
// nothing changes: objects merge recursively; scalars, arrays and type
// mismatches replace the target when force is set or the target is
// missing. Keys are names, so one holding a '.' needs no escaping.
func deepMerge(body []byte, patch jsonbytes.Value, force bool) ([]byte, error) {
	var err error
	patch.ForEach(func(k, v jsonbytes.Value) bool {
		key := k.Str()
		cur := jsonbytes.Value(body).Member(key)
		switch {
		case v.IsObject() && cur.IsObject():
			var merged []byte
			if merged, err = deepMerge(cur, v, force); err == nil {
				body, err = jsonbytes.SetMember(body, key, merged)
			}
		case force || !cur.Exists():
			body, err = jsonbytes.SetMember(body, key, v)
		}
		return err == nil
	})
	return body, err
}
