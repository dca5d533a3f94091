package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/sse"
	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
)

// envoyPair is one reference translation from testdata/mapping (Envoy AI
// Gateway's output, see testdata/mapping/index.json) and how this
// gateway deliberately differs from it.
type envoyPair struct {
	input, output string
	// differs patches Envoy's output into ours: dotted path → new value,
	// or removed to delete the key. Each entry says why.
	differs map[string]any
}

// removed marks a key this gateway does not write.
var removed = &struct{ removed bool }{true}

func TestAnthropicToOpenAIRequestGolden(t *testing.T) {
	pairs := []envoyPair{
		{"anthropic/messages-request-full.json", "mapping/anthropic-to-openai/request-full.openai.json", map[string]any{
			// APISIX maps these; Envoy ignores them (docs/protocol-mapping.md#anthropic-to-openai).
			"parallel_tool_calls": false,
			"user":                "user-1234",
		}},
		{"anthropic/messages-request-tool-result.json", "mapping/anthropic-to-openai/request-tool-result.openai.json", nil},
		{"anthropic/messages-request-stream-tools.json", "mapping/anthropic-to-openai/request-stream-tools.openai.json", nil},
		{"anthropic/messages-request-minimal-string-content.json", "mapping/anthropic-to-openai/request-minimal.openai.json", nil},
	}
	for _, p := range pairs {
		t.Run(p.output, func(t *testing.T) {
			tr := mustNew(t, AnthropicMessages, OpenAIChat)
			got, err := request(tr, loadFixture(t, p.input))
			if err != nil {
				t.Fatal(err)
			}
			want := semJSON(t, loadFixture(t, p.output))
			patchJSON(t, want, p.differs)
			requireJSONEq(t, semJSON(t, got), want)
			// The official SDK must read it.
			var params openai.ChatCompletionNewParams
			if err := json.Unmarshal(got, &params); err != nil || len(params.Messages) != len(want.(map[string]any)["messages"].([]any)) {
				t.Fatalf("openai SDK reads %d messages (%v)", len(params.Messages), err)
			}
		})
	}
}

func TestAnthropicToOpenAIResponseGolden(t *testing.T) {
	pairs := []envoyPair{
		{"openai/chat-response-tool-calls.json", "mapping/anthropic-to-openai/response-tool-calls.anthropic.json", map[string]any{
			"stop_sequence": nil, // a required (nullable) field of Message; Envoy omits it
		}},
		{"openai/chat-response-basic.json", "mapping/anthropic-to-openai/response-basic.anthropic.json", map[string]any{
			"stop_sequence": nil,
		}},
	}
	for _, p := range pairs {
		t.Run(p.output, func(t *testing.T) {
			tr := mustNew(t, AnthropicMessages, OpenAIChat)
			got, err := tr.Response(loadFixture(t, p.input))
			if err != nil {
				t.Fatal(err)
			}
			want := semJSON(t, loadFixture(t, p.output))
			patchJSON(t, want, p.differs)
			requireJSONEq(t, semJSON(t, got), want)
			// The official SDK must read it.
			var m anthropic.Message
			if err := json.Unmarshal(got, &m); err != nil || m.Type != "message" || m.Role != "assistant" {
				t.Fatalf("anthropic SDK cannot read the response: %v", err)
			}
		})
	}
}

// TestAnthropicToOpenAIStreamGolden converts recorded OpenAI streams, cut in
// many ways, and checks that (1) every cut gives the same bytes, (2) the
// event sequence is well formed, (3) the official SDK accumulates the same
// message from it as from Envoy's translation.
func TestAnthropicToOpenAIStreamGolden(t *testing.T) {
	pairs := []struct {
		input, output string
		usage         Usage
	}{
		{"openai/chat-stream-tool-call.sse", "mapping/anthropic-to-openai/stream-tool-call.anthropic.sse", Usage{PromptTokens: 48, CompletionTokens: 19, TotalTokens: 67}},
		{"openai/chat-stream-parallel-tool-calls.sse", "mapping/anthropic-to-openai/stream-parallel-tool-calls.anthropic.sse", Usage{PromptTokens: 149, CompletionTokens: 60, TotalTokens: 209}},
		{"openai/chat-stream-include-usage.sse", "mapping/anthropic-to-openai/stream-include-usage-length.anthropic.sse", Usage{PromptTokens: 12, CompletionTokens: 100, TotalTokens: 112, ReasoningTokens: 100}},
	}
	rng := rand.New(rand.NewSource(3))
	for _, p := range pairs {
		t.Run(p.output, func(t *testing.T) {
			in := loadFixture(t, p.input)
			want := accumulateAnthropic(t, loadFixture(t, p.output))
			var first []byte
			for _, chunks := range chunkings(rng, in) {
				tr := mustNew(t, AnthropicMessages, OpenAIChat)
				out, err := streamAllChunks(tr, chunks)
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				if first == nil {
					first = out
					got := accumulateAnthropic(t, out)
					requireJSONEq(t, got, want)
				} else if !bytes.Equal(out, first) {
					t.Fatalf("output depends on chunking:\n%s\nvs\n%s", out, first)
				}
				if u := tr.Usage(); u != p.usage {
					t.Fatalf("Usage() = %+v, want %+v", u, p.usage)
				}
			}
		})
	}
}

