package convert

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// bedrockStreams are the ConverseStream fixtures with what they hold.
var bedrockStreams = []struct {
	name       string
	usage      Usage // from the metadata event
	first      bool  // has a contentBlockDelta
	exception  string
	nonContent bool
}{
	{name: "text", usage: Usage{PromptTokens: 8, CompletionTokens: 12, TotalTokens: 20}, first: true},
	{name: "tool-use", usage: Usage{PromptTokens: 375, CompletionTokens: 57, TotalTokens: 432}, first: true},
	{name: "parallel-tools", usage: Usage{PromptTokens: 402, CompletionTokens: 96, TotalTokens: 498}, first: true},
	{name: "exception", first: true, exception: "modelStreamErrorException: Model produced invalid sequence as part of ToolUse. Please refer to the model tool use troubleshooting guide."},
	{name: "throttling-exception", exception: "throttlingException: Too many requests, please wait before trying again."},
}

func TestBedrockPassthroughResponse(t *testing.T) {
	tests := []struct {
		fixture string
		want    Usage
	}{
		{"converse-response-text.json", Usage{PromptTokens: 14, CompletionTokens: 11, TotalTokens: 25}},
		{"converse-response-tool-use.json", Usage{PromptTokens: 375, CompletionTokens: 57, TotalTokens: 432}},
		// inputTokens (12) excludes the 2048 cache-read tokens; PromptTokens includes them.
		{"converse-response-max-tokens-cache.json", Usage{PromptTokens: 2060, CompletionTokens: 8, TotalTokens: 2068, CacheReadTokens: 2048}},
	}
	for _, tt := range tests {
		tr := mustNew(t, BedrockConverse, BedrockConverse)
		in := loadFixture(t, "bedrock/"+tt.fixture)
		out, err := tr.Response(in)
		if err != nil || !sameSlice(out, in) {
			t.Errorf("%s: Response changed the body or failed: %v", tt.fixture, err)
		}
		if got := tr.Usage(); got != tt.want {
			t.Errorf("%s: Usage() = %+v, want %+v", tt.fixture, got, tt.want)
		}
	}
}

func TestBedrockPassthroughRequestAndErrorUnchanged(t *testing.T) {
	tr := mustNew(t, BedrockConverse, BedrockConverse)
	req := loadFixture(t, "bedrock/converse-request-tool-result.json")
	if out, err := request(tr, req); err != nil || !sameSlice(out, req) {
		t.Errorf("Request: %v, body changed: %v", err, !sameSlice(out, req))
	}
	body := []byte(`{"message":"Too many requests, please wait before trying again."}`)
	if out := tr.Error(429, body); !sameSlice(out, body) {
		t.Errorf("Error changed the body: %s", out)
	}
	if ct := tr.StreamContentType(); ct != "application/vnd.amazon.eventstream" {
		t.Errorf("StreamContentType() = %q", ct)
	}
}

func TestBedrockPassthroughStream(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, fx := range bedrockStreams {
		in := loadFixture(t, "bedrock/converse-stream-"+fx.name+".bin")
		for _, chunks := range chunkings(rng, in) {
			tr := mustNew(t, BedrockConverse, BedrockConverse)
			var got []byte
			for i, c := range chunks {
				out, err := tr.Stream(c, i == len(chunks)-1)
				if err != nil {
					t.Fatalf("%s: Stream: %v", fx.name, err)
				}
				if !sameSlice(out, c) {
					t.Fatalf("%s: Stream returned other bytes than its chunk", fx.name)
				}
				got = append(got, out...)
			}
			if !bytes.Equal(got, in) {
				t.Fatalf("%s: the client did not get the upstream bytes", fx.name)
			}
			if u := tr.Usage(); u != fx.usage {
				t.Fatalf("%s in %d chunks: Usage() = %+v, want %+v", fx.name, len(chunks), u, fx.usage)
			}
			if tr.FirstToken() != fx.first {
				t.Fatalf("%s: FirstToken() = %v, want %v", fx.name, tr.FirstToken(), fx.first)
			}
		}
	}
}

func TestBedrockPassthroughFirstTokenWaitsForADelta(t *testing.T) {
	in := loadFixture(t, "bedrock/converse-stream-text.bin")
	tr := mustNew(t, BedrockConverse, BedrockConverse)
	tr.Stream(in[:170], false) // messageStart only
	if tr.FirstToken() {
		t.Fatal("FirstToken() after messageStart")
	}
	tr.Stream(in[170:], true)
	if !tr.FirstToken() {
		t.Fatal("no FirstToken() after contentBlockDelta")
	}
}

func TestBedrockPassthroughStreamFaults(t *testing.T) {
	in := loadFixture(t, "bedrock/converse-stream-text.bin")
	corrupt := bytes.Clone(in)
	corrupt[200] ^= 1 // inside the second message's payload
	tests := []struct {
		name, wantErr string
		chunks        [][]byte
	}{
		{"corrupt", "message CRC", [][]byte{corrupt[:300], corrupt[300:]}},
		{"cut", "ended inside", [][]byte{in[:300]}},
	}
	for _, tt := range tests {
		tr := mustNew(t, BedrockConverse, BedrockConverse)
		var errs []error
		for i, c := range tt.chunks {
			out, err := tr.Stream(c, i == len(tt.chunks)-1)
			if !sameSlice(out, c) {
				t.Fatalf("%s: bytes not passed through", tt.name)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.wantErr) {
			t.Errorf("%s: errors %v, want one mentioning %q", tt.name, errs, tt.wantErr)
		}
	}
}

// sameSlice reports whether a and b are the same bytes in memory.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// requireSameJSON fails unless got and want hold equal JSON values.
func requireSameJSON(t testing.TB, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: golden is not JSON: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Fatalf("%s:\n got %s\nwant %s", what, gi, wi)
	}
}
