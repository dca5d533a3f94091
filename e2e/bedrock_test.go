package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/eventstream"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

var testAWS = mock.AWSCredentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", SessionToken: "session-token-example", Region: "us-east-1"}

const bedrockHost = "bedrock-runtime.us-east-1.amazonaws.com"

func bedrockConf(hold bool, extra string) string {
	h := ""
	if hold {
		h = `,"allow_on_headers_stop_iteration":true`
	}
	return `{"provider":"bedrock","provider_conf":{"region":"us-east-1"},"auth":{"aws":{"access_key_id":"` + testAWS.AccessKeyID +
		`","secret_access_key":"` + testAWS.SecretAccessKey + `","session_token":"` + testAWS.SessionToken + `"}}` + h + extra + `}`
}

// bedrockModes are the ways a Bedrock request can go: held headers
// (Envoy ≥ 1.35 with allow_on_headers_stop_iteration) or a callout.
var bedrockModes = []struct {
	profile host.Profile
	hold    bool
}{{host.EnvoyFixed, true}, {host.Envoy, false}, {host.APISIX, false}}

func modeName(p host.Profile, hold bool) string {
	if hold {
		return p.String() + "/hold"
	}
	return p.String() + "/callout"
}

// Converse passthrough as the APISIX doc describes it: the model from
// options or the body goes URL-encoded into the path, the body keeps only
// Converse members, and the mock verifies the SigV4 signature.
func TestBedrockConversePassthrough(t *testing.T) {
	arn := "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
	for _, m := range bedrockModes {
		t.Run(modeName(m.profile, m.hold), func(t *testing.T) {
			mk := mock.NewBedrock(mock.WithSigV4(testAWS))
			defer mk.Close()
			r := newRig(t, m.profile, bedrockConf(m.hold, `,"options":{"model":"`+arn+`"}`), map[string]string{bedrockHost: mk.URL})
			resp := r.do(t, "/bedrock/converse", `{"model":"ignored","messages":[{"role":"user","content":[{"text":"What is 1+1?"}]}],"inferenceConfig":{"maxTokens":64}}`)
			if resp.Status != 200 {
				t.Fatalf("%d %s", resp.Status, resp.Body)
			}
			if got := gjson.GetBytes(resp.Body, "output.message.content.0.text").Str; got != "You said: What is 1+1?" {
				t.Fatalf("answer %q in %s", got, resp.Body)
			}
			up := mk.Last()
			if up.Model != arn || !strings.Contains(up.EscapedPath, "arn%3Aaws%3Abedrock") || !strings.HasSuffix(up.EscapedPath, "/converse") {
				t.Fatalf("upstream path %s (model %s)", up.EscapedPath, up.Model)
			}
			if up.Get("model").Exists() || up.Get("stream").Exists() {
				t.Fatalf("non-Converse members sent: %s", up.Body)
			}
			fs := resp.FilterState
			tokens := fs["wasm.llm_prompt_tokens"] + fs["llm_prompt_tokens"]
			if tokens == "" || tokens == "0" {
				t.Fatalf("usage not counted: %v", fs)
			}
		})
	}
}

// ConverseStream passes through as an event stream, with usage read from
// its metadata frame; incremental only where headers can be held.
func TestBedrockConverseStream(t *testing.T) {
	for _, m := range bedrockModes {
		t.Run(modeName(m.profile, m.hold), func(t *testing.T) {
			mk := mock.NewBedrock(mock.WithSigV4(testAWS))
			defer mk.Close()
			r := newRig(t, m.profile, bedrockConf(m.hold, ""), map[string]string{bedrockHost: mk.URL})
			resp := r.do(t, "/model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream",
				`{"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":[{"text":"stream it"}]}]}`)
			if resp.Status != 200 {
				t.Fatalf("%d %s", resp.Status, resp.Body)
			}
			if ct, _ := resp.Get("content-type"); ct != "application/vnd.amazon.eventstream" {
				t.Fatalf("content-type %q", ct)
			}
			var d eventstream.Decoder
			msgs, err := d.Feed(resp.Body)
			if err != nil || len(msgs) == 0 {
				t.Fatalf("event stream: %v (%d messages)", err, len(msgs))
			}
			text := ""
			for _, msg := range msgs {
				if msg.Header(":event-type") == "contentBlockDelta" {
					text += gjson.GetBytes(msg.Payload, "delta.text").Str
				}
			}
			if text != "You said: stream it" {
				t.Fatalf("text %q", text)
			}
			if !strings.HasSuffix(mk.Last().EscapedPath, "/converse-stream") {
				t.Fatalf("path %s", mk.Last().EscapedPath)
			}
			fs := resp.FilterState
			if fs["wasm.llm_completion_tokens"]+fs["llm_completion_tokens"] == "" {
				t.Fatalf("usage from metadata missing: %v", fs)
			}
		})
	}
}

