package providers

import (
	"os"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBedrockModelPath(t *testing.T) {
	tests := []struct {
		model  string
		stream bool
		want   string
	}{
		{"anthropic.claude-3-5-sonnet-20240620-v1:0", false, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"},
		{"us.anthropic.claude-3-5-haiku-20241022-v1:0", true, "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"},
		{"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", false,
			"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123/converse"},
		{"a b%/~_", false, "/model/a%20b%25%2F~_/converse"},
		{"..", false, "/model/%2E%2E/converse"},
	}
	for _, tt := range tests {
		if got := BedrockModelPath(tt.model, tt.stream); got != tt.want {
			t.Errorf("BedrockModelPath(%q, %v) = %q, want %q", tt.model, tt.stream, got, tt.want)
		}
	}
}

func TestVertexPaths(t *testing.T) {
	chat := fixture(t, "vertex-openai-chat-request.json")
	predict := fixture(t, "vertex-embeddings-predict-request.json")
	tests := []struct{ got, want string }{
		{"https://" + VertexHost("us-central1") + VertexChatPath("test-project-123456", "us-central1"), gjson.GetBytes(chat, "_request.url_regional").Str},
		{"https://" + VertexHost("global") + VertexChatPath("test-project-123456", "global"), gjson.GetBytes(chat, "_request.url_global").Str},
		{"https://" + VertexHost("us-central1") + VertexPredictPath("test-project-123456", "us-central1", "text-embedding-005"), gjson.GetBytes(predict, "_request.url").Str},
		{VertexPredictPath("p", "europe-west4", "../x/y"), "/v1/projects/p/locations/europe-west4/publishers/google/models/..%2Fx%2Fy:predict"},
	}
	for _, tt := range tests {
		if tt.got != tt.want || tt.want == "" {
			t.Errorf("got  %s\nwant %s", tt.got, tt.want)
		}
	}
}

func TestLocate(t *testing.T) {
	chat, embed := convert.OpenAIChat, convert.OpenAIEmbeddings
	tests := []struct {
		provider, project, region string
		client                    convert.Protocol
		model                     string
		host, path, modelPath     string
	}{
		{"openai", "", "", chat, "", "api.openai.com", "/v1/chat/completions", ""},
		{"bedrock", "", "eu-west-1", chat, "m:1", "bedrock-runtime.eu-west-1.amazonaws.com", "", "/model/m%3A1/converse"},
		{"vertex-ai", "p", "", chat, "", "aiplatform.googleapis.com", "/v1beta1/projects/p/locations/global/endpoints/openapi/chat/completions", ""},
		{"vertex-ai", "p", "europe-west4", chat, "", "europe-west4-aiplatform.googleapis.com", "/v1beta1/projects/p/locations/europe-west4/endpoints/openapi/chat/completions", ""},
		{"vertex-ai", "p", "us-central1", embed, "text-embedding-005", "us-central1-aiplatform.googleapis.com", "", "/v1/projects/p/locations/us-central1/publishers/google/models/text-embedding-005:predict"},
	}
	for _, tt := range tests {
		p, _ := Lookup(tt.provider)
		c := p.Conf(tt.project, tt.region)
		e, _ := p.Endpoint(tt.client)
		if got := p.HostFor(c.Region); got != tt.host {
			t.Errorf("%s %s: host %q, want %q", tt.provider, tt.region, got, tt.host)
		}
		if got := p.PathOf(e, c); got != tt.path {
			t.Errorf("%s %s: path %q, want %q", tt.provider, tt.region, got, tt.path)
		}
		got := ""
		if e.ModelPath != nil {
			got = e.ModelPath(c, tt.model, false)
		}
		if got != tt.modelPath {
			t.Errorf("%s %s: model path %q, want %q", tt.provider, tt.region, got, tt.modelPath)
		}
	}
}
