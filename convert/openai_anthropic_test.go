package convert

import (
	"encoding/json"
	"errors"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
)

// fixedNow pins the "created" time of chat completions for a test.
func fixedNow(t *testing.T) {
	saved := unixNow
	unixNow = func() int64 { return 1700000000 }
	t.Cleanup(func() { unixNow = saved })
}

func TestOpenAIToAnthropicRequestGolden(t *testing.T) {
	pairs := []envoyPair{
		{"openai/chat-request-parallel-tool-results.json", "mapping/openai-to-anthropic/request-parallel-tool-results.anthropic.json", map[string]any{
			// Sent only for parallel_tool_calls:false; false is the default.
			"tool_choice.disable_parallel_tool_use": removed,
			// A tool message's string content stays a string (Anthropic
			// accepts both); is_error is not guessed from the content.
			"messages.3.content.0.content":  `{"temperature_c": 11, "conditions": "light rain"}`,
			"messages.3.content.0.is_error": removed,
			"messages.3.content.1.content":  `{"price": 227.48, "currency": "USD"}`,
			"messages.3.content.1.is_error": removed,
		}},
		{"openai/chat-request-tools.json", "mapping/openai-to-anthropic/request-tools.anthropic.json", map[string]any{
			"max_tokens":                            DefaultAnthropicMaxTokens, // Envoy sends 0, which Anthropic rejects
			"tool_choice.disable_parallel_tool_use": removed,
		}},
		{"openai/chat-request-image-data-uri.json", "mapping/openai-to-anthropic/request-image-data-uri.anthropic.json", map[string]any{
			"max_tokens": DefaultAnthropicMaxTokens,
		}},
		{"openai/chat-request-multiturn-developer.json", "mapping/openai-to-anthropic/request-multiturn-developer.anthropic.json", map[string]any{
			"max_tokens": DefaultAnthropicMaxTokens,
		}},
	}
	for _, p := range pairs {
		t.Run(p.output, func(t *testing.T) {
			tr := mustNew(t, OpenAIChat, AnthropicMessages)
			got, err := request(tr, loadFixture(t, p.input))
			if err != nil {
				t.Fatal(err)
			}
			want := semJSON(t, loadFixture(t, p.output))
			patchJSON(t, want, p.differs)
			requireJSONEq(t, semJSON(t, got), want)
			// The official SDK must read it.
			var params anthropic.MessageNewParams
			if err := json.Unmarshal(got, &params); err != nil || len(params.Messages) != len(want.(map[string]any)["messages"].([]any)) || params.MaxTokens == 0 {
				t.Fatalf("anthropic SDK reads %d messages, max_tokens %d (%v)", len(params.Messages), params.MaxTokens, err)
			}
		})
	}
}

func TestOpenAIToAnthropicResponseGolden(t *testing.T) {
	fixedNow(t)
	ours := map[string]any{
		"choices.0.logprobs":              nil, // required (nullable) in chat.completion
		"usage.prompt_tokens_details":     map[string]any{"cached_tokens": json.Number("0")},
		"usage.completion_tokens_details": removed, // nothing to report: Anthropic has no breakdown
	}
	pairs := []envoyPair{
		{"anthropic/messages-response-tool-use.json", "mapping/openai-to-anthropic/response-tool-use.openai.json", ours},
		{"anthropic/messages-response-text.json", "mapping/openai-to-anthropic/response-text.openai.json", ours},
	}
	for _, p := range pairs {
		t.Run(p.output, func(t *testing.T) {
			tr := mustNew(t, OpenAIChat, AnthropicMessages)
			got, err := tr.Response(loadFixture(t, p.input))
			if err != nil {
				t.Fatal(err)
			}
			want := semJSON(t, loadFixture(t, p.output))
			patchJSON(t, want, p.differs)
			requireJSONEq(t, semJSON(t, got), want)
			var c openai.ChatCompletion
			if err := json.Unmarshal(got, &c); err != nil || len(c.Choices) != 1 {
				t.Fatalf("openai SDK cannot read the response: %v", err)
			}
		})
	}
}

