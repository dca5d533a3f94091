package convert

import (
	"bytes"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert/eventstream"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
)

// request runs tr.Request the way the filter does: on a body validated
// and indexed first, appending to no buffer, with no edits.
func request(tr Translator, body []byte) ([]byte, error) {
	var obj jsonbytes.Object
	if err := obj.Parse(body); err != nil {
		return nil, err
	}
	return tr.Request(&obj, nil, nil)
}

// index is a request body as Translator.Request takes it. The filter
// indexes a body once, when it arrives, and builds every attempt from
// that index: request benchmarks measure the translation alone.
func index(tb testing.TB, body []byte) *jsonbytes.Object {
	var obj jsonbytes.Object
	if err := obj.Parse(body); err != nil {
		tb.Fatal(err)
	}
	return &obj
}

// TestStreamDoesNotAllocatePerEvent feeds each converting translator the
// same content delta again and again once its stream has started: the
// events come out of a buffer the translator reuses (see
// Translator.Stream), without an allocation per call.
func TestStreamDoesNotAllocatePerEvent(t *testing.T) {
	start, _ := eventstream.AppendMessage(nil, bedrockEventHeaders("messageStart"), []byte(`{"role":"assistant"}`))
	delta, _ := eventstream.AppendMessage(nil, bedrockEventHeaders("contentBlockDelta"), []byte(`{"contentBlockIndex":0,"delta":{"text":"hi"}}`))
	tests := []struct {
		client, upstream Protocol
		start, delta     string
		want             string // in the output of each delta
	}{
		{AnthropicMessages, OpenAIChat,
			`data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n",
			`data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}` + "\n\n",
			`"text_delta","text":"hi"`},
		{OpenAIChat, AnthropicMessages,
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg\",\"model\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\n",
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
			`"delta":{"content":"hi"}`},
		{OpenAIChat, BedrockConverse, string(start), string(delta), `"delta":{"content":"hi"}`},
	}
	for _, tt := range tests {
		tr := mustNew(t, tt.client, tt.upstream)
		tr.Stream([]byte(tt.start), false)
		in := []byte(tt.delta)
		var out []byte
		if allocs := testing.AllocsPerRun(100, func() { out, _ = tr.Stream(in, false) }); allocs != 0 {
			t.Errorf("%v -> %v: %.1f allocations per event", tt.client, tt.upstream, allocs)
		}
		if !bytes.Contains(out, []byte(tt.want)) {
			t.Errorf("%v -> %v: the delta gave %q", tt.client, tt.upstream, out)
		}
	}
}
