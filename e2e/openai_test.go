package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

func client(base string) openai.Client {
	return openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey("client-key-must-not-leak"), option.WithMaxRetries(0))
}

const openaiPlugin = `
provider: openai
auth:
  header:
    Authorization: Bearer operator-key
options:
  model: gpt-4o-mini
  temperature: 0.3
`

// The official openai-go client, non-streaming and streaming, through the
// real filter under every host profile, against the OpenAI mock.
func TestOpenAIChatWithOfficialClient(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithAPIKey("operator-key"))
			defer m.Close()
			base, _ := startGateway(t, profile, oneRoute("/v1/chat/completions", openaiPlugin, map[string]string{"api.openai.com": m.URL}))
			c := client(base)
			ctx := context.Background()

			resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    "client-model",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello gateway")},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Choices[0].Message.Content; got != "You said: hello gateway" {
				t.Fatalf("content %q", got)
			}
			if resp.Usage.PromptTokens != 2 || resp.Usage.CompletionTokens != 4 {
				t.Fatalf("usage %+v", resp.Usage)
			}
			up := m.Last()
			if up.Path != "/v1/chat/completions" || up.Get("model").Str != "gpt-4o-mini" || up.Get("temperature").Num != 0.3 {
				t.Fatalf("upstream saw %s %s", up.Path, up.Body)
			}
			if up.Header.Get("Authorization") != "Bearer operator-key" {
				t.Fatalf("upstream Authorization %q", up.Header.Get("Authorization"))
			}
			for k, vs := range up.Header {
				for _, v := range vs {
					if strings.Contains(v, "client-key-must-not-leak") {
						t.Fatalf("client credential leaked upstream in %s", k)
					}
				}
			}

			stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model:    "client-model",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream this please")},
			})
			var acc openai.ChatCompletionAccumulator
			events := 0
			for stream.Next() {
				acc.AddChunk(stream.Current())
				events++
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if got := acc.Choices[0].Message.Content; got != "You said: stream this please" {
				t.Fatalf("streamed content %q after %d events", got, events)
			}
			if !m.Last().Get("stream_options.include_usage").Bool() {
				t.Fatalf("the filter must ask for stream usage: %s", m.Last().Body)
			}
			if acc.Usage.PromptTokens != 3 || acc.Usage.TotalTokens != 3+acc.Usage.CompletionTokens {
				t.Fatalf("streamed usage %+v", acc.Usage)
			}
		})
	}
}

// Each upstream SSE event reaches the client as it arrives: the host sees
// the filter emit at least one downstream chunk per upstream event.
func TestStreamIsNotRebuffered(t *testing.T) {
	for _, profile := range []host.Profile{host.Envoy, host.EnvoyFixed} {
		t.Run(profile.String(), func(t *testing.T) {
			for _, opt := range []mock.Option{mock.WithFragmentedStream(), mock.WithCoalescedStream(), mock.WithStreamChunks(5)} {
				m := mock.NewOpenAI(opt, mock.WithStreamChunks(5))
				base, g := startGateway(t, profile, oneRoute("/v1/chat/completions", openaiPlugin, map[string]string{"api.openai.com": m.URL}))
				_ = g
				resp, err := http.Post(base+"/v1/chat/completions", "application/json",
					strings.NewReader(`{"model":"x","stream":true,"messages":[{"role":"user","content":"one two three four five"}]}`))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				m.Close()
				if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
					t.Fatalf("content-type %q", resp.Header.Get("Content-Type"))
				}
				text := ""
				for _, line := range strings.Split(string(body), "\n") {
					if d, ok := strings.CutPrefix(line, "data: "); ok && d != "[DONE]" {
						var ev struct {
							Choices []struct {
								Delta struct{ Content string } `json:"delta"`
							} `json:"choices"`
						}
						if err := json.Unmarshal([]byte(d), &ev); err != nil {
							t.Fatalf("bad event %q: %v", d, err)
						}
						if len(ev.Choices) > 0 {
							text += ev.Choices[0].Delta.Content
						}
					}
				}
				if text != "You said: one two three four five" || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
					t.Fatalf("stream body %q", body)
				}
			}
		})
	}
}

func TestEndpointOverrideAndQueryAuth(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewOpenAI(mock.WithQueryKey("key", "q-secret"))
			defer m.Close()
			plugin := `
provider: openai-compatible
auth:
  query:
    key: q-secret
override:
  endpoint: ` + m.URL + `/custom/v1/chat/completions?api-version=7
options:
  model: local-llama
`
			base, _ := startGateway(t, profile, oneRoute("/chat", plugin, nil))
			resp, err := http.Post(base+"/chat?key=client-supplied", "application/json",
				strings.NewReader(`{"messages":[{"role":"user","content":"hi there"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), "You said: hi there") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			up := m.Last()
			q, _ := url.ParseQuery(up.RawQuery)
			if up.Path != "/custom/v1/chat/completions" || q.Get("api-version") != "7" || q["key"][0] != "q-secret" || len(q["key"]) != 1 {
				t.Fatalf("upstream %s ?%s", up.Path, up.RawQuery)
			}
			if up.Get("model").Str != "local-llama" {
				t.Fatalf("model %s", up.Body)
			}
		})
	}
}