// TestOpenAIToAnthropicStreamGolden converts recorded Anthropic streams cut
// in many ways; the official OpenAI SDK must accumulate the same completion
// from our chunks as from Envoy's.
func TestOpenAIToAnthropicStreamGolden(t *testing.T) {
	pairs := []struct {
		input, output string
		usage         Usage
		model         string // Envoy reports its configured model, not the stream's
	}{
		{"anthropic/messages-stream-tool-use.sse", "mapping/openai-to-anthropic/stream-tool-use.openai.sse", Usage{PromptTokens: 377, CompletionTokens: 65, TotalTokens: 442}, ""},
		{"anthropic/messages-stream-tool-use-padded.sse", "mapping/openai-to-anthropic/stream-tool-use-padded.openai.sse", Usage{PromptTokens: 397, CompletionTokens: 89, TotalTokens: 486}, "claude-3-7-sonnet-20250219"},
		{"anthropic/messages-stream-text.sse", "mapping/openai-to-anthropic/stream-text.openai.sse", Usage{PromptTokens: 11, CompletionTokens: 6, TotalTokens: 17}, "claude-3-opus-latest"},
	}
	fixedNow(t)
	rng := rand.New(rand.NewSource(13))
	for _, p := range pairs {
		t.Run(p.output, func(t *testing.T) {
			in := loadFixture(t, p.input)
			want := accumulateOpenAI(t, loadFixture(t, p.output))
			if p.model != "" {
				want.(map[string]any)["model"] = p.model
			}
			var first []byte
			for _, chunks := range chunkings(rng, in) {
				tr := mustNew(t, OpenAIChat, AnthropicMessages)
				if _, err := request(tr, []byte(`{"model":"m","messages":[{"role":"user","content":"q"}],"stream":true,"stream_options":{"include_usage":true}}`)); err != nil {
					t.Fatal(err)
				}
				out, err := streamAllChunks(tr, chunks)
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				if first == nil {
					first = out
					checkOpenAIChunks(t, out, true)
					requireJSONEq(t, accumulateOpenAI(t, out), want)
				} else if string(out) != string(first) {
					t.Fatalf("output depends on chunking:\n%s\nvs\n%s", out, first)
				}
				if u := tr.Usage(); u != p.usage {
					t.Fatalf("Usage() = %+v, want %+v", u, p.usage)
				}
				if !tr.FirstToken() {
					t.Fatal("FirstToken() = false after content")
				}
			}
		})
	}
}

