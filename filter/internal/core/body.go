package core

import (
	"bytes"
	"slices"
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

// editPlan is what a backend's settings do to the bodies it sends to one
// target, worked out once, when the backend is built.
type editPlan struct {
	t *target
	// A cap inside an object (Bedrock's inferenceConfig.maxTokens).
	nestedKey, nestedRest string
	// keys, by whether the request streams: the keys the settings
	// concern, those they may add in APISIX's order, then those they only
	// take out; rules[s][i] is what they do to keys[s][i].
	keys  [2][]string
	rules [2][]keyRule
}

// keyRule is what a backend's settings do to one top-level key, each
// step in the order Edit applies them.
type keyRule struct {
	option    []byte   // options sets it (the last value given)
	drop      bool     // model or stream where the model travels in the path: taken out
	model     bool     // the model, which options.model replaces
	usage     bool     // the member asking a stream to report its usage
	alias     bool     // the output cap's other name: its value moves to the cap
	maxTokens bool     // the output cap, where an alias's value moves
	capTokens bool     // llm_options.max_tokens sets it
	patch     [][]byte // request_body values, merged in
	nested    bool     // the object holding the cap (nestedKey)
}

func newEditPlan(b *Backend, t *target) *editPlan {
	p := &editPlan{t: t}
	alias := convert.MaxTokensAlias(t.upstream, t.maxTokens)
	var patch []option
	if int(t.upstream) < len(b.patches) {
		patch = b.patches[t.upstream]
	}
	top := t.maxTokens != "" && strings.IndexByte(t.maxTokens, '.') < 0
	if !top && t.maxTokens != "" && b.cfg.MaxTokens > 0 {
		p.nestedKey, p.nestedRest, _ = strings.Cut(t.maxTokens, ".")
	}
	modelInBody, member := convert.ModelInBody(t.upstream), convert.StreamUsageMember(t.upstream)
	for stream := range p.keys {
		var keys []string
		for _, o := range b.options {
			keys = append(keys, o.key)
		}
		if modelInBody && b.cfg.Model != "" {
			keys = append(keys, "model")
		}
		if stream == 1 && member != "" {
			keys = append(keys, member)
		}
		if top && (b.cfg.MaxTokens > 0 || alias != "") {
			keys = append(keys, t.maxTokens)
		}
		for _, o := range patch {
			keys = append(keys, o.key)
		}
		if p.nestedKey != "" {
			keys = append(keys, p.nestedKey)
		}
		// Keys only ever taken out come last: an absent one is not added.
		if !modelInBody {
			keys = append(keys, "model", "stream")
		}
		if alias != "" {
			keys = append(keys, alias)
		}
		keys = distinct(keys)
		rules := make([]keyRule, len(keys))
		for i, k := range keys {
			r := &rules[i]
			for _, o := range b.options {
				if o.key == k {
					r.option = o.raw
				}
			}
			r.drop = !modelInBody && (k == "model" || k == "stream")
			r.model = modelInBody && b.cfg.Model != "" && k == "model"
			r.usage = stream == 1 && member != "" && k == member
			r.alias = alias != "" && k == alias
			r.maxTokens = alias != "" && k == t.maxTokens
			r.capTokens = b.cfg.MaxTokens > 0 && top && k == t.maxTokens
			for _, o := range patch {
				if o.key == k {
					r.patch = append(r.patch, o.raw)
				}
			}
			r.nested = p.nestedKey != "" && k == p.nestedKey
		}
		p.keys[stream], p.rules[stream] = keys, rules
	}
	return p
}

// distinct returns keys without the repeats, each where it first is.
func distinct(keys []string) []string {
	out := keys[:0]
	for _, k := range keys {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// bodyEditor applies a backend's settings to the top-level members of a
// body in the upstream protocol, in APISIX's order: options (model
// forced), the stream usage request, llm_options.max_tokens (always
// wins), then the request_body deep merge. It is the jsonbytes.Editor a
// translator applies while it writes the upstream body, and the
// pass-through applies over the client's index, so the body is written
// once with the settings in it.
type bodyEditor struct {
	b        *Backend
	plan     *editPlan
	s        int    // plan.keys[s]: 1 for a streamed request
	aliasVal []byte // the client's value of the cap's other name, when hasAlias
	hasAlias bool
	err      error // the first Edit error: the settings could not be applied
}

// reset prepares e for one build of a request with b's plan p.
func (e *bodyEditor) reset(b *Backend, p *editPlan, stream bool) {
	*e = bodyEditor{b: b, plan: p, aliasVal: e.aliasVal[:0]}
	if stream {
		e.s = 1
	}
}

// Keys lists the keys the settings concern.
func (e *bodyEditor) Keys() []string { return e.plan.keys[e.s] }

// Edit folds every setting that concerns Keys()[i] over its value: raw
// as the body has it, nil when absent.
func (e *bodyEditor) Edit(i int, raw []byte) ([]byte, error) {
	b, p, r := e.b, e.plan, &e.plan.rules[e.s][i]
	present, v := raw != nil, raw
	if r.option != nil {
		v = r.option
	}
	switch {
	case r.drop:
		// The model travels in the path; Bedrock also rejects unknown
		// members such as stream.
		if present {
			v = nil
		}
	case r.model && string(raw) != string(b.modelJSON):
		v = b.modelJSON
	}
	if r.usage {
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
	switch {
	case r.alias && present:
		e.aliasVal, e.hasAlias = append(e.aliasVal[:0], raw...), true // raw may be overwritten
		v = nil
	case r.maxTokens && !present && e.hasAlias:
		v = e.aliasVal
	}
	if r.capTokens {
		v = b.maxTokensJSON
	}
	for _, patch := range r.patch {
		switch {
		case jsonbytes.Value(patch).IsObject() && len(v) > 0 && v[0] == '{':
			merged, err := deepMerge(v, patch, b.cfg.RequestBodyForce)
			if err != nil {
				return nil, e.fail(err)
			}
			v = merged
		case b.cfg.RequestBodyForce || v == nil:
			v = patch
		}
	}
	if r.nested {
		if !jsonbytes.Value(v).IsObject() {
			v = []byte("{}")
		}
		var err error
		if v, err = jsonbytes.SetPath(v, p.nestedRest, b.maxTokensJSON); err != nil {
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
