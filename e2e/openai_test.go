package e2e

import (
	"bytes"
	"context"
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

// Each upstream SSE chunk reaches the client as it arrives and unchanged,
// whether it holds part of an event, one event or many: the filter never
// re-buffers a stream it does not translate.
func TestStreamIsNotRebuffered(t *testing.T) {
	upstream := [][]byte{
		[]byte(`data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}` + "\n\n"),
		[]byte(`data: {"choices":[{"index":0,"delta":{"content":"Hel"}}],"usage":null}` + "\n\ndata: {\"choices\":[{\"ind"),
		[]byte(`ex":0,"delta":{"content":"lo"}}],"usage":null}` + "\n"),
		[]byte("\n"),
		[]byte(": keep-alive comment\n\ndata: \n\n" + `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}` + "\n\n" +
			`data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}` + "\n\n"),
		[]byte("data: [DONE]\n\n"),
	}
	for _, profile := range []host.Profile{host.Envoy, host.EnvoyFixed} {
		t.Run(profile.String(), func(t *testing.T) {
			ctx := context.Background()
			p := newRig(t, profile, `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}}}`, nil).p
			var seenAt []int // upstream chunks read when each downstream chunk left
			read := 0
			up := func(context.Context, *host.UpstreamRequest) (*host.UpstreamResponse, error) {
				r := &chunkReader{chunks: append([][]byte(nil), upstream...)}
				return &host.UpstreamResponse{Status: 200, Header: [][2]string{{"content-type", "text/event-stream"}},
					Body: readCounter{r, &read}}, nil
			}
			resp, err := p.Do(ctx, chatRequest(true, 100), host.Options{Upstream: up, OnChunk: func([]byte) { seenAt = append(seenAt, read) }})
			if err != nil {
				t.Fatal(err)
			}
			var got [][]byte
			for _, c := range resp.Chunks {
				if len(c) > 0 {
					got = append(got, c)
				}
			}
			if len(got) != len(upstream) {
				t.Fatalf("%d upstream chunks became %d downstream chunks: %q", len(upstream), len(got), got)
			}
			for i := range upstream {
				if !bytes.Equal(got[i], upstream[i]) {
					t.Fatalf("chunk %d changed:\n got %q\nwant %q", i, got[i], upstream[i])
				}
			}
			for i, n := range seenAt[:len(upstream)] {
				if n != i+1 {
					t.Fatalf("downstream chunk %d left after %d upstream reads: held back", i, n)
				}
			}
			if resp.FilterState["wasm.llm_total_tokens"] != "7" || resp.FilterState["wasm.request_type"] != "ai_stream" {
				t.Fatalf("filter state %v", resp.FilterState)
			}
		})
	}
}

type readCounter struct {
	r *chunkReader
	n *int
}

func (c readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		*c.n++
	}
	return n, err
}
func (c readCounter) Close() error { return nil }

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