func TestOpenAIToAnthropicStream(t *testing.T) {
	const (
		start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude\",\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":5,\"output_tokens\":1}}}\n\n"
		text  = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n" +
			"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
		stop = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":7}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	)
	tests := []struct {
		name, stream string
		includeUsage bool
		want         string // compact summary of the chunks
		usage        Usage
		err          error
		streamErr    string // want a *StreamError of this type
	}{
		{
			name: "text, cache counts, usage chunk on request", stream: start + text + stop, includeUsage: true,
			want:  "role content:Hi finish:length usage:115/7/122/100 [DONE]",
			usage: Usage{PromptTokens: 115, CompletionTokens: 7, TotalTokens: 122, CacheReadTokens: 100, CacheCreationTokens: 5},
		},
		{
			name: "no usage chunk unless asked", stream: start + text + stop,
			want:  "role content:Hi finish:length [DONE]",
			usage: Usage{PromptTokens: 115, CompletionTokens: 7, TotalTokens: 122, CacheReadTokens: 100, CacheCreationTokens: 5},
		},
		{
			name: "thinking becomes reasoning_content; signatures and pings are dropped",
			stream: start + "event: ping\ndata: {\"type\": \"ping\"}\n\n" +
				"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n" +
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n" +
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n" +
				"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" + stop,
			want:  "role reasoning:hmm finish:length [DONE]",
			usage: Usage{PromptTokens: 115, CompletionTokens: 7, TotalTokens: 122, CacheReadTokens: 100, CacheCreationTokens: 5},
		},
		{
			name: "two tool blocks get tool_calls indexes 0 and 1; empty fragments are skipped",
			stream: start + text +
				"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"f\",\"input\":{}}}\n\n" +
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n" +
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":1}\"}}\n\n" +
				"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n" +
				"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"g\",\"input\":{}}}\n\n" +
				"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n" +
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":7}}\n\n" +
				"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			want:  `role content:Hi tool0:toolu_a:f tool0+{"a":1} tool1:toolu_b:g finish:tool_calls [DONE]`,
			usage: Usage{PromptTokens: 115, CompletionTokens: 7, TotalTokens: 122, CacheReadTokens: 100, CacheCreationTokens: 5},
		},
		{
			name: "events without event lines", stream: strings.ReplaceAll(strings.ReplaceAll(start+text+stop, "event: message_start\n", ""), "event: content_block_delta\n", ""),
			want:  "role content:Hi finish:length [DONE]",
			usage: Usage{PromptTokens: 115, CompletionTokens: 7, TotalTokens: 122, CacheReadTokens: 100, CacheCreationTokens: 5},
		},
		{
			name: "mid-stream error", stream: start + text + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n" + stop,
			want:      "role content:Hi error:server_error:Overloaded",
			usage:     Usage{PromptTokens: 115, CompletionTokens: 1, TotalTokens: 116, CacheReadTokens: 100, CacheCreationTokens: 5},
			streamErr: "server_error",
		},
		{
			name: "message_stop missing after message_delta: finish anyway", stream: start + text + strings.TrimSuffix(stop, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
			want:  "role content:Hi finish:length [DONE]",
			usage: Usage{PromptTokens: 115, CompletionTokens: 7, TotalTokens: 122, CacheReadTokens: 100, CacheCreationTokens: 5},
		},
		{
			name: "cut stream", stream: start + text,
			want:      "role content:Hi error:server_error:upstream stream ended before the message was complete",
			usage:     Usage{PromptTokens: 115, CompletionTokens: 1, TotalTokens: 116, CacheReadTokens: 100, CacheCreationTokens: 5},
			streamErr: "server_error",
		},
		{
			name: "nothing at all", stream: "event: ping\ndata: {\"type\":\"ping\"}\n\n",
			want: "error:server_error:upstream stream ended without producing a message",
			err:  ErrEmptyStream,
		},
	}
	fixedNow(t)
	rng := rand.New(rand.NewSource(17))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunks := range chunkings(rng, []byte(tc.stream)) {
				tr := mustNew(t, OpenAIChat, AnthropicMessages)
				req := `{"messages":[{"role":"user","content":"q"}],"stream":true,"stream_options":{"include_usage":` + strconv.FormatBool(tc.includeUsage) + `}}`
				if _, err := request(tr, []byte(req)); err != nil {
					t.Fatal(err)
				}
				out, err := streamAllChunks(tr, chunks)
				switch {
				case tc.err != nil:
					if !errors.Is(err, tc.err) {
						t.Fatalf("err = %v, want %v", err, tc.err)
					}
				case tc.streamErr != "":
					var se *StreamError
					if !errors.As(err, &se) || se.Type != tc.streamErr {
						t.Fatalf("err = %v, want a StreamError of type %s", err, tc.streamErr)
					}
				case err != nil:
					t.Fatal(err)
				}
				if got := checkOpenAIChunks(t, out, tc.includeUsage); got != tc.want {
					t.Fatalf("chunks:\n got %s\nwant %s\n%s", got, tc.want, out)
				}
				if u := tr.Usage(); u != tc.usage {
					t.Fatalf("Usage() = %+v, want %+v", u, tc.usage)
				}
				if more, err := tr.Stream([]byte(start+text+stop), true); len(more) != 0 || err != nil {
					t.Fatalf("Stream after the end = %q, %v", more, err)
				}
			}
		})
	}
}

