package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/eventstream"
)

// Goldens in testdata/bedrock/from-openai are Envoy AI Gateway's outputs
// (shared fixtures mapping/openai-to-bedrock) with its quirks removed:
// consecutive user turns merged, no "status":null in toolResult, no empty
// inferenceConfig, no "role" in every delta, no empty argument fragments.

func newOpenAIToBedrock(t testing.TB) *openAIToBedrock {
	t.Helper()
	tr := mustNew(t, OpenAIChat, BedrockConverse).(*openAIToBedrock)
	tr.id, tr.created, tr.model = "chatcmpl-test", 1700000000, "anthropic.claude-3-5-sonnet-20240620-v1:0"
	return tr
}

func TestOpenAIToBedrockRequestGolden(t *testing.T) {
	for _, name := range []string{"image-data-uri", "multiturn-developer", "tools", "stream-tool-call", "parallel-tool-results"} {
		t.Run(name, func(t *testing.T) {
			tr := newOpenAIToBedrock(t)
			in := loadFixture(t, "openai/chat-request-"+name+".json")
			out, err := request(tr, in)
			if err != nil {
				t.Fatal(err)
			}
			requireSameJSON(t, name, out, loadFixture(t, "bedrock/from-openai/request-"+name+".converse.json"))
		})
	}
}

func TestOpenAIToBedrockRequestRules(t *testing.T) {
	const tool = `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`
	const spec = `"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object"}}}}]`
	const call = `{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}`
	const use = `{"role":"assistant","content":[{"toolUse":{"toolUseId":"c1","name":"f","input":{}}}]}`
	tests := []struct {
		name, in, want string
	}{
		{"string content",
			`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`},
		{"system and developer parts join the system blocks; empty text is dropped",
			`{"messages":[{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":""}]},{"role":"developer","content":"b"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"text","text":""}]}]}`,
			`{"system":[{"text":"a"},{"text":"b"}],"messages":[{"role":"user","content":[{"text":"hi"}]}]}`},
		{"consecutive user messages merge",
			`{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":"c"},{"role":"assistant","content":"d"}]}`,
			`{"messages":[{"role":"user","content":[{"text":"a"},{"text":"b"}]},{"role":"assistant","content":[{"text":"c"},{"text":"d"}]}]}`},
		{"an assistant message without content is dropped",
			`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":""},{"role":"user","content":"b"}]}`,
			`{"messages":[{"role":"user","content":[{"text":"a"},{"text":"b"}]}]}`},
		{"tool results and a following user message share one user turn; empty arguments become {}",
			`{"messages":[{"role":"user","content":"q"},` + call + `,{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"r1"},{"type":"text","text":"r2"}]},{"role":"user","content":"more"}],` + tool + `}`,
			`{"messages":[{"role":"user","content":[{"text":"q"}]},` + use + `,{"role":"user","content":[{"toolResult":{"toolUseId":"c1","content":[{"text":"r1"},{"text":"r2"}]}},{"text":"more"}]}],"toolConfig":{` + spec + `}}`},
		{"assistant refusal part is text",
			`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]}]}`,
			`{"messages":[{"role":"user","content":[{"text":"q"}]},{"role":"assistant","content":[{"text":"no"}]}]}`},
		{"inference options; max_completion_tokens wins; stop string",
			`{"messages":[{"role":"user","content":"q"}],"max_tokens":5,"max_completion_tokens":9,"temperature":0.5,"top_p":0.9,"stop":"END","stream":true,"n":1,"user":"u"}`,
			`{"messages":[{"role":"user","content":[{"text":"q"}]}],"inferenceConfig":{"maxTokens":9,"temperature":0.5,"topP":0.9,"stopSequences":["END"]}}`},
		{"max_tokens alone; null stop",
			`{"messages":[{"role":"user","content":"q"}],"max_tokens":5,"max_completion_tokens":null,"stop":null}`,
			`{"messages":[{"role":"user","content":[{"text":"q"}]}],"inferenceConfig":{"maxTokens":5}}`},
		{"jpeg data URI",
			`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4A=="}}]}]}`,
			`{"messages":[{"role":"user","content":[{"image":{"format":"jpeg","source":{"bytes":"/9j/4A=="}}}]}]}`},
		{"tool_choice required",
			`{"messages":[{"role":"user","content":"q"}],"tool_choice":"required",` + tool + `}`,
			`{"messages":[{"role":"user","content":[{"text":"q"}]}],"toolConfig":{` + spec + `,"toolChoice":{"any":{}}}}`},
		{"tool_choice named; a tool without parameters gets an empty object schema",
			`{"messages":[{"role":"user","content":"q"}],"tool_choice":{"type":"function","function":{"name":"g"}},"tools":[{"type":"function","function":{"name":"g","description":"d"}}]}`,
			`{"messages":[{"role":"user","content":[{"text":"q"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"g","description":"d","inputSchema":{"json":{"type":"object","properties":{}}}}}],"toolChoice":{"tool":{"name":"g"}}}}`},
		{"tool_choice none drops the tools",
			`{"messages":[{"role":"user","content":"q"}],"tool_choice":"none",` + tool + `}`,
			`{"messages":[{"role":"user","content":[{"text":"q"}]}]}`},
		{"tool_choice none keeps the tools a tool history needs, without toolChoice",
			`{"messages":[{"role":"user","content":"q"},` + call + `,{"role":"tool","tool_call_id":"c1","content":"r"}],"tool_choice":"none",` + tool + `}`,
			`{"messages":[{"role":"user","content":[{"text":"q"}]},` + use + `,{"role":"user","content":[{"toolResult":{"toolUseId":"c1","content":[{"text":"r"}]}}]}],"toolConfig":{` + spec + `}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := request(newOpenAIToBedrock(t), []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			requireSameJSON(t, tt.name, out, []byte(tt.want))
		})
	}
}

func TestOpenAIToBedrockRequestErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"no messages", `{"model":"m"}`, "non-empty array"},
		{"empty messages", `{"messages":[]}`, "non-empty array"},
		{"only system", `{"messages":[{"role":"system","content":"s"}]}`, "no user or assistant"},
		{"unknown role", `{"messages":[{"role":"function","content":"x"}]}`, `messages[0]: role "function"`},
		{"image URL", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "data: URI"},
		{"image type", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AA=="}}]}]}`, `"image/bmp"`},
		{"audio part", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, `"input_audio"`},
		{"invalid arguments", `{"messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{oops"}}]}]}`, "messages[1]: tool_calls[0].function.arguments"},
		{"tool call without id", `{"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f"}}]}]}`, "needs an id"},
		{"tool message without id", `{"messages":[{"role":"tool","content":"r"}]}`, "tool_call_id"},
		{"allowed_tools choice", `{"messages":[{"role":"user","content":"q"}],"tool_choice":{"type":"allowed_tools"},"tools":[{"type":"function","function":{"name":"f"}}]}`, "tool_choice"},
		{"custom tool", `{"messages":[{"role":"user","content":"q"}],"tools":[{"type":"custom","custom":{"name":"f"}}]}`, `tools[0]`},
	}
	for _, tt := range tests {
		out, err := request(newOpenAIToBedrock(t), []byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v (out %s), want it to mention %q", tt.name, err, out, tt.wantErr)
		}
	}
}

