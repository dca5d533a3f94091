package envoytest

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
)

// A rule keyed on $remote_addr reads Envoy's source.address: the second
// request from 127.0.0.1, on a new connection (so from a new port), is
// refused, and 127.0.0.2 has a budget of its own; so has an address
// X-Forwarded-For names, as the harness's Envoy profiles model.
func TestBudgetRuleByClientAddressInEnvoy(t *testing.T) {
	forEachEnvoy(t, func(t *testing.T, b envoy.Binary) {
		listen, _, m := startBudgetEnvoy(t, b, `ai-rate-limiting: {rules: [{count: 1, time_window: 100000000, key: "$remote_addr"}], rejected_code: 429}`)
		for i, tt := range []struct {
			from, xff string
			want      int
		}{
			{"127.0.0.1", "", 200}, {"127.0.0.1", "", 429}, {"127.0.0.2", "", 200}, {"127.0.0.2", "", 429},
			// use_remote_address false (the default): the last
			// X-Forwarded-For address is source.address.
			{"127.0.0.2", "198.51.100.1, 192.0.2.9", 200}, {"127.0.0.1", "192.0.2.9", 429},
		} {
			dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tt.from)}}
			client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
			req, _ := http.NewRequest("POST", "http://"+listen+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("content-type", "application/json")
			if tt.xff != "" {
				req.Header.Set("x-forwarded-for", tt.xff)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("request %d from %s: %d %s, want %d", i, tt.from, resp.StatusCode, body, tt.want)
			}
		}
		if m.Count() != 3 {
			t.Errorf("the mock served %d requests, want 3", m.Count())
		}
	})
}
