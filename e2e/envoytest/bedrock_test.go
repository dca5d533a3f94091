package envoytest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// testBedrock: OpenAI chat to Bedrock Converse, signed with SigV4 over the
// body (the mock verifies the signature and answers 403 otherwise), both
// ways a body-dependent request can go in Envoy:
//   - held headers: the plugin and Envoy's PluginConfig both set
//     allow_on_headers_stop_iteration (Envoy ≥ 1.35, so both pinned
//     versions); the request goes through the example's dynamic forward
//     proxy and a stream arrives event by event;
//   - callout: without it the filter sends the request with
//     proxy_http_call to the cluster named bedrock-runtime…:443.
//
// In callout mode Envoy cannot hold the request headers while the filter
// reads the body (without allow_on_headers_stop_iteration a StopIteration
// from the headers callback also stops the body), so the filter lets them
// pass unchanged: the dynamic forward proxy and the router then open an
// upstream request to the authority the client named, with the client's
// credentials, racing the callout. If it fails first (here the client's
// Host is Envoy itself, and TLS to it fails) the client gets Envoy's 503
// instead of the callout's answer. The callout listener therefore has
// Envoy's buffer filter after the filter, which holds the headers until
// the body is complete, which never happens, since the filter answers
// itself; no request goes through llm_dfp (checked below). Without the
// buffer filter this test fails. See docs/envoy-versions.md.
func testBedrock(t *testing.T, r *rig) {
	t.Run("callout headers go nowhere", func(t *testing.T) { testCalloutHeaders(t, r) })
	for _, mode := range []struct {
		listener string
		cluster  string // the cluster that must carry the requests
	}{
		{"bedrock_hold", "llm_dfp"},
		{"bedrock_callout", "bedrock-runtime.us-east-1.amazonaws.com_443"},
	} {
		t.Run(mode.listener, func(t *testing.T) {
			g := r.gw[mode.listener]
			before := r.Stats(t, "^cluster\\.(llm_dfp|bedrock-runtime.*)\\.upstream_rq_total$")
			r.bedrock.Reset()
			resp, body := g.post(t, "/v1/chat/completions", `{"model":"x","messages":[{"role":"user","content":"to bedrock"}],"max_tokens":50}`)
			if resp.StatusCode != 200 || gjson.Get(body, "choices.0.message.content").String() != "You said: to bedrock" {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
			if gjson.Get(body, "usage.prompt_tokens").Int() == 0 {
				t.Errorf("usage %s", gjson.Get(body, "usage"))
			}
			up := onlyRequest(t, r.bedrock)
			if up.Model != bedrockModel || !strings.HasSuffix(up.EscapedPath, "/converse") || !strings.Contains(up.EscapedPath, "%3A0") {
				t.Errorf("upstream path %s (model %s)", up.EscapedPath, up.Model)
			}
			if !strings.HasPrefix(up.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+labAWS.AccessKeyID+"/") {
				t.Errorf("upstream Authorization %q", up.Header.Get("Authorization"))
			}
			for name, vs := range up.Header {
				for _, v := range vs {
					if strings.Contains(v, clientSecret) {
						t.Errorf("the client's credential reached Bedrock in %s", name)
					}
				}
			}

			r.bedrock.Reset()
			resp, body = g.post(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"stream from bedrock"}],"stream":true}`)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("stream: got %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			events := sseData(body)
			var text strings.Builder
			for _, d := range events {
				text.WriteString(gjson.Get(d, "choices.0.delta.content").String())
			}
			if text.String() != "You said: stream from bedrock" || events[len(events)-1] != "[DONE]" {
				t.Errorf("stream text %q, events %q", text.String(), events)
			}
			if up := onlyRequest(t, r.bedrock); !strings.HasSuffix(up.EscapedPath, "/converse-stream") {
				t.Errorf("stream went to %s", up.EscapedPath)
			}

			after := r.Stats(t, "^cluster\\.(llm_dfp|bedrock-runtime.*)\\.upstream_rq_total$")
			for name := range after {
				if d := after[name] - before[name]; d != 0 && name != "cluster."+mode.cluster+".upstream_rq_total" {
					t.Errorf("%d requests went through %s, want all through %s", d, name, mode.cluster)
				}
			}
			if d := after["cluster."+mode.cluster+".upstream_rq_total"] - before["cluster."+mode.cluster+".upstream_rq_total"]; d != 2 {
				t.Errorf("%d requests went through cluster %s, want 2 (stats %v)", d, mode.cluster, after)
			}
		})
	}
}

// testCalloutHeaders: while a callout-mode request's body is on its way,
// its headers, with the client's credentials, must not travel on to the
// authority the client named (api.openai.com here). The client sends the
// headers, then waits up to 2 s for them to show up at api.openai.com
// before sending the body.
func testCalloutHeaders(t *testing.T, r *rig) {
	body := `{"messages":[{"role":"user","content":"slow body"}]}`
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, r.gw["bedrock_callout"].URL+"/v1/chat/completions", pr)
	req.ContentLength = int64(len(body))
	req.Host = "api.openai.com"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+clientSecret)
	req.Header.Set("X-Lab-Probe", "callout")
	leaked := make(chan http.Header, 1)
	go func() {
		select {
		case h := <-r.probe:
			leaked <- h
		case <-time.After(2 * time.Second):
			leaked <- nil
		}
		io.WriteString(pw, body)
		pw.Close()
	}()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := readBody(t, resp)
	if h := <-leaked; h != nil {
		t.Errorf("the request headers reached the client's authority api.openai.com before the body was sent, Authorization %q", h.Get("Authorization"))
	}
	if resp.StatusCode != 200 || gjson.Get(got, "choices.0.message.content").String() != "You said: slow body" {
		t.Errorf("got %d %s", resp.StatusCode, got)
	}
}
