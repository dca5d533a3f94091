package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// testServiceAccount is a throw-away key from the shared fixtures.
func testServiceAccount(t *testing.T) (string, *rsa.PublicKey) {
	t.Helper()
	sa, err := os.ReadFile("testdata/gcp/service-account.json")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := os.ReadFile("testdata/gcp/service-account.public.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return string(sa), pub.(*rsa.PublicKey)
}

func vertexConf(sa string, hold bool) string {
	h := ""
	if hold {
		h = `,"allow_on_headers_stop_iteration":true`
	}
	return `{"provider":"vertex-ai","provider_conf":{"project_id":"test-project-123456","region":"us-central1"},` +
		`"auth":{"gcp":{"service_account_json":` + quoteJSON(sa) + `}},"options":{"model":"google/gemini-2.0-flash"}` + h + `}`
}

func quoteJSON(s string) string {
	b := make([]byte, 0, len(s)+16)
	b = append(b, '"')
	for _, c := range []byte(s) {
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

func gcpClusters(m *mock.Server) map[string]string {
	return map[string]string{"oauth2.googleapis.com": m.URL, "us-central1-aiplatform.googleapis.com": m.URL}
}

// Vertex AI chat with a service account: the filter mints an RS256
// assertion (the mock verifies it with the public key), exchanges it once,
// and reuses the token.
func TestVertexChatWithServiceAccount(t *testing.T) {
	sa, pub := testServiceAccount(t)
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			m := mock.NewGCP(mock.WithJWTKey(pub))
			defer m.Close()
			r := newRig(t, profile, vertexConf(sa, false), gcpClusters(m))
			for i := 0; i < 3; i++ {
				resp := r.do(t, "/v1/chat/completions", fmt.Sprintf(`{"messages":[{"role":"user","content":"vertex %d"}]}`, i))
				if resp.Status != 200 || gjson.GetBytes(resp.Body, "choices.0.message.content").Str != fmt.Sprintf("You said: vertex %d", i) {
					t.Fatalf("%d %s", resp.Status, resp.Body)
				}
				for _, l := range resp.Logs {
					if strings.Contains(l.Msg, "PRIVATE KEY") || strings.Contains(l.Msg, "ya29.") {
						t.Fatalf("secret in log: %s", l.Msg)
					}
				}
			}
			up := m.Last()
			if up.Path != "/v1beta1/projects/test-project-123456/locations/us-central1/endpoints/openapi/chat/completions" ||
				!strings.HasPrefix(up.Header.Get("Authorization"), "Bearer ya29.mock-") || up.Get("model").Str != "google/gemini-2.0-flash" {
				t.Fatalf("upstream %s %q %s", up.Path, up.Header.Get("Authorization"), up.Body)
			}
			if m.TokenCount() != 1 {
				t.Fatalf("%d token exchanges for 3 requests", m.TokenCount())
			}
		})
	}
}

// Embeddings from an OpenAI client become a :predict call on the model's
// endpoint and come back in OpenAI's shape.
func TestVertexEmbeddings(t *testing.T) {
	sa, pub := testServiceAccount(t)
	for _, m := range bedrockModes {
		t.Run(modeName(m.profile, m.hold), func(t *testing.T) {
			mk := mock.NewGCP(mock.WithJWTKey(pub))
			defer mk.Close()
			conf := strings.Replace(vertexConf(sa, m.hold), `"google/gemini-2.0-flash"`, `"text-embedding-005"`, 1)
			cfg := "routes:\n  - id: e\n    uri: /v1/embeddings\n    plugins:\n      ai-proxy: " + conf + "\nclusters:\n"
			for k, v := range gcpClusters(mk) {
				cfg += "  " + k + ": " + v + "\n"
			}
			base, _ := startGateway(t, m.profile, cfg)
			c := client(base)
			emb, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
				Model: "x", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one two", "three"}}})
			if err != nil {
				t.Fatal(err)
			}
			if len(emb.Data) != 2 || len(emb.Data[1].Embedding) == 0 || emb.Usage.PromptTokens != 3 {
				t.Fatalf("%+v", emb)
			}
			up := mk.Last()
			if !strings.HasSuffix(up.Path, "/publishers/google/models/text-embedding-005:predict") || up.Get("instances.1.content").Str != "three" {
				t.Fatalf("upstream %s %s", up.Path, up.Body)
			}
		})
	}
}

// One token exchange serves many concurrent requests on several workers:
// the token and the fetch lease live in shared data.
func TestVertexTokenSharedAcrossWorkers(t *testing.T) {
	sa, pub := testServiceAccount(t)
	m := mock.NewGCP(mock.WithJWTKey(pub), mock.WithDelay(0))
	defer m.Close()
	cfg := "routes:\n  - id: v\n    uri: /v1/chat/completions\n    plugins:\n      ai-proxy: " + vertexConf(sa, false) + "\nclusters:\n"
	for k, v := range gcpClusters(m) {
		cfg += "  " + k + ": " + v + "\n"
	}
	base, _ := startGatewayWorkers(t, host.Envoy, cfg, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := http.Post(base+"/v1/chat/completions", "application/json",
				strings.NewReader(fmt.Sprintf(`{"messages":[{"role":"user","content":"n%d"}]}`, i)))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if m.TokenCount() != 1 {
		t.Fatalf("%d token exchanges for 40 concurrent requests on 4 workers", m.TokenCount())
	}
}

func TestVertexTokenFailure(t *testing.T) {
	sa, _ := testServiceAccount(t)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	m := mock.NewGCP(mock.WithJWTKey(&other.PublicKey)) // rejects our assertion
	defer m.Close()
	for _, profile := range profiles {
		r := newRig(t, profile, vertexConf(sa, false), gcpClusters(m))
		resp := r.do(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
		msg := gjson.GetBytes(resp.Body, "error.message").Str
		if resp.Status != 502 || !strings.Contains(msg, "GCP access token") || !strings.Contains(msg, "ai-gateway-test@") {
			t.Fatalf("%s: %d %s", profile, resp.Status, resp.Body)
		}
	}
}