func TestOpenAIToAnthropicRequest(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "max_completion_tokens wins over max_tokens; stop string; temperature clamped; user",
			in:   `{"model":"m","max_tokens":10,"max_completion_tokens":20,"stop":"END","temperature":1.5,"top_p":0.5,"user":"u1","n":1,"seed":3,"messages":[{"role":"user","content":"q"}]}`,
			want: `{"model":"m","max_tokens":20,"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}],"stop_sequences":["END"],"temperature":1,"top_p":0.5,"metadata":{"user_id":"u1"}}`,
		},
		{
			name: "max_tokens alone; system and developer anywhere, parts joined, cache_control kept",
			in: `{"max_tokens":10,"messages":[{"role":"system","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b"}]},
				{"role":"user","content":"q"},{"role":"developer","content":"d"}]}`,
			want: `{"max_tokens":10,"system":[{"type":"text","text":"ab","cache_control":{"type":"ephemeral"}},{"type":"text","text":"d"}],
				"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}]}`,
		},
		{
			name: "reasoning_effort becomes thinking and drops sampling parameters",
			in:   `{"max_completion_tokens":8000,"reasoning_effort":"medium","temperature":0.3,"stream":true,"messages":[{"role":"user","content":"q"}]}`,
			want: `{"max_tokens":8000,"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}],"thinking":{"type":"enabled","budget_tokens":4096},"stream":true}`,
		},
		{
			name: "a thinking budget that does not fit max_tokens is not sent",
			in:   `{"max_completion_tokens":1000,"reasoning_effort":"high","messages":[{"role":"user","content":"q"}]}`,
			want: `{"max_tokens":1000,"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}]}`,
		},
		{
			name: "tools, required, parallel_tool_calls false, missing parameters, strict; custom tools dropped",
			in: `{"messages":[{"role":"user","content":"q"}],"tool_choice":"required","parallel_tool_calls":false,
				"tools":[{"type":"function","function":{"name":"f","strict":true}},{"type":"custom","custom":{"name":"c"}}]}`,
			want: `{"max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}],
				"tools":[{"name":"f","input_schema":{"type":"object","properties":{}},"strict":true}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`,
		},
		{
			name: "parallel_tool_calls false without tool_choice; tool_choice none; named function",
			in:   `{"messages":[{"role":"user","content":"q"}],"parallel_tool_calls":false,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`,
			want: `{"max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`,
		},
		{
			name: "named function tool_choice",
			in:   `{"messages":[{"role":"user","content":"q"}],"tool_choice":{"type":"function","function":{"name":"f"}},"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}`,
			want: `{"max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}],"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool","name":"f"}}`,
		},
		{
			name: "tool_choice without tools is dropped",
			in:   `{"messages":[{"role":"user","content":"q"}],"tool_choice":"none"}`,
			want: `{"max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}]}`,
		},
		{
			name: "empty messages are dropped, invalid arguments become {}, tool results grouped, text parts",
			in: `{"messages":[{"role":"user","content":""},{"role":"assistant","content":null},
				{"role":"assistant","content":[{"type":"text","text":"t"},{"type":"refusal","refusal":"r"}],"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"cut"}},{"id":"c2","type":"function","function":{"name":"g","arguments":""}}]},
				{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"x"}]},{"role":"tool","tool_call_id":"c2","content":"y"},
				{"role":"user","content":[{"type":"text","text":"next"},{"type":"input_audio","input_audio":{}}]}]}`,
			want: `{"max_tokens":4096,"messages":[
				{"role":"assistant","content":[{"type":"text","text":"t"},{"type":"text","text":"r"},{"type":"tool_use","id":"c1","name":"f","input":{}},{"type":"tool_use","id":"c2","name":"g","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":[{"type":"text","text":"x"}]},{"type":"tool_result","tool_use_id":"c2","content":"y"}]},
				{"role":"user","content":[{"type":"text","text":"next"}]}]}`,
		},
		{
			name: "images and PDFs: data URIs and URLs",
			in: `{"messages":[{"role":"user","content":[
				{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/"}},
				{"type":"image_url","image_url":{"url":"https://x/cat.png"}},
				{"type":"image_url","image_url":{"url":"https://x/doc.PDF?sig=1"}},
				{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBE"}}]}]}`,
			want: `{"max_tokens":4096,"messages":[{"role":"user","content":[
				{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}},
				{"type":"image","source":{"type":"url","url":"https://x/cat.png"}},
				{"type":"document","source":{"type":"url","url":"https://x/doc.PDF?sig=1"}},
				{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}}]}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := mustNew(t, OpenAIChat, AnthropicMessages)
			got, err := request(tr, []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			requireJSONEq(t, semJSON(t, got), semJSON(t, []byte(tc.want)))
		})
	}
}

func TestOpenAIToAnthropicRequestErrors(t *testing.T) {
	for _, in := range []string{
		``, `[1]`, `{"model":"m"}`,
		`{"messages":[{"role":"wizard","content":"x"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AA"}}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,AA"}}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/a.png"}}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`,
	} {
		tr := mustNew(t, OpenAIChat, AnthropicMessages)
		if out, err := request(tr, []byte(in)); err == nil {
			t.Errorf("Request(%s) = %s, want an error", in, out)
		}
	}
}