// TestAnthropicToOpenAIStreamRepeatedHead checks the shortcut that reads a
// chunk from "choices" on when it starts like the chunk before: every
// chat stream fixture converts the same when each chunk is made to start
// differently, and members before "choices" that change are read.
func TestAnthropicToOpenAIStreamRepeatedHead(t *testing.T) {
	for _, name := range []string{"chat-stream-text", "chat-stream-tool-call", "chat-stream-parallel-tool-calls", "chat-stream-include-usage",
		"chat-stream-usage-in-finish-chunk", "chat-stream-error-midstream", "chat-stream-no-done-no-usage", "openrouter-stream-keepalive"} {
		in := loadFixture(t, "openai/"+name+".sse")
		var distinct []byte // each data line starts with its own "n" member
		n := 0
		for _, line := range bytes.SplitAfter(in, []byte("\n")) {
			if rest, ok := bytes.CutPrefix(line, []byte(`data: {"`)); ok {
				line = append([]byte(`data: {"n":`+strconv.Itoa(n)+`,"`), rest...)
				n++
			}
			distinct = append(distinct, line...)
		}
		tr1, tr2 := mustNew(t, AnthropicMessages, OpenAIChat), mustNew(t, AnthropicMessages, OpenAIChat)
		out1, err1 := streamAllChunks(tr1, [][]byte{in})
		out2, err2 := streamAllChunks(tr2, [][]byte{distinct})
		if !bytes.Equal(out1, out2) || (err1 == nil) != (err2 == nil) || tr1.Usage() != tr2.Usage() {
			t.Errorf("%s: repeated heads give\n%s %v %+v\ndistinct heads give\n%s %v %+v", name, out1, err1, tr1.Usage(), out2, err2, tr2.Usage())
		}
	}

	const first = `data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n"
	const usage = `"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4},`
	const finish = `"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
	for _, last := range []string{
		`data: {"id":"c1","model":"m",` + usage + finish,      // the same head, then usage
		`data: {` + usage + `"id":"c1","model":"m",` + finish, // another head
	} {
		tr := mustNew(t, AnthropicMessages, OpenAIChat)
		out, err := streamAllChunks(tr, [][]byte{[]byte(first + last)})
		if want := (Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4}); err != nil || tr.Usage() != want || !bytes.Contains(out, []byte("message_stop")) {
			t.Errorf("usage ahead of choices in %s: %v, Usage() = %+v, want %+v\n%s", last, err, tr.Usage(), want, out)
		}
	}
}

// TestAnthropicToOpenAIStreamFixtures runs every OpenAI stream fixture and
// checks the well-formedness of the result and what it says.
func TestAnthropicToOpenAIStreamFixtures(t *testing.T) {
	tests := []struct {
		file    string
		text    string // the text block; "" with derive: the upstream's text
		derive  bool
		stop    anthropic.StopReason
		in, out int64
		err     bool // ends with an error event
	}{
		{file: "openai/chat-stream-text.sse", derive: true, stop: "end_turn"},
		{file: "openai/chat-stream-usage-in-finish-chunk.sse", text: "Hello!", stop: "end_turn", in: 9, out: 3},
		{file: "openai/chat-stream-no-done-no-usage.sse", text: "Hi", stop: "end_turn"},
		{file: "openai/openrouter-stream-keepalive.sse", text: "Hi!", stop: "end_turn", in: 8, out: 2},
		{file: "openai/chat-stream-error-midstream.sse", err: true},
	}
	rng := rand.New(rand.NewSource(5))
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			in := loadFixture(t, tc.file)
			if tc.derive {
				tc.text = openAIStreamText(t, in)
			}
			for _, chunks := range chunkings(rng, in) {
				tr := mustNew(t, AnthropicMessages, OpenAIChat)
				out, err := streamAllChunks(tr, chunks)
				evs := checkAnthropicEvents(t, out)
				if tc.err {
					var se *StreamError
					if !errors.As(err, &se) || se.Type != "api_error" {
						t.Fatalf("want a StreamError of type api_error, got %v", err)
					}
					if last := evs[len(evs)-1]; last.name != "error" || !strings.Contains(last.data, "The server had an error") {
						t.Fatalf("last event = %+v, want the upstream error", last)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				m := accumulateAnthropicMessage(t, out)
				if len(m.Content) != 1 || m.Content[0].Text != tc.text {
					t.Fatalf("content = %+v, want one text block %q", m.Content, tc.text)
				}
				if m.StopReason != tc.stop || m.Usage.InputTokens != tc.in || m.Usage.OutputTokens != tc.out {
					t.Fatalf("stop %q usage %d/%d, want %q %d/%d", m.StopReason, m.Usage.InputTokens, m.Usage.OutputTokens, tc.stop, tc.in, tc.out)
				}
				if !tr.FirstToken() {
					t.Fatal("FirstToken() = false after content")
				}
			}
		})
	}
}

// TestAnthropicToOpenAIStreamEdges covers what real OpenAI-compatible
// upstreams do besides the recorded fixtures (docs/protocol-mapping.md#upstream-quirks).
func TestAnthropicToOpenAIStreamEdges(t *testing.T) {
	const (
		role  = `data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}` + "\n\n"
		hello = `data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"usage":null}` + "\n\n"
		stop  = `data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}` + "\n\n"
		usage = `data: {"id":"c1","model":"m","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":4}}}` + "\n\n"
		done  = "data: [DONE]\n\n"
	)
	tests := []struct {
		name      string
		stream    string
		want      string // compact summary of the event sequence
		err       error  // want errors.Is
		streamErr bool   // want a *StreamError
	}{
		{
			name:   "usage chunk after finish: message_delta waits for it",
			stream: role + hello + stop + usage + done,
			want:   "message_start cbs0:text cbd0:Hello cb_stop0 message_delta:end_turn:6/2/4/0 message_stop",
		},
		{
			name:   "role and content in the first chunk",
			stream: `data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}` + "\n\n" + stop + done,
			want:   "message_start cbs0:text cbd0:Hi cb_stop0 message_delta:end_turn:0/0/0/0 message_stop",
		},
		{
			name:   "content and finish in one chunk, usage in it too (DeepSeek)",
			stream: `data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":1}}` + "\n\n" + done,
			want:   "message_start cbs0:text cbd0:Hi cb_stop0 message_delta:max_tokens:5/1/0/0 message_stop",
		},
		{
			name:   "null, empty and doubled finish_reason; the first one counts",
			stream: role + `data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":""}]}` + "\n\n" + hello + `data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}` + "\n\n" + stop + usage + done,
			want:   "message_start cbs0:text cbd0:a cbd0:Hello cb_stop0 message_delta:max_tokens:6/2/4/0 message_stop",
		},
		{
			name:   "empty frames, comments and foreign data are skipped",
			stream: ": keepalive\n\ndata:\n\ndata: \n\nevent: ping\ndata: ping\n\n" + hello + stop + done,
			want:   "message_start cbs0:text cbd0:Hello cb_stop0 message_delta:end_turn:0/0/0/0 message_stop",
		},
		{
			name:   "chunks after the end are ignored",
			stream: hello + stop + usage + hello + done + hello,
			want:   "message_start cbs0:text cbd0:Hello cb_stop0 message_delta:end_turn:6/2/4/0 message_stop",
		},
		{
			name: "reasoning_content becomes a thinking block, closed before text",
			stream: `data: {"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Let me"},"finish_reason":null}]}` + "\n\n" +
				`data: {"choices":[{"index":0,"delta":{"reasoning_content":" think"},"finish_reason":null}]}` + "\n\n" +
				hello + stop + done,
			want: "message_start cbs0:thinking cbd0:Let me cbd0: think cb_stop0 cbs1:text cbd1:Hello cb_stop1 message_delta:end_turn:0/0/0/0 message_stop",
		},
		{
			name: "text then two tool calls keyed by index",
			stream: hello +
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"f","arguments":""}}]}}]}` + "\n\n" +
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":1}"}}]}}]}` + "\n\n" +
				`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"g","arguments":"{}"}}]}}]}` + "\n\n" +
				`data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\n" + done,
			want: `message_start cbs0:text cbd0:Hello cb_stop0 cbs1:tool_use:call_a:f cbd1:{"x":1} cb_stop1 cbs2:tool_use:call_b:g cbd2:{} cb_stop2 message_delta:tool_use:0/0/0/0 message_stop`,
		},
		{
			name:   "finish_reason stop after tool calls is reported as tool_use",
			stream: `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}]}` + "\n\n" + done,
			want:   `message_start cbs0:tool_use:call_a:f cbd0:{} cb_stop0 message_delta:tool_use:0/0/0/0 message_stop`,
		},
		{
			name:   "finish without content is a valid empty message",
			stream: role + stop + usage + done,
			want:   "message_start message_delta:end_turn:6/2/4/0 message_stop",
		},
		{
			name:      "mid-stream error becomes an Anthropic error event",
			stream:    hello + `data: {"error":{"message":"boom","type":"server_error","param":null,"code":null}}` + "\n\n" + stop,
			want:      "message_start cbs0:text cbd0:Hello error:api_error:boom",
			streamErr: true,
		},
		{
			name:   "a stream that produced nothing is an error",
			stream: role + done,
			want:   "error:api_error:upstream stream ended without producing a message",
			err:    ErrEmptyStream,
		},
		{
			name:   "an empty body is an error",
			stream: "",
			want:   "error:api_error:upstream stream ended without producing a message",
			err:    ErrEmptyStream,
		},
		{
			name:   "only keep-alives is an error",
			stream: ": OPENROUTER PROCESSING\n\n",
			want:   "error:api_error:upstream stream ended without producing a message",
			err:    ErrEmptyStream,
		},
		{
			name:      "a cut stream (no finish, no [DONE]) is an error",
			stream:    hello,
			want:      "message_start cbs0:text cbd0:Hello error:api_error:upstream stream ended before the message was complete",
			streamErr: true,
		},
	}
	rng := rand.New(rand.NewSource(11))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunks := range chunkings(rng, []byte(tc.stream)) {
				tr := mustNew(t, AnthropicMessages, OpenAIChat)
				out, err := streamAllChunks(tr, chunks)
				switch {
				case tc.err != nil:
					if !errors.Is(err, tc.err) {
						t.Fatalf("err = %v, want %v", err, tc.err)
					}
				case tc.streamErr:
					var se *StreamError
					if !errors.As(err, &se) {
						t.Fatalf("err = %v, want a *StreamError", err)
					}
				case err != nil:
					t.Fatalf("err = %v", err)
				}
				if got := summarizeAnthropic(t, checkAnthropicEvents(t, out)); got != tc.want {
					t.Fatalf("events:\n got %s\nwant %s", got, tc.want)
				}
				// Nothing is sent after the end, even if the caller goes on.
				if more, err := tr.Stream([]byte(hello), true); len(more) != 0 || err != nil {
					t.Fatalf("Stream after the end = %q, %v", more, err)
				}
			}
		})
	}
}

func TestAnthropicToOpenAIRequest(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "tool_choice any, disable_parallel_tool_use, thinking, server tool dropped",
			in: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"q"}],
				"tools":[{"type":"web_search_20250305","name":"web_search"},{"name":"f","input_schema":{"type":"object"}}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true},
				"thinking":{"type":"enabled","budget_tokens":10000},"top_k":5,"stream":true}`,
			want: `{"model":"m","messages":[{"role":"user","content":"q"}],"max_completion_tokens":100,
				"stream":true,"stream_options":{"include_usage":true},
				"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
				"tool_choice":"required","parallel_tool_calls":false,"reasoning_effort":"medium"}`,
		},
		{
			name: "tool_choice tool and none; no tools left means no tool_choice",
			in:   `{"messages":[{"role":"user","content":"q"}],"tools":[{"type":"bash_20250124","name":"bash"}],"tool_choice":{"type":"tool","name":"bash"}}`,
			want: `{"messages":[{"role":"user","content":"q"}]}`,
		},
		{
			name: "tool_choice tool",
			in:   `{"messages":[{"role":"user","content":"q"}],"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool","name":"f"}}`,
			want: `{"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		},
		{
			name: "tool_choice none keeps the tools; missing input_schema gets an empty object schema",
			in:   `{"messages":[{"role":"user","content":"q"}],"tools":[{"name":"f","description":"d"}],"tool_choice":{"type":"none"}}`,
			want: `{"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{}}}}],"tool_choice":"none"}`,
		},
		{
			name: "tool results come before the user's trailing text, media from results follows",
			in: `{"messages":[
				{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"tool_use","id":"t1","name":"f","input":{"a":"x y"}},{"type":"tool_use","id":"t2","name":"g","input":{}}]},
				{"role":"user","content":[{"type":"text","text":"and?"},{"type":"tool_result","tool_use_id":"t1","content":"r1","is_error":true},
					{"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"r2"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}}]}]}]}`,
			want: `{"messages":[
				{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\":\"x y\"}"}},{"id":"t2","type":"function","function":{"name":"g","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"t1","content":"r1"},
				{"role":"tool","tool_call_id":"t2","content":"r2"},
				{"role":"user","content":[{"type":"text","text":"and?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAA"}}]}]}`,
		},
		{
			name: "documents: PDF as a file part, text inline, URL as a reference",
			in: `{"messages":[{"role":"user","content":[
				{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}},
				{"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain"}},
				{"type":"document","source":{"type":"url","url":"https://x/y.pdf"}}]}]}`,
			want: `{"messages":[{"role":"user","content":[
				{"type":"file","file":{"filename":"document.pdf","file_data":"data:application/pdf;base64,JVBE"}},
				{"type":"text","text":"plain"},
				{"type":"text","text":"Document: https://x/y.pdf"}]}]}`,
		},
		{
			name: "several text blocks are joined with newlines; escapes survive",
			in:   `{"system":[{"type":"text","text":"a\"b"},{"type":"text","text":"\\c"}],"messages":[{"role":"user","content":[{"type":"text","text":"x\ny"},{"type":"text","text":"z"}]}],"metadata":{"user_id":"u"},"stop_sequences":["END"],"temperature":0.1,"top_p":1}`,
			want: `{"messages":[{"role":"system","content":"a\"b\\c"},{"role":"user","content":"x\ny\nz"}],"stop":["END"],"temperature":0.1,"top_p":1,"user":"u"}`,
		},
		{
			name: "system and model after messages",
			in:   `{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"system":[{"type":"text","text":"s"}],"model":"m"}`,
			want: `{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}`,
		},
		{
			name: "system alone; empty system dropped",
			in:   `{"system":"s","messages":[]}`,
			want: `{"messages":[{"role":"system","content":"s"}]}`,
		},
		{
			name: "an empty system is not sent",
			in:   `{"system":"","messages":[{"role":"user","content":"q"}]}`,
			want: `{"messages":[{"role":"user","content":"q"}]}`,
		},
		{
			name: "tool names OpenAI rejects are rewritten consistently",
			in: `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"mcp.server/tool","input":{}}]}],
				"tools":[{"name":"mcp.server/tool","input_schema":{}}],"tool_choice":{"type":"tool","name":"mcp.server/tool"}}`,
			want: `{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"` + sanitizedName("mcp.server/tool") + `","arguments":"{}"}}]}],
				"tools":[{"type":"function","function":{"name":"` + sanitizedName("mcp.server/tool") + `","parameters":{}}}],
				"tool_choice":{"type":"function","function":{"name":"` + sanitizedName("mcp.server/tool") + `"}}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := mustNew(t, AnthropicMessages, OpenAIChat)
			got, err := request(tr, []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			requireJSONEq(t, semJSON(t, got), semJSON(t, []byte(tc.want)))
		})
	}
}

func TestAnthropicToOpenAIRequestErrors(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `"x"`, `{"model":"m"}`, `{"messages":{}}`,
		`{"messages":[{"role":"system","content":"x"}]}`,
		`{"messages":[{"role":"user","content":5}]}`,
	} {
		tr := mustNew(t, AnthropicMessages, OpenAIChat)
		if out, err := request(tr, []byte(in)); err == nil {
			t.Errorf("Request(%s) = %s, want an error", in, out)
		}
	}
}

// TestToolNameSanitising checks names OpenAI would reject are made valid,
// kept distinct and mapped back in the response and in the stream.
func TestToolNameSanitising(t *testing.T) {
	long := strings.Repeat("x", 70)
	for _, name := range []string{"mcp.server/tool", long, "with space", "ünïcode"} {
		s := sanitizedName(name)
		if !validToolName(s) || len(s) > 64 || s == name {
			t.Errorf("sanitize(%q) = %q: not a valid distinct OpenAI name", name, s)
		}
	}
	if sanitizedName("a.b") == sanitizedName("a:b") {
		t.Error("different names must stay different")
	}
	if got := sanitizedName("ok_name-1"); got != "ok_name-1" {
		t.Errorf("a valid name must pass unchanged, got %q", got)
	}

	req := `{"messages":[{"role":"user","content":"q"}],"tools":[{"name":"` + long + `","input_schema":{}}],"stream":true}`
	wire := sanitizedName(long)

	tr := mustNew(t, AnthropicMessages, OpenAIChat)
	if _, err := request(tr, []byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := tr.Response([]byte(`{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"` + wire + `","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	var m anthropic.Message
	if err := json.Unmarshal(resp, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != 1 || m.Content[0].Name != long || string(m.Content[0].Input) != `{"a":1}` || m.StopReason != "tool_use" {
		t.Fatalf("response content %+v stop %q", m.Content, m.StopReason)
	}

	tr = mustNew(t, AnthropicMessages, OpenAIChat)
	if _, err := request(tr, []byte(req)); err != nil {
		t.Fatal(err)
	}
	out, err := tr.Stream([]byte(`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"`+wire+`","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`+"\n\ndata: [DONE]\n\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := accumulateAnthropicMessage(t, out); len(got.Content) != 1 || got.Content[0].Name != long {
		t.Fatalf("stream tool name = %+v, want %q", got.Content, long)
	}
}

func TestAnthropicToOpenAIResponse(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "reasoning, text parts, cached tokens, invalid arguments",
			in: `{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","reasoning_content":"hmm","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],
				"tool_calls":[{"id":"x","type":"function","function":{"name":"f","arguments":"{\"trunc"}}]},"finish_reason":"length"}],
				"usage":{"prompt_tokens":100,"completion_tokens":7,"total_tokens":107,"prompt_tokens_details":{"cached_tokens":60}}}`,
			want: `{"id":"c","type":"message","role":"assistant","model":"m","content":[
				{"type":"thinking","thinking":"hmm","signature":""},{"type":"text","text":"a\nb"},{"type":"tool_use","id":"x","name":"f","input":{}}],
				"stop_reason":"max_tokens","stop_sequence":null,
				"usage":{"input_tokens":40,"cache_creation_input_tokens":0,"cache_read_input_tokens":60,"output_tokens":7}}`,
		},
		{
			name: "refusal and content_filter",
			in:   `{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"no"},"finish_reason":"content_filter"}]}`,
			want: `{"id":"c","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"no"}],"stop_reason":"refusal","stop_sequence":null,
				"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := mustNew(t, AnthropicMessages, OpenAIChat)
			got, err := tr.Response([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			requireJSONEq(t, semJSON(t, got), semJSON(t, []byte(tc.want)))
		})
	}
	for _, in := range []string{`{"choices":[]}`, `{"error":{"message":"x"}}`, `nope`} {
		tr := mustNew(t, AnthropicMessages, OpenAIChat)
		if out, err := tr.Response([]byte(in)); err == nil {
			t.Errorf("Response(%s) = %s, want an error", in, out)
		}
	}
}

// Test helpers, also used by openai_anthropic_test.go.

func sanitizedName(name string) string {
	var n toolNames
	return n.sanitize(name)
}

// semJSON parses JSON for semantic comparison. Strings under an
// "arguments" key hold JSON themselves (OpenAI tool calls) and are parsed
// too, so key order and spacing inside them do not matter.
func semJSON(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	if d.More() {
		t.Fatalf("trailing data after JSON:\n%s", b)
	}
	return parseArguments(v)
}

func parseArguments(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "arguments" {
				d := json.NewDecoder(strings.NewReader(s))
				d.UseNumber()
				var parsed any
				if d.Decode(&parsed) == nil {
					x[k] = map[string]any{"(parsed)": parsed}
				}
				continue
			}
			x[k] = parseArguments(e)
		}
	case []any:
		for i, e := range x {
			x[i] = parseArguments(e)
		}
	}
	return v
}

// patchJSON applies dotted-path edits (numeric segments index arrays).
func patchJSON(t testing.TB, doc any, patches map[string]any) {
	t.Helper()
	for path, val := range patches {
		segs := strings.Split(path, ".")
		cur := doc
		for _, s := range segs[:len(segs)-1] {
			switch c := cur.(type) {
			case map[string]any:
				cur = c[s]
			case []any:
				i, _ := strconv.Atoi(s)
				cur = c[i]
			}
		}
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("patch %q: parent is not an object", path)
		}
		last := segs[len(segs)-1]
		if val == removed {
			delete(m, last)
		} else {
			m[last] = parseArguments(normalizeNumbers(val))
		}
	}
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case int:
		return json.Number(strconv.Itoa(x))
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	}
	return v
}

func requireJSONEq(t testing.TB, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("JSON differs\n got: %s\nwant: %s", g, w)
	}
}

// streamAllChunks feeds chunks to tr, the last with eos, and concatenates
// the output. It stops at the first error, as the caller would.
func streamAllChunks(tr Translator, chunks [][]byte) ([]byte, error) {
	var out []byte
	if len(chunks) == 0 {
		chunks = [][]byte{nil}
	}
	for i, c := range chunks {
		b, err := tr.Stream(c, i == len(chunks)-1)
		out = append(out, b...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

type sseEv struct{ name, data string }

func parseSSE(b []byte) []sseEv {
	var p sse.Parser
	var evs []sseEv
	fn := func(e sse.Event) { evs = append(evs, sseEv{string(e.Name), string(e.Data)}) }
	p.Feed(b, fn)
	p.Flush(fn)
	return evs
}

// checkAnthropicEvents checks an Anthropic event stream is well formed:
// each event's name equals its data.type; message_start comes first and
// once; content blocks are started, delta'd with their own delta type and
// stopped, one at a time, with indexes 0, 1, …; message_delta follows the
// last block; message_stop ends the stream exactly once. An error event
// may end the stream anywhere.
func checkAnthropicEvents(t testing.TB, out []byte) []sseEv {
	t.Helper()
	evs := parseSSE(out)
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	next, open, openType, state := 0, -1, "", "start"
	for i, ev := range evs {
		var d struct {
			Type         string `json:"type"`
			Index        *int   `json:"index"`
			ContentBlock struct {
				Type string `json:"type"`
			} `json:"content_block"`
			Delta struct {
				Type string `json:"type"`
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
			t.Fatalf("event %d: invalid JSON %q", i, ev.data)
		}
		if d.Type != ev.name {
			t.Fatalf("event %d: name %q but type %q", i, ev.name, d.Type)
		}
		fail := func(why string) { t.Fatalf("event %d (%s) %s; stream:\n%s", i, ev.name, why, out) }
		if state == "stopped" || state == "errored" {
			fail("after the end")
		}
		switch ev.name {
		case "message_start":
			if state != "start" {
				fail("not first")
			}
			state = "blocks"
		case "content_block_start":
			if state != "blocks" || open >= 0 || d.Index == nil || *d.Index != next {
				fail("out of order")
			}
			open, openType = next, d.ContentBlock.Type
		case "content_block_delta":
			want := map[string]string{"text": "text_delta", "tool_use": "input_json_delta", "thinking": "thinking_delta"}[openType]
			if open < 0 || d.Index == nil || *d.Index != open || d.Delta.Type != want {
				fail("not in the open block or of the wrong type")
			}
		case "content_block_stop":
			if open < 0 || d.Index == nil || *d.Index != open {
				fail("stops no open block")
			}
			open, next = -1, next+1
		case "message_delta":
			if (state != "blocks" && state != "delta") || open >= 0 {
				fail("with a block open or before message_start")
			}
			state = "delta"
		case "message_stop":
			if state != "delta" {
				fail("without message_delta")
			}
			state = "stopped"
		case "error":
			state = "errored"
		default:
			fail("unexpected")
		}
	}
	if state != "stopped" && state != "errored" {
		t.Fatalf("stream does not end with message_stop or error:\n%s", out)
	}
	return evs
}

// summarizeAnthropic renders events compactly for table tests.
func summarizeAnthropic(t testing.TB, evs []sseEv) string {
	t.Helper()
	var parts []string
	for _, ev := range evs {
		var d struct {
			Index        int `json:"index"`
			ContentBlock struct {
				Type, ID, Name string
			} `json:"content_block"`
			Delta struct {
				Type, Text, Thinking string
				PartialJSON          string `json:"partial_json"`
				StopReason           string `json:"stop_reason"`
			} `json:"delta"`
			Usage struct {
				InputTokens   int64 `json:"input_tokens"`
				OutputTokens  int64 `json:"output_tokens"`
				CacheRead     int64 `json:"cache_read_input_tokens"`
				CacheCreation int64 `json:"cache_creation_input_tokens"`
			} `json:"usage"`
			Error struct{ Type, Message string } `json:"error"`
		}
		if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
			t.Fatal(err)
		}
		idx := strconv.Itoa(d.Index)
		switch ev.name {
		case "content_block_start":
			s := "cbs" + idx + ":" + d.ContentBlock.Type
			if d.ContentBlock.Type == "tool_use" {
				s += ":" + d.ContentBlock.ID + ":" + d.ContentBlock.Name
			}
			parts = append(parts, s)
		case "content_block_delta":
			parts = append(parts, "cbd"+idx+":"+d.Delta.Text+d.Delta.Thinking+d.Delta.PartialJSON)
		case "content_block_stop":
			parts = append(parts, "cb_stop"+idx)
		case "message_delta":
			u := d.Usage
			parts = append(parts, "message_delta:"+d.Delta.StopReason+":"+strconv.FormatInt(u.InputTokens, 10)+"/"+strconv.FormatInt(u.OutputTokens, 10)+"/"+strconv.FormatInt(u.CacheRead, 10)+"/"+strconv.FormatInt(u.CacheCreation, 10))
		case "error":
			parts = append(parts, "error:"+d.Error.Type+":"+d.Error.Message)
		default:
			parts = append(parts, ev.name)
		}
	}
	return strings.Join(parts, " ")
}

// accumulateAnthropic reads a stream with the official SDK's types and
// accumulator, and returns the resulting message as comparable JSON: its
// content (tool inputs parsed), stop reason and token counts.
func accumulateAnthropic(t testing.TB, out []byte) any {
	t.Helper()
	m := accumulateAnthropicMessage(t, out)
	var blocks []any
	for _, c := range m.Content {
		b := map[string]any{"type": c.Type}
		switch c.Type {
		case "text":
			b["text"] = c.Text
		case "thinking":
			b["thinking"] = c.Thinking
		case "tool_use":
			b["id"], b["name"] = c.ID, c.Name
			b["input"] = semJSON(t, c.Input)
		}
		blocks = append(blocks, b)
	}
	return map[string]any{
		"content": blocks, "stop_reason": string(m.StopReason),
		"input_tokens": m.Usage.InputTokens, "output_tokens": m.Usage.OutputTokens,
	}
}

func accumulateAnthropicMessage(t testing.TB, out []byte) anthropic.Message {
	t.Helper()
	var m anthropic.Message
	for _, ev := range parseSSE(out) {
		var e anthropic.MessageStreamEventUnion
		if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
			t.Fatalf("SDK cannot read event %q: %v", ev.data, err)
		}
		if e.Type == "" || ev.name == "ping" || ev.name == "error" {
			continue
		}
		if err := m.Accumulate(e); err != nil {
			t.Fatalf("SDK rejects event %q: %v", ev.data, err)
		}
	}
	return m
}

// openAIStreamText concatenates delta.content of an OpenAI stream.
func openAIStreamText(t testing.TB, in []byte) string {
	t.Helper()
	var s strings.Builder
	for _, ev := range parseSSE(in) {
		var c struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal([]byte(ev.data), &c) == nil && len(c.Choices) > 0 {
			s.WriteString(c.Choices[0].Delta.Content)
		}
	}
	return s.String()
}

// anthropicRequestOfSize builds a Messages request of about n bytes shaped
// like a coding agent's (Claude Code): a long system prompt, tools with
// schemas, then turns of text, tool_use and tool_result carrying file
// contents (escaped newlines and quotes).
func anthropicRequestOfSize(n int) []byte {
	prose := strings.Repeat(`You are an agent. Use the \"Read\" tool before editing.\n`, max(1, n/10/58))
	file := strings.Repeat(`\tif err != nil {\n\t\treturn fmt.Errorf(\"read: %w\", err)\n\t}\n`, max(1, n/30/70))
	b := []byte(`{"model":"claude-sonnet-4-20250514","max_tokens":1024,"stream":true,` +
		`"system":[{"type":"text","text":"You are Claude Code."},{"type":"text","text":"` + prose + `","cache_control":{"type":"ephemeral"}}],"tools":[`)
	for i := 0; len(b) < n/4; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":"tool_`+strconv.Itoa(i)+`","description":"Reads a file from the local filesystem. Use absolute paths.",`+
			`"input_schema":{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to read"},`+
			`"offset":{"type":"number","description":"The line number to start reading from"},"limit":{"type":"number","description":"The number of lines to read"}},`+
			`"required":["file_path"],"additionalProperties":false}}`...)
	}
	b = append(b, `],"messages":[{"role":"user","content":[{"type":"text","text":"Fix the bug in main.go, please."}]}`...)
	for i := 0; len(b) < n-200; i++ {
		id := strconv.Itoa(i)
		b = append(b, `,{"role":"assistant","content":[{"type":"text","text":"Let me read the file."},{"type":"tool_use","id":"toolu_`+id+`","name":"tool_0","input":{"file_path":"/src/main.go","limit":200}}]}`+
			`,{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_`+id+`","content":"`+file+`"}]}`...)
	}
	return append(b, `]}`...)
}

// anthropicRequestSmallMessages builds a request of about n bytes made of
// many tiny turns: the worst case per byte, as every few bytes start a new
// JSON token.
func anthropicRequestSmallMessages(n int) []byte {
	b := []byte(`{"model":"claude-sonnet-4-20250514","max_tokens":1024,"messages":[`)
	for i := 0; len(b) < n-300; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		id := strconv.Itoa(i)
		b = append(b, `{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_`+id+`","content":"18°C, \"cloudy\""},{"type":"text","text":"Thanks.\nAnd what about the next city on my list?"}]},`+
			`{"role":"assistant","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_`+id+`","name":"get_weather","input":{"city":"Paris"}}]}`...)
	}
	return append(b, `,{"role":"user","content":"Summarise."}]}`...)
}

// openAIResponseOfSize builds a chat.completion of about n bytes.
func openAIResponseOfSize(n int) []byte {
	text := strings.Repeat(`The weather in Paris is \"mild\".\n`, max(1, (n-600)/36))
	return []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"` + text +
		`","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],` +
		`"usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":20}}}`)
}

