package convert

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIdentityStream(t *testing.T) {
	tests := []struct {
		proto Protocol
		file  string
		usage Usage
		first bool
	}{
		{OpenAIChat, "openai/chat-stream-text.sse", Usage{}, true},
		{OpenAIChat, "openai/chat-stream-include-usage.sse", Usage{PromptTokens: 12, CompletionTokens: 100, TotalTokens: 112, ReasoningTokens: 100}, false},
		{OpenAIChat, "openai/chat-stream-tool-call.sse", Usage{PromptTokens: 48, CompletionTokens: 19, TotalTokens: 67}, true},
		{OpenAIChat, "openai/chat-stream-parallel-tool-calls.sse", Usage{PromptTokens: 149, CompletionTokens: 60, TotalTokens: 209}, true},
		{OpenAIChat, "openai/chat-stream-usage-in-finish-chunk.sse", Usage{PromptTokens: 9, CompletionTokens: 3, TotalTokens: 12}, true},
		{OpenAIChat, "openai/chat-stream-no-done-no-usage.sse", Usage{}, true},
		{OpenAIChat, "openai/chat-stream-error-midstream.sse", Usage{}, false},
		{OpenAIChat, "openai/openrouter-stream-keepalive.sse", Usage{PromptTokens: 8, CompletionTokens: 2, TotalTokens: 10}, true},
		{OpenAIResponses, "openai/responses-stream-text.sse", Usage{PromptTokens: 37, CompletionTokens: 11, TotalTokens: 48}, true},
		{AnthropicMessages, "anthropic/messages-stream-text.sse", Usage{PromptTokens: 11, CompletionTokens: 6, TotalTokens: 17}, true},
		{AnthropicMessages, "anthropic/messages-stream-text-padded.sse", Usage{PromptTokens: 509, CompletionTokens: 19, TotalTokens: 528}, true},
		{AnthropicMessages, "anthropic/messages-stream-tool-use.sse", Usage{PromptTokens: 377, CompletionTokens: 65, TotalTokens: 442}, true},
		{AnthropicMessages, "anthropic/messages-stream-tool-use-padded.sse", Usage{PromptTokens: 397, CompletionTokens: 89, TotalTokens: 486}, true},
		{AnthropicMessages, "anthropic/messages-stream-refusal.sse", Usage{PromptTokens: 20, CompletionTokens: 0, TotalTokens: 20}, false},
		{AnthropicMessages, "anthropic/messages-stream-error-midstream.sse", Usage{PromptTokens: 11, CompletionTokens: 1, TotalTokens: 12}, true},
		{AnthropicMessages, "anthropic/messages-stream-error-overloaded.sse", Usage{}, false},
	}
	rng := rand.New(rand.NewSource(7))
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			in := loadFixture(t, tc.file)
			for _, chunks := range chunkings(rng, in) {
				tr := mustNew(t, tc.proto, tc.proto)
				var out []byte
				for i, c := range chunks {
					got, err := tr.Stream(c, i == len(chunks)-1)
					if err != nil {
						t.Fatalf("Stream: %v", err)
					}
					if len(c) > 0 && &got[0] != &c[0] || len(got) != len(c) {
						t.Fatal("Stream must return the chunk itself, unbuffered")
					}
					out = append(out, got...)
				}
				if !bytes.Equal(out, in) {
					t.Fatal("stream bytes changed")
				}
				if got := tr.Usage(); got != tc.usage {
					t.Fatalf("Usage() = %+v, want %+v", got, tc.usage)
				}
				if got := tr.FirstToken(); got != tc.first {
					t.Fatalf("FirstToken() = %v, want %v", got, tc.first)
				}
			}
		})
	}
}

// TestIdentityStreamCache covers cache and reasoning counters, which the
// recorded fixtures leave at zero.
func TestIdentityStreamCache(t *testing.T) {
	tests := []struct {
		name   string
		proto  Protocol
		stream string
		usage  Usage
	}{
		{
			"openai cached and reasoning tokens", OpenAIChat,
			`data: {"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":5}}}` + "\n\n",
			Usage{PromptTokens: 100, CompletionTokens: 20, TotalTokens: 120, CacheReadTokens: 64, ReasoningTokens: 5},
		},
		{
			"openai usage with spaces (Python json.dumps)", OpenAIChat,
			`data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}` + "\n\n",
			Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
		},
		{
			"anthropic input excludes cache reads and writes", AnthropicMessages,
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":1000,\"cache_creation_input_tokens\":200,\"output_tokens\":1}}}\n\n" +
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":30}}\n\n" +
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":42}}\n\n",
			Usage{PromptTokens: 1210, CompletionTokens: 42, TotalTokens: 1252, CacheReadTokens: 1000, CacheCreationTokens: 200},
		},
		{
			"anthropic events without event lines", AnthropicMessages,
			"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n" +
				"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":3}}\n\n",
			Usage{PromptTokens: 10, CompletionTokens: 3, TotalTokens: 13},
		},
		{
			"responses cached and reasoning", OpenAIResponses,
			"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":50,\"input_tokens_details\":{\"cached_tokens\":30},\"output_tokens\":9,\"output_tokens_details\":{\"reasoning_tokens\":4},\"total_tokens\":59}}}\n\n",
			Usage{PromptTokens: 50, CompletionTokens: 9, TotalTokens: 59, CacheReadTokens: 30, ReasoningTokens: 4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := mustNew(t, tc.proto, tc.proto)
			if _, err := tr.Stream([]byte(tc.stream), true); err != nil {
				t.Fatal(err)
			}
			if got := tr.Usage(); got != tc.usage {
				t.Fatalf("Usage() = %+v, want %+v", got, tc.usage)
			}
		})
	}
}

