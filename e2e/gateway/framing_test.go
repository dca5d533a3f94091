package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// A body the filter rewrote goes upstream chunked, as from Envoy: the filter
// drops content-length and Envoy's HTTP/1 codec frames a request without
// one chunked; behind envoy.filters.http.buffer (the examples' chain) it
// goes with the content-length that filter sets (checked against Envoy
// 1.36.4 and 1.40.0 by e2e/envoytest TestHarnessMatchesEnvoy).
func TestRewrittenBodyGoesUpstreamChunked(t *testing.T) {
	type seen struct {
		te   []string
		cl   int64
		body string
	}
	got := make(chan seen, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.TransferEncoding, r.ContentLength, string(b)}
		w.Header().Set("content-type", "application/json")
		io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[]}`)
	}))
	defer up.Close()
	cfg, err := ParseConfig([]byte("routes:\n" +
		"  - {id: c, uri: /v1/chat/completions, plugins: {ai-proxy: {provider: openai, auth: {header: {Authorization: Bearer k}}, options: {model: gpt-4o-mini}}}}\n" +
		"clusters:\n  api.openai.com: " + up.URL + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p      host.Profile
		buffer bool
	}{{host.Envoy, false}, {host.EnvoyFixed, false}, {host.Envoy, true}, {host.EnvoyFixed, true}} {
		p := tc.p
		t.Run(fmt.Sprintf("%s buffer=%v", p, tc.buffer), func(t *testing.T) {
			g, err := New(context.Background(), hosttest.Filter(t), cfg, Options{Profile: p, BufferFilter: tc.buffer})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(g)
			defer func() { srv.Close(); g.Close() }()
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			s := <-got
			if !strings.Contains(s.body, `"gpt-4o-mini"`) {
				t.Errorf("upstream got body %s, not the rewritten one", s.body)
			}
			chunked := slices.Equal(s.te, []string{"chunked"}) && s.cl == -1
			framed := len(s.te) == 0 && s.cl == int64(len(s.body))
			if !tc.buffer && !chunked || tc.buffer && !framed {
				t.Errorf("upstream got transfer-encoding %q, content-length %d for %d body bytes", s.te, s.cl, len(s.body))
			}
		})
	}
}
