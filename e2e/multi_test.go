package e2e

import (
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// multiRoute is a gateway config with one ai-proxy-multi route over two
// mocks, "a" (weight 8) and "b" (weight 2), each with its own key and
// options; extra is more YAML of the plugin (balancer, ...).
func multiRoute(a, b *mock.Server, extra string) string {
	return `routes:
  - id: multi
    uri: /v1/chat/completions
    plugins:
      ai-proxy-multi:
        instances:
          - name: a
            provider: openai-compatible
            weight: 8
            auth: {header: {Authorization: Bearer key-a}}
            options: {model: model-a}
            override: {endpoint: "http://a.test/v1/chat/completions"}
          - name: b
            provider: openai-compatible
            weight: 2
            auth: {header: {Authorization: Bearer key-b}}
            options: {model: model-b, temperature: 0.5}
            override: {endpoint: "http://b.test/v1/chat/completions"}
` + indent(extra, 8) + `
clusters:
  a.test: ` + a.URL + `
  b.test: ` + b.URL + "\n"
}

var multiProfiles = []host.Profile{host.EnvoyFixed, host.APISIX}

func chat(t *testing.T, base, body string, header ...string) (int, string) {
	t.Helper()
	r := chatReply(t, base, body, header...)
	return r.status, r.body
}

// 100 requests on one worker with weights 8:2 reach the instances exactly
// 80 and 20 times, each with its own credentials and options and none of
// the other's.
func TestMultiWeightedDistribution(t *testing.T) {
	for _, profile := range multiProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			a, b := twoMocks(t)
			base, _ := startGatewayWorkers(t, profile, multiRoute(a, b, ""), 1)
			for i := range 100 {
				if status, body := chat(t, base, `{"model":"client","messages":[{"role":"user","content":"hi"}]}`); status != 200 {
					t.Fatalf("request %d: %d %s", i, status, body)
				}
			}
			if a.Count() != 80 || b.Count() != 20 {
				t.Fatalf("a got %d, b got %d; want 80 and 20", a.Count(), b.Count())
			}
			for _, r := range a.Requests() {
				if r.Get("model").Str != "model-a" || r.Get("temperature").Exists() {
					t.Fatalf("a saw %s", r.Body)
				}
			}
			for _, r := range b.Requests() {
				if r.Get("model").Str != "model-b" || r.Get("temperature").Num != 0.5 {
					t.Fatalf("b saw %s", r.Body)
				}
			}
		})
	}
}

// chash on a header: each user's requests all reach one instance, and
// the users spread over both.
func TestMultiConsistentHash(t *testing.T) {
	for _, profile := range multiProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			a, b := twoMocks(t)
			base, _ := startGateway(t, profile, multiRoute(a, b, "balancer: {algorithm: chash, hash_on: header, key: x-user}"))
			users := []string{"ann", "bob", "cyd", "dan", "eve", "fay", "gus", "hal", "ivy", "jon"}
			checkSticky(t, users, func(user string) (int, string) {
				return chat(t, base, `{"messages":[{"role":"user","content":"hi"}]}`, "x-user", user)
			})
		})
	}
}

// checkSticky sends three requests per key and checks that each key's
// requests all reach one instance (told apart by model-a or model-b in
// the answer) and that the keys spread over both.
func checkSticky(t *testing.T, keys []string, send func(key string) (int, string)) {
	t.Helper()
	spread := map[string]bool{}
	for _, key := range keys {
		var first string
		for range 3 {
			status, body := send(key)
			if status != 200 {
				t.Fatalf("%s: %d %s", key, status, body)
			}
			model := "model-a"
			if strings.Contains(body, "model-b") {
				model = "model-b"
			}
			if first != "" && model != first {
				t.Fatalf("%s reached %s, then %s", key, first, model)
			}
			first = model
		}
		spread[first] = true
	}
	if len(spread) != 2 {
		t.Errorf("%d keys all reached %v", len(keys), spread)
	}
}

// A stream goes through the instance picked, converted as ai-proxy's.
func TestMultiStreaming(t *testing.T) {
	for _, profile := range multiProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			a, b := twoMocks(t)
			base, _ := startGateway(t, profile, multiRoute(a, b, ""))
			status, body := chat(t, base, `{"messages":[{"role":"user","content":"stream me"}],"stream":true}`)
			if status != 200 || !strings.Contains(body, "data: ") || !strings.Contains(body, "[DONE]") {
				t.Fatalf("%d %s", status, body)
			}
			if a.Count()+b.Count() != 1 {
				t.Fatalf("a %d b %d", a.Count(), b.Count())
			}
		})
	}
}
