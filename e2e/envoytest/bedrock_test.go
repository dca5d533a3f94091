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
// pass, and Envoy's router would open an upstream request with them at
// once, racing the callout. The example therefore puts Envoy's buffer
// filter after the filter: it holds the headers until the body is
// complete, which never happens, since the filter answers itself; no
// request goes through llm_dfp (checked below). testCalloutHeaders checks
// the listener without it too. See docs/envoy-versions.md.
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
// the client's credentials reach no upstream, and the callout's answer
// reaches the client. The client names api.openai.com as its Host, sends
// the headers with its own Authorization and an X-Lab-Probe, and waits up
// to 1 s for an upstream to report them (both fronts report X-Lab-Probe
// requests, the callout's too, which carries the client's other headers)
// before it sends the body.
//   - bedrock_callout, the example with its buffer filter: the headers wait
//     there, so only the callout reaches an upstream (SigV4-signed);
//   - bedrock_callout_bare, without it: Envoy's router opens an upstream
//     request with the headers at once, but the filter has stripped the
//     client's credentials from them and pointed them at the provider.
func testCalloutHeaders(t *testing.T, r *rig) {
	for _, listener := range []string{"bedrock_callout", "bedrock_callout_bare"} {
		t.Run(listener, func(t *testing.T) {
			for len(r.probe) > 0 {
				<-r.probe
			}
			body := `{"messages":[{"role":"user","content":"slow body"}]}`
			pr, pw := io.Pipe()
			req, _ := http.NewRequest(http.MethodPost, r.gw[listener].URL+"/v1/chat/completions", pr)
			req.ContentLength = int64(len(body))
			req.Host = "api.openai.com"
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+clientSecret)
			req.Header.Set("X-Lab-Probe", listener)
			early := make(chan http.Header, 1)
			go func() {
				select {
				case h := <-r.probe:
					early <- h
				case <-time.After(time.Second):
					early <- nil
				}
				io.WriteString(pw, body)
				pw.Close()
			}()
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := readBody(t, resp)
			seen := []http.Header{}
			if h := <-early; h != nil {
				seen = append(seen, h)
			}
			for len(r.probe) > 0 {
				seen = append(seen, <-r.probe)
			}
			callouts := 0
			for _, h := range seen {
				for name, vs := range h {
					for _, v := range vs {
						if strings.Contains(v, clientSecret) {
							t.Errorf("the client's credential reached an upstream in %s (Host %s)", name, h.Get("X-Lab-Host"))
						}
					}
				}
				if strings.HasPrefix(h.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
					callouts++
				} else if listener == "bedrock_callout" {
					t.Errorf("a request other than the callout reached an upstream before the body was complete: Authorization %q", h.Get("Authorization"))
				}
			}
			if callouts != 1 {
				t.Errorf("%d SigV4-signed callouts reached Bedrock, want 1 (%d probes)", callouts, len(seen))
			}
			if resp.StatusCode != 200 || gjson.Get(got, "choices.0.message.content").String() != "You said: slow body" {
				t.Errorf("got %d %s", resp.StatusCode, got)
			}
		})
	}
}
