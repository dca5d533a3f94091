package e2e

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/mock"
)

// clientFrom is an HTTP client whose connections come from ip, a loopback
// address other than 127.0.0.1 where it must differ: the gateway hands
// the filter the real TCP peer, as Envoy's source.address and nginx's
// $remote_addr are. Every request opens a new connection, so from a new
// port.
func clientFrom(ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
}

func chatFrom(t *testing.T, ip, base string, header ...string) budgetReply {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(hello))
	req.Header.Set("content-type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := clientFrom(ip).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return budgetReply{resp.StatusCode, resp.Header, string(out)}
}

// chash on remote_addr: each client address's requests, from new ports
// every time, reach one instance, and the addresses spread over both (with
// weights 8:2, 127.0.0.13, .15, .16 and .19 hash to b).
func TestMultiConsistentHashOnClientAddress(t *testing.T) {
	for _, profile := range multiProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			a, b := twoMocks(t)
			base, _ := startGateway(t, profile, multiRoute(a, b, "balancer: {algorithm: chash, hash_on: vars, key: remote_addr}"))
			var ips []string
			for i := 1; i <= 20; i++ {
				ips = append(ips, "127.0.0."+strconv.Itoa(i))
			}
			checkSticky(t, ips, func(ip string) (int, string) {
				r := chatFrom(t, ip, base)
				return r.status, r.body
			})
		})
	}
}

// A rule keyed on $remote_addr is a budget per client address: the
// second request of one address is rejected, another address's is not.
// On Envoy the address is X-Forwarded-For's when a request sends one.
func TestBudgetRuleByClientAddress(t *testing.T) {
	for _, profile := range multiProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			a, b := mock.NewOpenAI(mock.WithAPIKey("key-a")), mock.NewOpenAI(mock.WithAPIKey("key-b"))
			defer a.Close()
			defer b.Close()
			rl := `{rules: [{count: 1, time_window: ` + budgetWindow + `, key: "$remote_addr", header_prefix: Client}]}`
			base, _ := startGatewayWorkers(t, profile, budgetRoute(a, b, "", rl), budgetWorkers(profile))
			r := chatFrom(t, "127.0.0.2", base)
			if r.status != 200 {
				t.Fatalf("127.0.0.2: %d %s", r.status, r.body)
			}
			wantQuota(t, "127.0.0.2", r, map[string]string{"X-AI-Client-RateLimit-Limit": "1", "X-AI-Client-RateLimit-Remaining": "1"})
			if r := chatFrom(t, "127.0.0.2", base); r.status != 503 {
				t.Fatalf("127.0.0.2 again: %d %s, want 503", r.status, r.body)
			}
			r = chatFrom(t, "127.0.0.3", base)
			if r.status != 200 {
				t.Fatalf("127.0.0.3: %d %s, want its own budget", r.status, r.body)
			}
			wantQuota(t, "127.0.0.3", r, map[string]string{"X-AI-Client-RateLimit-Remaining": "1"})
			// Envoy's connection manager, at its defaults, takes the address
			// from X-Forwarded-For; nginx's $remote_addr stays the peer.
			want := 200
			if profile == host.APISIX {
				want = 503
			}
			if r := chatFrom(t, "127.0.0.2", base, "x-forwarded-for", "192.0.2.9"); r.status != want {
				t.Fatalf("127.0.0.2 as X-Forwarded-For 192.0.2.9: %d %s, want %d", r.status, r.body, want)
			}
		})
	}
}