func BenchmarkAnthropicToOpenAIRequest(b *testing.B) {
	for _, size := range []struct {
		name string
		body []byte
	}{
		{"1KB", anthropicRequestOfSize(1 << 10)},
		{"100KB", anthropicRequestOfSize(100 << 10)},
		{"100KB-small-messages", anthropicRequestSmallMessages(100 << 10)},
	} {
		body := size.body
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			obj := index(b, body)
			for i := 0; i < b.N; i++ {
				tr, _ := New(AnthropicMessages, OpenAIChat)
				if _, err := tr.Request(obj, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenAIToAnthropicResponse(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1KB", 1 << 10}, {"100KB", 100 << 10}} {
		body := openAIResponseOfSize(size.n)
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				tr, _ := New(AnthropicMessages, OpenAIChat)
				if _, err := tr.Response(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStreamOpenAIToAnthropicPerEvent converts a recorded OpenAI
// stream (text and tool calls) into Anthropic events, in 512-byte chunks;
// ns/op is per upstream event.
func BenchmarkStreamOpenAIToAnthropicPerEvent(b *testing.B) {
	for _, file := range []string{"openai/chat-stream-text.sse", "openai/chat-stream-parallel-tool-calls.sse"} {
		in := loadFixture(b, file)
		events := len(parseSSE(in))
		b.Run(strings.TrimSuffix(file[len("openai/"):], ".sse"), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i += events {
				tr, _ := New(AnthropicMessages, OpenAIChat)
				for off := 0; off < len(in); off += 512 {
					if _, err := tr.Stream(in[off:min(off+512, len(in))], off+512 >= len(in)); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// FuzzAnthropicToOpenAI checks that no input makes the translator panic or
// write invalid JSON: a request either fails or converts to JSON, and a
// stream's events always carry JSON.
func FuzzAnthropicToOpenAI(f *testing.F) {
	for _, name := range []string{"anthropic/messages-request-full.json", "anthropic/messages-request-tool-result.json", "openai/chat-stream-tool-call.sse", "openai/chat-response-tool-calls.json"} {
		f.Add(loadFixture(f, name))
	}
	f.Add([]byte(`{"messages":[{"content":[{"type":"tool_result","content":[{"type":"image"}]}],"role":"user"}],"system":[{}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) && !validEvents(in) {
			// Broken JSON may come out broken (the upstream rejects it);
			// it must only not panic or hang.
			for _, dir := range [][2]Protocol{{AnthropicMessages, OpenAIChat}, {OpenAIChat, AnthropicMessages}} {
				tr := mustNew(t, dir[0], dir[1])
				request(tr, in)
				tr.Response(in)
			}
			return
		}
		tr := mustNew(t, AnthropicMessages, OpenAIChat)
		if out, err := request(tr, in); err == nil && !json.Valid(out) {
			t.Fatalf("Request(%q) wrote invalid JSON %q", in, out)
		}
		if out, err := tr.Response(in); err == nil && !json.Valid(out) {
			t.Fatalf("Response(%q) wrote invalid JSON %q", in, out)
		}
		if out := tr.Error(500, in); !json.Valid(out) {
			t.Fatalf("Error(%q) wrote invalid JSON %q", in, out)
		}
		out, _ := mustNew(t, AnthropicMessages, OpenAIChat).Stream(in, true)
		for _, ev := range parseSSE(out) {
			if !json.Valid([]byte(ev.data)) {
				t.Fatalf("Stream(%q) wrote invalid JSON %q", in, ev.data)
			}
		}
	})
}

// validEvents reports whether in is an SSE stream whose every event is
// JSON or [DONE].
func validEvents(in []byte) bool {
	evs := parseSSE(in)
	for _, ev := range evs {
		if ev.data != "[DONE]" && !json.Valid([]byte(ev.data)) {
			return false
		}
	}
	return len(evs) > 0
}
