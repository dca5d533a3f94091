package core

import (
	"strings"
	"testing"
)

// FuzzStream drives a whole request with arbitrary bodies, paths and
// upstream answers through every provider and host: the filter must never
// panic, because a panic kills the VM for every request on its worker.
func FuzzStream(f *testing.F) {
	for _, seed := range []struct{ path, body, resp string }{
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, "data: {\"choices\":[]}\n\n"},
		{"/anything", `{"input":"x"}`, `{"usage":{}}`},
		{"/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"tools":[{"name":"a b"}]}`, `{"choices":[{"message":{"tool_calls":[{}]}}]}`},
		{"/x/converse", `{"messages":[{"role":"user","content":[{"text":"x"}]}]}`, "\x00\x00\x00\x10"},
		{"/v1/responses", `{"input":[1,{}],"max_output_tokens":-1}`, "event: response.completed\ndata: {}\n\n"},
		{"/v1/embeddings", `{"input":[[1,2]],"dimensions":"x"}`, `{"predictions":[{"embeddings":{}}]}`},
	} {
		for i := range fuzzConfs {
			f.Add(seed.path, []byte(seed.body), []byte(seed.resp), uint8(i), uint8(0))
		}
	}
	f.Fuzz(func(t *testing.T, path string, body, resp []byte, conf, caps uint8) {
		mc, err := ParsePluginConfig([]byte(fuzzConfs[int(conf)%len(fuzzConfs)]), nil)
		if err != nil {
			t.Fatal(err)
		}
		c := [...]Caps{envoyCaps, apisixCaps, {BodyRewrite: true}}[int(caps)%3]
		// The high bits of caps pick the method: AI requests are POST, and
		// everything else must be refused or passed without a panic.
		method := [...]string{"POST", "GET", "PUT", "DELETE", "OPTIONS"}[int(caps>>2)%5]
		h := newFakeHost(withMethod(method, "/"+strings.TrimLeft(path, "/"))...)
		h.noRewrite = !c.BodyRewrite
		s := NewMultiPlugin(mc, c, newFakeRoot()).NewStream(h)
		s.OnRequestHeaders(append([][2]string(nil), h.reqHeaders...), false)
		h.reqBody = body
		s.OnRequestBody(len(body), true)
		if h.call != nil {
			s.OnCallResponse([][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}, resp, true)
		}
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}, false)
		for i := 0; i < len(resp); i += 7 {
			h.respBody = resp[i:min(i+7, len(resp))]
			s.OnResponseBody(len(h.respBody), i+7 >= len(resp))
		}
		s.OnResponseHeaders([][2]string{{":status", "500"}, {"content-type", "application/json"}}, false)
		h.respBody = resp
		s.OnResponseBody(len(resp), true)
		s.OnDone()
	})
}

var fuzzConfs = []string{
	`{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"options":{"model":"m"},"override":{"llm_options":{"max_tokens":5},"request_body":{"openai-chat":{"a":{"b":1}}}},"max_response_bytes":50}`,
	`{"provider":"deepseek","auth":{"header":{"Authorization":"Bearer k"}}}`,
	`{"provider":"anthropic","auth":{"header":{"x-api-key":"k"}}}`,
	`{"provider":"bedrock","provider_conf":{"region":"us-east-1"},"auth":{"aws":{"access_key_id":"a","secret_access_key":"b"}},"allow_on_headers_stop_iteration":true}`,
	`{"provider":"openai-compatible","auth":{"query":{"k":"v"}},"override":{"endpoint":"http://h:1/v1/messages"}}`,
	`{"provider":"gemini","auth":{"query":{"key":"k"}},"override":{"request_body_force_override":true,"request_body":{"openai-chat":{"messages":[]}}}}`,
	`{"ai-proxy-multi":{"balancer":{"algorithm":"chash","hash_on":"header","key":"x-user"},"instances":[` +
		`{"name":"a","provider":"openai","weight":1,"auth":{"header":{"Authorization":"Bearer k"}}},` +
		`{"name":"b","provider":"anthropic","weight":0,"priority":1,"auth":{"header":{"x-api-key":"k"}}},` +
		`{"name":"c","provider":"bedrock","weight":3,"provider_conf":{"region":"us-east-1"},"auth":{"aws":{"access_key_id":"a","secret_access_key":"b"}}}]}}`,
	`{"instances":[{"name":"a","provider":"openai","weight":1,"auth":{"header":{"Authorization":"Bearer k"}},"models":["m","gpt-*"]},` +
		`{"name":"b","provider":"anthropic","weight":1,"auth":{"header":{"x-api-key":"k"}},"models":["claude-*","m"]},` +
		`{"name":"c","provider":"bedrock","weight":1,"priority":-1,"provider_conf":{"region":"us-east-1"},"auth":{"aws":{"access_key_id":"a","secret_access_key":"b"}},"models":["*"]}]}`,
	`{"ai-proxy-multi":{"fallback_strategy":["rate_limiting"],"instances":[` +
		`{"name":"a","provider":"openai","weight":1,"auth":{"header":{"Authorization":"Bearer k"}}},` +
		`{"name":"b c","provider":"anthropic","weight":1,"auth":{"header":{"x-api-key":"k"}}}]},` +
		`"ai-rate-limiting":{"instances":[{"name":"a","limit":1,"time_window":60}],"limit":"${http_x_request_id}","time_window":60,` +
		`"limit_strategy":"expression","cost_expr":"max(input_tokens, 1) / 0 + total_tokens","per_consumer":true}}`,
	`{"ai-proxy":{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}}},` +
		`"ai-rate-limiting":{"rules":[{"count":1,"time_window":1,"key":"$http_x_request_id $arg_u"},{"count":"$http_content_length","time_window":"$uri","key":"$consumer_name"}]}}`,
}
