package envoytest

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// testOpenAIAPI: embeddings and the Responses API through the example as
// shipped, non-streaming and streaming, with the operator's key and model.
func testOpenAIAPI(t *testing.T, r *rig) {
	g := r.gw["llm_gateway"]

	t.Run("embeddings", func(t *testing.T) {
		r.openai.Reset()
		resp, body := g.post(t, "/v1/embeddings", `{"model":"text-embedding-3-small","input":["one two","three"]}`)
		if resp.StatusCode != 200 || len(gjson.Get(body, "data").Array()) != 2 || len(gjson.Get(body, "data.1.embedding").Array()) == 0 {
			t.Fatalf("got %d %.300s", resp.StatusCode, body)
		}
		if n := gjson.Get(body, "usage.prompt_tokens").Int(); n != 3 {
			t.Errorf("usage.prompt_tokens = %d, want 3", n)
		}
		up := onlyRequest(t, r.openai)
		if up.Path != "/v1/embeddings" || up.Get("input.1").String() != "three" {
			t.Errorf("upstream got %s %s", up.Path, up.Body)
		}
		// The example's options.model applies to every request of the route.
		if got := up.Get("model").String(); got != "gpt-4o-mini" {
			t.Errorf("upstream model %q, want the example's gpt-4o-mini", got)
		}
		checkAuth(t, up.Header)
	})

	t.Run("responses", func(t *testing.T) {
		r.openai.Reset()
		resp, body := g.post(t, "/v1/responses", `{"model":"gpt-4o","input":"hello responses"}`)
		if resp.StatusCode != 200 || gjson.Get(body, "output.0.content.0.text").String() != "You said: hello responses" {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if gjson.Get(body, "usage.input_tokens").Int() == 0 {
			t.Errorf("no usage in %s", body)
		}
		up := onlyRequest(t, r.openai)
		if up.Path != "/v1/responses" || up.Get("model").String() != "gpt-4o-mini" {
			t.Errorf("upstream got %s model %q", up.Path, up.Get("model"))
		}
		checkAuth(t, up.Header)
	})

	t.Run("responses stream", func(t *testing.T) {
		r.openai.Reset()
		resp, body := g.post(t, "/v1/responses", `{"input":"stream responses","stream":true}`)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("got %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		events := sseEvents(body)
		if len(events) < 3 || events[0] != "response.created" || events[len(events)-1] != "response.completed" {
			t.Fatalf("events %q", events)
		}
		var text strings.Builder
		for _, d := range sseData(body) {
			if gjson.Get(d, "type").String() == "response.output_text.delta" {
				text.WriteString(gjson.Get(d, "delta").String())
			}
		}
		if text.String() != "You said: stream responses" {
			t.Errorf("streamed text %q", text.String())
		}
		checkAuth(t, onlyRequest(t, r.openai).Header)
	})
}