func TestBedrockRejectsOpenAIBodyOnConverseRoute(t *testing.T) {
	mk := mock.NewBedrock(mock.WithSigV4(testAWS))
	defer mk.Close()
	r := newRig(t, host.EnvoyFixed, bedrockConf(true, `,"options":{"model":"m"}`), map[string]string{bedrockHost: mk.URL})
	resp := r.do(t, "/v1/converse", `{"messages":[{"role":"user","content":"hi"}]}`)
	if resp.Status != 400 || !strings.Contains(string(resp.Body), "Converse API format") || mk.Count() != 0 {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
}

// An OpenAI client talks to Bedrock through the Converse translation,
// plain and streamed, with the official client.
func TestOpenAIClientToBedrock(t *testing.T) {
	for _, m := range bedrockModes {
		t.Run(modeName(m.profile, m.hold), func(t *testing.T) {
			mk := mock.NewBedrock(mock.WithSigV4(testAWS))
			defer mk.Close()
			plugin := strings.NewReplacer(`{`, "{", `}`, "}").Replace(bedrockConf(m.hold, `,"options":{"model":"anthropic.claude-3-haiku-20240307-v1:0"}`))
			base, _ := startGateway(t, m.profile, "routes:\n  - id: b\n    uri: /v1/chat/completions\n    plugins:\n      ai-proxy: "+plugin+"\nclusters:\n  "+bedrockHost+": "+mk.URL+"\n")
			c := client(base)
			ctx := context.Background()
			resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    "x",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hello bedrock")},
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Choices[0].Message.Content != "You said: hello bedrock" || resp.Usage.TotalTokens == 0 {
				t.Fatalf("%+v", resp)
			}
			if mk.Last().Get("system.0.text").Str != "be brief" {
				t.Fatalf("upstream %s", mk.Last().Body)
			}
			stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model: "x", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream bedrock")},
			})
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if acc.Choices[0].Message.Content != "You said: stream bedrock" {
				t.Fatalf("streamed %q", acc.Choices[0].Message.Content)
			}
		})
	}
}

// In callout mode on Envoy (no allow_on_headers_stop_iteration) the filter
// lets the request headers go on while it reads the body, and Envoy's router
// starts an upstream request with them at once (docs/envoy-versions.md).
// Those headers carry none of the client's credentials and point at the
// provider, not at the host the client named; the callout still answers.
func TestCalloutHeadersReachTheRouterDisarmed(t *testing.T) {
	for _, profile := range []host.Profile{host.Envoy, host.EnvoyFixed} {
		t.Run(profile.String(), func(t *testing.T) {
			mk := mock.NewBedrock(mock.WithSigV4(testAWS))
			defer mk.Close()
			r := newRig(t, profile, bedrockConf(false, `,"options":{"model":"m"}`), map[string]string{bedrockHost: mk.URL})
			req := &host.Request{Method: "POST", Path: "/v1/chat/completions", Authority: "attacker.example",
				Body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`),
				Header: [][2]string{{"content-type", "application/json"}, {"authorization", "Bearer client-secret"},
					{"x-api-key", "client-secret"}, {"proxy-authorization", "Basic client-secret"}}}
			resp, err := r.p.Do(context.Background(), req, host.Options{Upstream: host.HTTPUpstream(nil, r.resolve)})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != 200 || resp.Upstream != nil {
				t.Fatalf("%d %s (sent through the router: %v)", resp.Status, resp.Body, resp.Upstream != nil)
			}
			if resp.RouterHeaders == nil {
				t.Fatal("the request headers never left the filter; in Envoy they do, before the body")
			}
			for _, kv := range resp.RouterHeaders {
				if strings.Contains(kv[1], "client-secret") {
					t.Errorf("the router gets the client's %s: %q", kv[0], kv[1])
				}
			}
			if a, _ := host.Get(resp.RouterHeaders, ":authority"); a != bedrockHost {
				t.Errorf("the router would dial %q, want the provider %s", a, bedrockHost)
			}
		})
	}
}