func TestOpenAIToAnthropicResponse(t *testing.T) {
	fixedNow(t)
	in := `{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[
		{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"a"},{"type":"text","text":"b"},
		{"type":"tool_use","id":"toolu_1","name":"f","input":{"q": "x \"y\""}}],
		"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":3,"cache_read_input_tokens":50,"cache_creation_input_tokens":7,"output_tokens":9}}`
	want := `{"id":"msg_1","object":"chat.completion","created":1700000000,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":"ab","reasoning_content":"hm",
		"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{\"q\":\"x \\\"y\\\"\"}"}}]},"finish_reason":"tool_calls","logprobs":null}],
		"usage":{"prompt_tokens":60,"completion_tokens":9,"total_tokens":69,"prompt_tokens_details":{"cached_tokens":50,"cache_creation_tokens":7}}}`
	tr := mustNew(t, OpenAIChat, AnthropicMessages)
	got, err := tr.Response([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	requireJSONEq(t, semJSON(t, got), semJSON(t, []byte(want)))
	if u := tr.Usage(); u != (Usage{PromptTokens: 60, CompletionTokens: 9, TotalTokens: 69, CacheReadTokens: 50, CacheCreationTokens: 7}) {
		t.Fatalf("Usage() = %+v", u)
	}
	// The arguments string must hold exactly the compact input.
	var c openai.ChatCompletion
	if err := json.Unmarshal(got, &c); err != nil {
		t.Fatal(err)
	}
	if args := c.Choices[0].Message.ToolCalls[0].Function.Arguments; args != `{"q":"x \"y\""}` {
		t.Fatalf("arguments = %s", args)
	}

	for _, bad := range []string{`{"type":"error","error":{"type":"overloaded_error","message":"o"}}`, `<html>`} {
		if out, err := mustNew(t, OpenAIChat, AnthropicMessages).Response([]byte(bad)); err == nil {
			t.Errorf("Response(%s) = %s, want an error", bad, out)
		}
	}
}

// checkOpenAIChunks checks an OpenAI chunk stream is well formed and returns
// a compact summary: every event is a data line; the official SDK reads
// each chunk; all chunks share id, model and created; the first carries
// role "assistant"; tool_calls indexes count up from 0 and a call's first
// delta names it; one chunk has finish_reason; the usage chunk (empty
// choices) follows it only when asked for; [DONE] comes last, once. An
// error event may end the stream instead.
func checkOpenAIChunks(t testing.TB, out []byte, wantUsage bool) string {
	t.Helper()
	var parts []string
	var id, model string
	var created int64
	tools, finishes, usages := 0, 0, 0
	evs := parseSSE(out)
	for i, ev := range evs {
		fail := func(why string) { t.Fatalf("event %d %s: %s\n%s", i, why, ev.data, out) }
		if ev.name != "" {
			fail("has an event name")
		}
		if ev.data == "[DONE]" {
			if i != len(evs)-1 {
				fail("[DONE] is not last")
			}
			parts = append(parts, "[DONE]")
			continue
		}
		var e struct {
			Error *struct{ Type, Message string } `json:"error"`
		}
		if json.Unmarshal([]byte(ev.data), &e) == nil && e.Error != nil {
			if i != len(evs)-1 {
				fail("error is not last")
			}
			parts = append(parts, "error:"+e.Error.Type+":"+e.Error.Message)
			continue
		}
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
			fail("unreadable by the SDK")
		}
		if c.Object != "chat.completion.chunk" {
			fail("wrong object")
		}
		if i == 0 {
			id, model, created = c.ID, c.Model, c.Created
		} else if c.ID != id || c.Model != model || c.Created != created {
			fail("id, model or created changed")
		}
		if len(c.Choices) == 0 {
			if finishes != 1 || !wantUsage {
				fail("usage chunk not asked for or before the finish")
			}
			usages++
			u := c.Usage
			parts = append(parts, "usage:"+strconv.FormatInt(u.PromptTokens, 10)+"/"+strconv.FormatInt(u.CompletionTokens, 10)+"/"+strconv.FormatInt(u.TotalTokens, 10)+"/"+strconv.FormatInt(u.PromptTokensDetails.CachedTokens, 10))
			continue
		}
		d := c.Choices[0].Delta
		if finishes > 0 {
			fail("chunk after the finish")
		}
		if i == 0 {
			if d.Role != "assistant" {
				fail("first chunk has no role")
			}
			parts = append(parts, "role")
		}
		if d.Content != "" {
			parts = append(parts, "content:"+d.Content)
		}
		var raw struct {
			Choices []struct {
				Delta struct {
					Reasoning string `json:"reasoning_content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		json.Unmarshal([]byte(ev.data), &raw)
		if r := raw.Choices[0].Delta.Reasoning; r != "" {
			parts = append(parts, "reasoning:"+r)
		}
		for _, tc := range d.ToolCalls {
			idx := strconv.FormatInt(tc.Index, 10)
			if tc.ID != "" {
				if int(tc.Index) != tools || tc.Function.Name == "" {
					fail("tool call index out of order or unnamed")
				}
				tools++
				parts = append(parts, "tool"+idx+":"+tc.ID+":"+tc.Function.Name)
			} else if int(tc.Index) != tools-1 {
				fail("fragment for a call that is not the current one")
			}
			if tc.Function.Arguments != "" {
				parts = append(parts, "tool"+idx+"+"+tc.Function.Arguments)
			}
		}
		if f := c.Choices[0].FinishReason; f != "" {
			finishes++
			parts = append(parts, "finish:"+f)
		}
	}
	last := parts[len(parts)-1]
	if last != "[DONE]" && !strings.HasPrefix(last, "error:") {
		t.Fatalf("stream ends with %s, want [DONE] or an error", last)
	}
	if last == "[DONE]" && (finishes != 1 || (wantUsage && usages != 1)) {
		t.Fatalf("%d finish chunks and %d usage chunks", finishes, usages)
	}
	return strings.Join(parts, " ")
}

// accumulateOpenAI reads a chunk stream with the official SDK accumulator
// and returns what a client ends up with, as comparable JSON.
func accumulateOpenAI(t testing.TB, out []byte) any {
	t.Helper()
	var acc openai.ChatCompletionAccumulator
	for _, ev := range parseSSE(out) {
		if ev.data == "[DONE]" {
			continue
		}
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
			t.Fatalf("SDK cannot read %q: %v", ev.data, err)
		}
		if !acc.AddChunk(c) {
			t.Fatalf("SDK accumulator rejects %q", ev.data)
		}
	}
	if len(acc.Choices) != 1 {
		t.Fatalf("%d choices accumulated", len(acc.Choices))
	}
	msg := acc.Choices[0].Message
	var calls []any
	for _, tc := range msg.ToolCalls {
		calls = append(calls, map[string]any{"id": tc.ID, "name": tc.Function.Name, "arguments": semJSON(t, []byte(tc.Function.Arguments))})
	}
	return map[string]any{
		"id": acc.ID, "model": acc.Model, "content": msg.Content, "tool_calls": calls,
		"finish_reason": acc.Choices[0].FinishReason,
		"usage":         []int64{acc.Usage.PromptTokens, acc.Usage.CompletionTokens, acc.Usage.TotalTokens},
	}
}

// openAIRequestOfSize builds a chat request of about n bytes shaped like a
// coding agent's: a long system prompt, tools with schemas, then turns of
// tool calls and tool results carrying file contents.
func openAIRequestOfSize(n int) []byte {
	prose := strings.Repeat(`You are an agent. Use the \"read\" tool before editing.\n`, max(1, n/10/58))
	file := strings.Repeat(`\tif err != nil {\n\t\treturn fmt.Errorf(\"read: %w\", err)\n\t}\n`, max(1, n/30/70))
	b := []byte(`{"model":"gpt-4o","max_completion_tokens":1024,"stream":true,"stream_options":{"include_usage":true},"tools":[`)
	for i := 0; len(b) < n/4; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"function","function":{"name":"tool_`+strconv.Itoa(i)+`","description":"Reads a file from the local filesystem. Use absolute paths.",`+
			`"parameters":{"type":"object","properties":{"file_path":{"type":"string","description":"The absolute path to the file to read"},`+
			`"offset":{"type":"number","description":"The line number to start reading from"},"limit":{"type":"number","description":"The number of lines to read"}},`+
			`"required":["file_path"],"additionalProperties":false}}}`...)
	}
	b = append(b, `],"messages":[{"role":"system","content":"`+prose+`"},{"role":"user","content":"Fix the bug in main.go, please."}`...)
	for i := 0; len(b) < n-200; i++ {
		id := strconv.Itoa(i)
		b = append(b, `,{"role":"assistant","content":"Let me read the file.","tool_calls":[{"id":"call_`+id+`","type":"function","function":{"name":"tool_0","arguments":"{\"file_path\":\"/src/main.go\",\"limit\":200}"}}]}`+
			`,{"role":"tool","tool_call_id":"call_`+id+`","content":"`+file+`"}`...)
	}
	return append(b, `]}`...)
}

// openAIRequestSmallMessages builds a request of about n bytes made of
// many tiny turns, the worst case per byte.
func openAIRequestSmallMessages(n int) []byte {
	b := []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."}`)
	for i := 0; len(b) < n-200; i++ {
		id := strconv.Itoa(i)
		b = append(b, `,{"role":"user","content":"What is the weather in \"Paris\"?\nAnd then?"},`+
			`{"role":"assistant","content":null,"tool_calls":[{"id":"call_`+id+`","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},`+
			`{"role":"tool","tool_call_id":"call_`+id+`","content":"18°C, cloudy"}`...)
	}
	return append(b, `]}`...)
}

// anthropicResponseOfSize builds a Message of about n bytes.
func anthropicResponseOfSize(n int) []byte {
	text := strings.Repeat(`The weather in Paris is \"mild\".\n`, max(1, (n-500)/36))
	return []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"` + text +
		`"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,` +
		`"usage":{"input_tokens":100,"cache_read_input_tokens":20,"output_tokens":50}}`)
}