func TestOpenAIToBedrockRequestEchoesModel(t *testing.T) {
	tr := mustNew(t, OpenAIChat, BedrockConverse)
	if _, err := request(tr, loadFixture(t, "openai/chat-request-basic.json")); err != nil {
		t.Fatal(err)
	}
	out, err := tr.Response(loadFixture(t, "bedrock/converse-response-text.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"model":"gpt-5-nano"`)) || !bytes.Contains(out, []byte(`"id":"chatcmpl-`)) {
		t.Fatalf("response lacks the client's model or an id: %s", out)
	}
}

func TestOpenAIToBedrockResponseGolden(t *testing.T) {
	tests := []struct {
		name string
		want Usage
	}{
		{"text", Usage{PromptTokens: 14, CompletionTokens: 11, TotalTokens: 25}},
		{"tool-use", Usage{PromptTokens: 375, CompletionTokens: 57, TotalTokens: 432}},
		{"max-tokens-cache", Usage{PromptTokens: 2060, CompletionTokens: 8, TotalTokens: 2068, CacheReadTokens: 2048}},
	}
	for _, tt := range tests {
		tr := newOpenAIToBedrock(t)
		out, err := tr.Response(loadFixture(t, "bedrock/converse-response-"+tt.name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		requireSameJSON(t, tt.name, out, loadFixture(t, "bedrock/from-openai/response-"+tt.name+".openai.json"))
		if u := tr.Usage(); u != tt.want {
			t.Errorf("%s: Usage() = %+v, want %+v", tt.name, u, tt.want)
		}
	}
}

func TestOpenAIToBedrockResponseMapping(t *testing.T) {
	const pre = `{"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"anthropic.claude-3-5-sonnet-20240620-v1:0","choices":[{"index":0,"message":`
	const usage = `"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`
	tests := []struct {
		name, content, stopReason, wantMessage, wantFinish string
	}{
		{"text blocks are joined", `[{"text":"a\n"},{"text":"b\"c"}]`, "end_turn", `{"role":"assistant","content":"a\nb\"c"}`, "stop"},
		{"reasoning", `[{"reasoningContent":{"reasoningText":{"text":"think","signature":"s"}}},{"text":"x"}]`, "stop_sequence", `{"role":"assistant","content":"x","reasoning_content":"think"}`, "stop"},
		{"tool calls only", `[{"toolUse":{"toolUseId":"t1","name":"f","input":{ "a" : [1, 2] }}},{"toolUse":{"toolUseId":"t2","name":"g","input":{}}}]`, "tool_use",
			`{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\":[1,2]}"}},{"id":"t2","type":"function","function":{"name":"g","arguments":"{}"}}]}`, "tool_calls"},
		{"max tokens", `[{"text":"x"}]`, "max_tokens", `{"role":"assistant","content":"x"}`, "length"},
		{"context window", `[]`, "model_context_window_exceeded", `{"role":"assistant","content":null}`, "length"},
		{"guardrail", `[{"text":"x"}]`, "guardrail_intervened", `{"role":"assistant","content":"x"}`, "content_filter"},
		{"content filtered", `[{"text":"x"}]`, "content_filtered", `{"role":"assistant","content":"x"}`, "content_filter"},
		{"malformed tool use", `[{"text":"x"}]`, "malformed_tool_use", `{"role":"assistant","content":"x"}`, "stop"},
	}
	for _, tt := range tests {
		in := `{"output":{"message":{"role":"assistant","content":` + tt.content + `}},"stopReason":"` + tt.stopReason + `","usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}`
		out, err := newOpenAIToBedrock(t).Response([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		requireSameJSON(t, tt.name, out, []byte(pre+tt.wantMessage+`,"finish_reason":"`+tt.wantFinish+`"}],`+usage))
	}

	// Envoy notes that output can be missing from a 200 response.
	out, err := newOpenAIToBedrock(t).Response([]byte(`{"stopReason":"end_turn"}`))
	if err != nil || !bytes.Contains(out, []byte(`"content":null`)) {
		t.Errorf("missing output: %v %s", err, out)
	}
	if _, err := newOpenAIToBedrock(t).Response([]byte(`{"output":`)); err == nil {
		t.Error("invalid JSON: no error")
	}
}

// sseEvents splits an SSE body into its data payloads.
func sseEvents(t testing.TB, body []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for _, ev := range bytes.SplitAfter(body, []byte("\n\n")) {
		if len(ev) == 0 {
			continue
		}
		data, ok := bytes.CutPrefix(ev, []byte("data: "))
		if !ok || !bytes.HasSuffix(data, []byte("\n\n")) || bytes.Contains(data[:len(data)-2], []byte("\n")) {
			t.Fatalf("not a single-line data event: %q", ev)
		}
		out = append(out, data[:len(data)-2])
	}
	return out
}

func requireSameEvents(t testing.TB, what string, got, want []byte) {
	t.Helper()
	g, w := sseEvents(t, got), sseEvents(t, want)
	for i := range min(len(g), len(w)) {
		if string(w[i]) == "[DONE]" || string(g[i]) == "[DONE]" {
			if string(g[i]) != string(w[i]) {
				t.Fatalf("%s: event %d is %s, want %s", what, i, g[i], w[i])
			}
			continue
		}
		requireSameJSON(t, fmt.Sprintf("%s: event %d", what, i), g[i], w[i])
	}
	if len(g) != len(w) {
		t.Fatalf("%s: %d events, want %d\n%s", what, len(g), len(w), got)
	}
}

func TestOpenAIToBedrockStreamGolden(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, fx := range bedrockStreams {
		in := loadFixture(t, "bedrock/converse-stream-"+fx.name+".bin")
		want := loadFixture(t, "bedrock/from-openai/stream-"+fx.name+".openai.sse")
		for _, chunks := range chunkings(rng, in) {
			tr := newOpenAIToBedrock(t)
			var got []byte
			var errs []error
			for i, c := range chunks {
				out, err := tr.Stream(c, i == len(chunks)-1)
				got = append(got, out...)
				if err != nil {
					errs = append(errs, err)
				}
			}
			what := fmt.Sprintf("%s in %d chunks", fx.name, len(chunks))
			requireSameEvents(t, what, got, want)
			if fx.exception == "" && len(errs) > 0 {
				t.Fatalf("%s: errors %v", what, errs)
			}
			var se *StreamError
			if fx.exception != "" && (len(errs) != 1 || !errors.As(errs[0], &se) || !strings.HasSuffix(fx.exception, se.Message)) {
				t.Fatalf("%s: errors %v, want one *StreamError for %q", what, errs, fx.exception)
			}
			if u := tr.Usage(); u != fx.usage {
				t.Fatalf("%s: Usage() = %+v, want %+v", what, u, fx.usage)
			}
			if tr.FirstToken() != fx.first {
				t.Fatalf("%s: FirstToken() = %v", what, tr.FirstToken())
			}
		}
	}
}

func TestOpenAIToBedrockStreamEndings(t *testing.T) {
	text := loadFixture(t, "bedrock/converse-stream-text.bin")
	frames := func(n int) []byte { // the first n messages of the text stream
		lens := []int{170, 178, 188, 165, 141, 196}
		end := 0
		for _, l := range lens[:n] {
			end += l
		}
		return text[:end]
	}
	corrupt := bytes.Clone(text)
	corrupt[len(corrupt)-1] ^= 1
	tests := []struct {
		name    string
		body    []byte
		wantErr error  // matched with errors.Is, or
		wantMsg string // contained in the *StreamError
	}{
		{"no bytes at all", nil, ErrEmptyStream, ""},
		{"cut inside a message", text[:len(text)-3], nil, "inside an event-stream message"},
		{"no messageStop", frames(3), nil, "before messageStop"},
		{"bad CRC", corrupt, nil, "message CRC"},
	}
	for _, tt := range tests {
		tr := newOpenAIToBedrock(t)
		out, err := tr.Stream(tt.body, true)
		var se *StreamError
		switch {
		case tt.wantErr != nil && !errors.Is(err, tt.wantErr),
			tt.wantErr == nil && (!errors.As(err, &se) || !strings.Contains(se.Message, tt.wantMsg)):
			t.Errorf("%s: err = %v", tt.name, err)
		}
		evs := sseEvents(t, out)
		if last := evs[len(evs)-1]; !bytes.HasPrefix(last, []byte(`{"error":{"message":`)) {
			t.Errorf("%s: the client stream does not end with an error event: %s", tt.name, out)
		}
		if more, err := tr.Stream(text, true); more != nil || err != nil {
			t.Errorf("%s: Stream after the end = %q, %v", tt.name, more, err)
		}
	}

	// A complete stream may arrive with eos on an empty final chunk.
	tr := newOpenAIToBedrock(t)
	out1, err1 := tr.Stream(text, false)
	out2, err2 := tr.Stream(nil, true)
	if err1 != nil || err2 != nil || bytes.Contains(out1, []byte("[DONE]")) || string(out2) != "data: [DONE]\n\n" {
		t.Errorf("eos on an empty chunk: %v %v %q", err1, err2, out2)
	}
}

func TestOpenAIToBedrockError(t *testing.T) {
	tests := []struct {
		status       int
		body         string
		wantType     string
		wantContains string
	}{
		{400, `{"message":"Malformed input request: 2 schema violations found, please reformat your input and try again."}`, "invalid_request_error", "Malformed input request"},
		{403, `{"message":"You don't have access to the model with the specified model ID."}`, "permission_error", "have access"},
		{429, `{"message":"Too many requests, please wait before trying again."}`, "rate_limit_error", "Too many requests"},
		{500, `internal failure`, "server_error", "internal failure"},
		{503, ``, "server_error", "empty"},
	}
	for _, tt := range tests {
		out := newOpenAIToBedrock(t).Error(tt.status, []byte(tt.body))
		var e struct {
			Error struct {
				Message, Type string
				Param, Code   any
			}
		}
		if err := json.Unmarshal(out, &e); err != nil || e.Error.Type != tt.wantType || !strings.Contains(e.Error.Message, tt.wantContains) {
			t.Errorf("%d %q: %s", tt.status, tt.body, out)
		}
	}
}

// openAIRequest builds a chat request of about size bytes: a system
// prompt, tools and a conversation of user, assistant and tool turns.
func openAIRequest(size int) []byte {
	b := []byte(`{"model":"anthropic.claude-3-5-sonnet-20240620-v1:0","max_completion_tokens":1024,"temperature":0.3,"stream":true,` +
		`"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],` +
		`"messages":[{"role":"system","content":"You are a helpful assistant."}`)
	for i := 0; len(b) < size-200; i++ {
		b = fmt.Appendf(b, `,{"role":"user","content":"Question %d: what is the weather like in Paris today, and \"why\"?"}`, i)
		b = fmt.Appendf(b, `,{"role":"assistant","content":null,"tool_calls":[{"id":"call_%d","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}`, i)
		b = fmt.Appendf(b, `,{"role":"tool","tool_call_id":"call_%d","content":"{\"temp_c\":21,\"sky\":\"clear\"}"}`, i)
		b = fmt.Appendf(b, `,{"role":"assistant","content":"It is 21°C and clear in Paris."}`)
	}
	return append(b, `]}`...)
}

func BenchmarkOpenAIToBedrockRequest(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1KB", 1 << 10}, {"100KB", 100 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			body := openAIRequest(size.n)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			obj := index(b, body)
			for b.Loop() {
				if _, err := newOpenAIToBedrock(b).Request(obj, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBedrockStreamPerEvent measures one text contentBlockDelta message
// arriving in its own chunk and leaving as one chat.completion.chunk.
func BenchmarkBedrockStreamPerEvent(b *testing.B) {
	var start, delta []byte
	start, _ = eventstream.AppendMessage(nil, bedrockEventHeaders("messageStart"), []byte(`{"role":"assistant"}`))
	delta, _ = eventstream.AppendMessage(nil, bedrockEventHeaders("contentBlockDelta"),
		[]byte(`{"contentBlockIndex":0,"delta":{"text":" the quick brown fox"},"p":"abcdefghijklmnop"}`))
	tr := newOpenAIToBedrock(b)
	tr.Stream(start, false)
	b.SetBytes(int64(len(delta)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := tr.Stream(delta, false)
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
	}
}

func bedrockEventHeaders(typ string) []eventstream.Header {
	return []eventstream.Header{
		eventstream.StringHeader(":event-type", typ),
		eventstream.StringHeader(":content-type", "application/json"),
		eventstream.StringHeader(":message-type", "event"),
	}
}

// TestOpenAIToBedrockRequestNullToolCalls: clients that echo an assistant
// message back (openai-python's model_dump, for one) send
// "tool_calls":null, which means no calls.
func TestOpenAIToBedrockRequestNullToolCalls(t *testing.T) {
	in := `{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","tool_calls":null,"function_call":null}]}`
	out, err := request(newOpenAIToBedrock(t), []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	requireSameJSON(t, "null tool_calls", out, []byte(`{"messages":[{"role":"user","content":[{"text":"q"}]},{"role":"assistant","content":[{"text":"a"}]}]}`))
}

// FuzzOpenAIToBedrock checks that no input makes the translator panic, and
// that JSON in gives JSON out: a request, a response or an error body.
func FuzzOpenAIToBedrock(f *testing.F) {
	for _, name := range []string{"openai/chat-request-tools.json", "openai/chat-request-parallel-tool-results.json", "openai/chat-request-image-data-uri.json", "bedrock/converse-response-tool-use.json"} {
		f.Add(loadFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tr := newOpenAIToBedrock(t)
		out, err := request(tr, in)
		if err == nil && json.Valid(in) && !json.Valid(out) {
			t.Fatalf("Request(%q) wrote invalid JSON %q", in, out)
		}
		if out, err := tr.Response(in); err == nil && json.Valid(in) && !json.Valid(out) {
			t.Fatalf("Response(%q) wrote invalid JSON %q", in, out)
		}
		if out := tr.Error(400, in); !json.Valid(out) {
			t.Fatalf("Error(%q) wrote invalid JSON %q", in, out)
		}
		tr.Stream(in, true)
	})
}