func TestIdentityResponse(t *testing.T) {
	tests := []struct {
		proto Protocol
		file  string
		usage Usage
	}{
		{OpenAIChat, "openai/chat-response-basic.json", Usage{PromptTokens: 8, CompletionTokens: 377, TotalTokens: 385, ReasoningTokens: 320}},
		{OpenAIChat, "openai/azure-chat-response-basic.json", Usage{PromptTokens: 8, CompletionTokens: 271, TotalTokens: 279, ReasoningTokens: 192}},
		{OpenAIEmbeddings, "openai/embeddings-response-truncated.json", Usage{PromptTokens: 7, TotalTokens: 7}},
		{OpenAIResponses, "openai/responses-response-text.json", Usage{PromptTokens: 36, CompletionTokens: 87, TotalTokens: 123}},
		{AnthropicMessages, "anthropic/messages-response-tool-use.json", Usage{PromptTokens: 402, CompletionTokens: 89, TotalTokens: 491}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			in := loadFixture(t, tc.file)
			tr := mustNew(t, tc.proto, tc.proto)
			req := []byte(`{"model":"m"}`)
			if got, err := request(tr, req); err != nil || &got[0] != &req[0] {
				t.Fatalf("Request must return the body itself (err %v)", err)
			}
			got, err := tr.Response(in)
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("Response changed the body (err %v)", err)
			}
			if u := tr.Usage(); u != tc.usage {
				t.Fatalf("Usage() = %+v, want %+v", u, tc.usage)
			}
			errBody := []byte(`{"error":{"message":"x"}}`)
			if got := tr.Error(500, errBody); !bytes.Equal(got, errBody) {
				t.Fatalf("Error changed the body: %s", got)
			}
		})
	}
}

func TestIdentityRegistered(t *testing.T) {
	for _, p := range []Protocol{OpenAIChat, OpenAIResponses, OpenAIEmbeddings, AnthropicMessages} {
		tr := mustNew(t, p, p)
		if ct := tr.StreamContentType(); ct != "text/event-stream" {
			t.Errorf("%v: StreamContentType() = %q", p, ct)
		}
	}
}

func BenchmarkIdentityStreamPerEvent(b *testing.B) {
	for _, bc := range []struct {
		proto Protocol
		file  string
	}{
		{OpenAIChat, "openai/chat-stream-text.sse"},
		{AnthropicMessages, "anthropic/messages-stream-tool-use-padded.sse"},
	} {
		in, err := os.ReadFile(filepath.Join("testdata", bc.file))
		if err != nil {
			b.Fatal(err)
		}
		events := bytes.Count(in, []byte("\n\n"))
		b.Run(strings.TrimSuffix(filepath.Base(bc.file), ".sse"), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i += events {
				tr, _ := New(bc.proto, bc.proto)
				for off := 0; off < len(in); off += 512 {
					tr.Stream(in[off:min(off+512, len(in))], false)
				}
				tr.Stream(nil, true)
			}
		})
	}
}

// Helpers shared by the tests of this file's siblings.

func loadFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustNew(t testing.TB, client, upstream Protocol) Translator {
	t.Helper()
	tr, ok := New(client, upstream)
	if !ok {
		t.Fatalf("no translator registered for %v -> %v", client, upstream)
	}
	return tr
}

// chunkings returns the same stream cut several ways: whole, byte by byte,
// at every position into two pieces (for short streams), and randomly.
func chunkings(rng *rand.Rand, in []byte) [][][]byte {
	out := [][][]byte{{in}}
	one := make([][]byte, len(in))
	for i := range in {
		one[i] = in[i : i+1]
	}
	out = append(out, one)
	step := 1
	if len(in) > 2000 {
		step = len(in) / 500
	}
	for i := 1; i < len(in); i += step {
		out = append(out, [][]byte{in[:i], in[i:]})
	}
	for n := 0; n < 20; n++ {
		var cs [][]byte
		for rest := in; len(rest) > 0; {
			k := 1 + rng.Intn(min(len(rest), 100))
			cs = append(cs, rest[:k])
			rest = rest[k:]
		}
		out = append(out, cs)
	}
	return out
}

// BenchmarkIdentityResponse reads the usage of a small chat completion:
// the work every non-streamed OpenAI response costs.
func BenchmarkIdentityResponse(b *testing.B) {
	body := []byte(`{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`)
	tr, _ := New(OpenAIChat, OpenAIChat)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Response(body); err != nil || tr.Usage().TotalTokens != 10 {
			b.Fatal(err, tr.Usage())
		}
	}
}

func BenchmarkMemberOfUsage(b *testing.B) {
	body := []byte(`{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`)
	for i := 0; i < b.N; i++ {
		if len(memberOf(body, "usage")) == 0 {
			b.Fatal()
		}
	}
}