func BenchmarkOpenAIToAnthropicRequest(b *testing.B) {
	for _, size := range []struct {
		name string
		body []byte
	}{
		{"1KB", openAIRequestOfSize(1 << 10)},
		{"100KB", openAIRequestOfSize(100 << 10)},
		{"100KB-small-messages", openAIRequestSmallMessages(100 << 10)},
	} {
		body := size.body
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			obj := index(b, body)
			for i := 0; i < b.N; i++ {
				tr, _ := New(OpenAIChat, AnthropicMessages)
				if _, err := tr.Request(obj, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAnthropicToOpenAIResponse(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1KB", 1 << 10}, {"100KB", 100 << 10}} {
		body := anthropicResponseOfSize(size.n)
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				tr, _ := New(OpenAIChat, AnthropicMessages)
				if _, err := tr.Response(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStreamAnthropicToOpenAIPerEvent converts a recorded Anthropic
// stream into OpenAI chunks, in 512-byte chunks; ns/op is per upstream
// event.
func BenchmarkStreamAnthropicToOpenAIPerEvent(b *testing.B) {
	in := loadFixture(b, "anthropic/messages-stream-tool-use-padded.sse")
	events := len(parseSSE(in))
	b.ReportAllocs()
	for i := 0; i < b.N; i += events {
		tr, _ := New(OpenAIChat, AnthropicMessages)
		for off := 0; off < len(in); off += 512 {
			if _, err := tr.Stream(in[off:min(off+512, len(in))], off+512 >= len(in)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// FuzzOpenAIToAnthropic is FuzzAnthropicToOpenAI the other way.
func FuzzOpenAIToAnthropic(f *testing.F) {
	for _, name := range []string{"openai/chat-request-parallel-tool-results.json", "openai/chat-request-image-data-uri.json", "anthropic/messages-stream-tool-use.sse", "anthropic/messages-response-tool-use.json"} {
		f.Add(loadFixture(f, name))
	}
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
		tr := mustNew(t, OpenAIChat, AnthropicMessages)
		if out, err := request(tr, in); err == nil && !json.Valid(out) {
			t.Fatalf("Request(%q) wrote invalid JSON %q", in, out)
		}
		if out, err := tr.Response(in); err == nil && !json.Valid(out) {
			t.Fatalf("Response(%q) wrote invalid JSON %q", in, out)
		}
		if out := tr.Error(500, in); !json.Valid(out) {
			t.Fatalf("Error(%q) wrote invalid JSON %q", in, out)
		}
		out, _ := mustNew(t, OpenAIChat, AnthropicMessages).Stream(in, true)
		for _, ev := range parseSSE(out) {
			if ev.data != "[DONE]" && !json.Valid([]byte(ev.data)) {
				t.Fatalf("Stream(%q) wrote invalid JSON %q", in, ev.data)
			}
		}
	})
}
