package core

import (
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
)

// keyPath escapes an object key for use as a one-segment gjson/sjson path.
func keyPath(k string) string {
	if !strings.ContainsAny(k, `.*?|#@\!=<>%~`) {
		return k
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if strings.IndexByte(`.*?|#@\!=<>%~`, k[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(k[i])
	}
	return b.String()
}

// option is one entry of the options object, ready to set.
type option struct {
	path string
	raw  string
}

func parseOptions(opts []byte) []option {
	var out []option
	gjson.ParseBytes(opts).ForEach(func(k, v gjson.Result) bool {
		if k.Str != "model" {
			out = append(out, option{keyPath(k.Str), v.Raw})
		}
		return true
	})
	return out
}

// hasModelField reports whether the protocol carries the model in its body.
func hasModelField(p convert.Protocol) bool {
	return p != convert.BedrockConverse && p != convert.VertexPredict
}

// rewriteBody applies the operator's settings to a body that is already in
// the upstream protocol, in APISIX's order: options (model forced), the
// stream usage request, llm_options.max_tokens (always wins), then the
// request_body deep merge.
func (p *Plugin) rewriteBody(t *target, body []byte, stream bool) ([]byte, error) {
	var err error
	set := func(path, raw string) {
		if err == nil {
			body, err = sjson.SetRawBytes(body, path, []byte(raw))
		}
	}
	for _, o := range p.options {
		set(o.path, o.raw)
	}
	if p.cfg.Model != "" && hasModelField(t.upstream) {
		set("model", p.modelJSON)
	}
	if stream && t.upstream == convert.OpenAIChat && !gjson.GetBytes(body, "stream_options.include_usage").Bool() {
		set("stream_options.include_usage", "true")
	}
	if p.cfg.Provider.DropMaxTokens && t.upstream == convert.OpenAIChat {
		if mt := gjson.GetBytes(body, "max_tokens"); mt.Exists() {
			if !gjson.GetBytes(body, "max_completion_tokens").Exists() {
				set("max_completion_tokens", mt.Raw)
			}
			if err == nil {
				body, err = sjson.DeleteBytes(body, "max_tokens")
			}
		}
	}
	if p.cfg.MaxTokens > 0 && t.maxTokens != "" {
		set(t.maxTokens, p.maxTokensJSON)
	}
	if patch, ok := p.cfg.RequestBody[t.upstream]; ok && err == nil {
		body, err = deepMerge(body, "", gjson.ParseBytes(patch), p.cfg.RequestBodyForce)
	}
	return body, err
}

// deepMerge merges patch into body at prefix: objects merge recursively;
// scalars, arrays and type mismatches replace the target when force is set
// or the target is missing.
func deepMerge(body []byte, prefix string, patch gjson.Result, force bool) ([]byte, error) {
	var err error
	patch.ForEach(func(k, v gjson.Result) bool {
		path := prefix + keyPath(k.Str)
		cur := gjson.GetBytes(body, path)
		if v.IsObject() && cur.IsObject() {
			body, err = deepMerge(body, path+".", v, force)
		} else if force || !cur.Exists() {
			body, err = sjson.SetRawBytes(body, path, []byte(v.Raw))
		}
		return err == nil
	})
	return body, err
}
