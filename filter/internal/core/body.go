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

func parseOptions(opts []byte) []option {
	var out []option
	jsonbytes.Parse(opts).ForEach(func(k, v jsonbytes.Value) bool {
		if k.Str() != "model" {
			out = append(out, option{escapeKey(k.Str()), bytes.Clone(v)})
		}
		return true
	})
	return out
}

// edits collects top-level replacements; a later set of a key wins.
type edits struct {
	obj  *jsonbytes.Object
	sets []jsonbytes.Set
	dels []string
}

func (e *edits) set(key string, raw []byte) {
	for i, d := range e.dels {
		if d == key {
			e.dels = append(e.dels[:i], e.dels[i+1:]...)
			break
		}
	}
	for i := range e.sets {
		if e.sets[i].Key == key {
			e.sets[i].Raw = raw
			return
		}
	}
	e.sets = append(e.sets, jsonbytes.Set{Key: key, Raw: raw})
}

func (e *edits) del(key string) {
	for i := range e.sets {
		if e.sets[i].Key == key {
			e.sets = append(e.sets[:i], e.sets[i+1:]...)
			break
		}
	}
	e.dels = append(e.dels, key)
}

// get is the member's value after the edits so far.
func (e *edits) get(key string) ([]byte, bool) {
	for i := range e.sets {
		if e.sets[i].Key == key {
			return e.sets[i].Raw, true
		}
	}
	for _, d := range e.dels {
		if d == key {
			return nil, false
		}
	}
	return e.obj.Get(key)
}

// maxScratch bounds the edit buffer a plugin keeps between requests.
const maxScratch = 4 << 20

// rewriteBody applies b's settings to a body already in the
// upstream protocol and indexed in obj, in APISIX's order: options (model
// forced), the stream usage request, llm_options.max_tokens (always wins),
// then the request_body deep merge. It returns body itself when nothing
// changes, so an untouched body is never copied.
func (b *Backend) rewriteBody(buf *buildBuffers, t *target, body []byte, obj *jsonbytes.Object, stream bool) ([]byte, error) {
	e := edits{obj: obj, sets: buf.sets[:0], dels: buf.dels[:0]}
	defer func() { buf.sets, buf.dels = e.sets[:0], e.dels[:0] }() // reused by the next request
	for _, o := range b.options {
		e.set(o.key, o.raw)
	}
	switch {
	case !convert.ModelInBody(t.upstream):
		// The model travels in the path; Bedrock also rejects unknown
		// members such as stream.
		for _, k := range [...]string{"model", "stream"} {
			if obj.Has(k) {
				e.del(k)
			}
		}
	case b.cfg.Model != "":
		if cur, _ := obj.Get("model"); string(cur) != string(b.modelJSON) {
			e.set("model", b.modelJSON)
		}
	}
	if member := convert.StreamUsageMember(t.upstream); stream && member != "" {
		cur, _ := e.get(member)
		v, changed, err := convert.WithStreamUsage(cur)
		if err != nil {
			return nil, err
		}
		if changed {
			e.set(member, v)
		}
	}
	// Where the protocol has two names for the output cap, each provider
	// reads one (openai rejects max_tokens for reasoning models, most
	// others only know max_tokens): the client's value moves to the
	// provider's name.
	if alias := convert.MaxTokensAlias(t.upstream, t.maxTokens); alias != "" {
		if v, ok := obj.Get(alias); ok {
			if !obj.Has(t.maxTokens) {
				e.set(t.maxTokens, v)
			}
			e.del(alias)
		}
	}
	nested := false
	if b.cfg.MaxTokens > 0 && t.maxTokens != "" {
		if strings.IndexByte(t.maxTokens, '.') < 0 {
			e.set(t.maxTokens, b.maxTokensJSON)
		} else {
			nested = true
		}
	}
	if patch, ok := b.cfg.RequestBody[t.upstream]; ok {
		var err error
		jsonbytes.Parse(patch).ForEach(func(k, v jsonbytes.Value) bool {
			key := escapeKey(k.Str())
			cur, exists := e.get(key)
			switch {
			case v.IsObject() && exists && len(cur) > 0 && cur[0] == '{':
				var merged []byte
				merged, err = deepMerge(cur, v, b.cfg.RequestBodyForce)
				e.set(key, merged)
			case b.cfg.RequestBodyForce || !exists:
				e.set(key, v)
			}
			return err == nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := body
	if len(e.sets) > 0 || len(e.dels) > 0 {
		// The host copies the body out within the same callback, so one
		// buffer per plugin (per VM thread) serves every request.
		out = obj.AppendEdited(buf.scratch[:0], e.sets, e.dels)
		if cap(out) <= maxScratch {
			buf.scratch = out[:0]
		}
	}
	if nested {
		// A field inside an object (Bedrock's inferenceConfig.maxTokens).
		return jsonbytes.SetPath(out, t.maxTokens, b.maxTokensJSON)
	}
	return out, nil
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
