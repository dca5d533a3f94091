package convert

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// testdata/vertex holds the shared gcp fixtures: a :predict request and
// response and the OpenAI response a gateway should return for them, plus
// openai-embeddings-request.json, the client request the :predict request
// was translated from (its "_translated_from" note).

func TestOpenAIToVertexGolden(t *testing.T) {
	tr := mustNew(t, OpenAIEmbeddings, VertexPredict)
	out, err := request(tr, loadFixture(t, "vertex/openai-embeddings-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantReq := gjson.GetBytes(loadFixture(t, "vertex/vertex-embeddings-predict-request.json"), "body").Raw
	requireSameJSON(t, "request", out, []byte(wantReq))

	out, err = tr.Response(loadFixture(t, "vertex/vertex-embeddings-predict-response.json"))
	if err != nil {
		t.Fatal(err)
	}
	requireSameJSON(t, "response", out, loadFixture(t, "vertex/vertex-embeddings-openai-expected.json"))
	if u := tr.Usage(); u != (Usage{PromptTokens: 10, TotalTokens: 10}) {
		t.Errorf("Usage() = %+v, want 10 prompt and total tokens (7+3)", u)
	}
}

func TestOpenAIToVertexRequest(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{name: "string input", in: `{"model":"text-embedding-005","input":"a \"b\"","encoding_format":"float","user":"u"}`,
			want: `{"instances":[{"content":"a \"b\""}]}`},
		{name: "array", in: `{"input":["x","y","z"],"dimensions":64}`,
			want: `{"instances":[{"content":"x"},{"content":"y"},{"content":"z"}],"parameters":{"outputDimensionality":64}}`},
		{name: "token ids", in: `{"input":[4438,656,358]}`, wantErr: "not token ids"},
		{name: "token id arrays", in: `{"input":[[4438,656]]}`, wantErr: "not token ids"},
		{name: "mixed array", in: `{"input":["x",1]}`, wantErr: "not token ids"},
		{name: "empty array", in: `{"input":[]}`, wantErr: "non-empty"},
		{name: "no input", in: `{"model":"m"}`, wantErr: "input must be"},
	}
	for _, tt := range tests {
		out, err := request(mustNew(t, OpenAIEmbeddings, VertexPredict), []byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		requireSameJSON(t, tt.name, out, []byte(tt.want))
	}
}

// Vertex returns floats only; for encoding_format base64 the gateway must
// produce OpenAI's base64 of little-endian float32 values.
func TestOpenAIToVertexBase64(t *testing.T) {
	tr := mustNew(t, OpenAIEmbeddings, VertexPredict)
	if _, err := request(tr, []byte(`{"model":"text-embedding-005","input":["a","b"],"encoding_format":"base64"}`)); err != nil {
		t.Fatal(err)
	}
	resp := loadFixture(t, "vertex/vertex-embeddings-predict-response.json")
	out, err := tr.Response(resp)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		enc := gjson.GetBytes(out, "data."+strconv.Itoa(i)+".embedding").Str
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(raw) != 8*4 {
			t.Fatalf("embedding %d: %q is not 8 base64 float32s: %v", i, enc, err)
		}
		for j, v := range gjson.GetBytes(resp, "predictions."+strconv.Itoa(i)+".embeddings.values").Array() {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[j*4:])); got != float32(v.Float()) {
				t.Errorf("embedding %d value %d = %v, want %v", i, j, got, v.Float())
			}
		}
	}
}

func TestOpenAIToVertexBadResponses(t *testing.T) {
	for _, body := range []string{`{"predictions":`, `{"error":{}}`, `{"predictions":[{"embeddings":{}}]}`} {
		if out, err := mustNew(t, OpenAIEmbeddings, VertexPredict).Response([]byte(body)); err == nil {
			t.Errorf("%s: no error, out %s", body, out)
		}
	}
}

func TestOpenAIToVertexError(t *testing.T) {
	body := `{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model.","status":"RESOURCE_EXHAUSTED"}}`
	out := mustNew(t, OpenAIEmbeddings, VertexPredict).Error(429, []byte(body))
	var e struct {
		Error struct{ Message, Type string }
	}
	if err := json.Unmarshal(out, &e); err != nil || e.Error.Type != "rate_limit_error" || !strings.HasPrefix(e.Error.Message, "Quota exceeded") {
		t.Errorf("Error = %s", out)
	}
}
