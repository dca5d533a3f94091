package core

import "testing"

// $remote_addr and $remote_port come from the client address as the
// hosts write it: Envoy's source.address ("ip:port", "[ip]:port" for
// IPv6), or APISIX's two variables joined the same way by the shell.
func TestSplitAddress(t *testing.T) {
	tests := []struct{ addr, ip, port string }{
		{"10.0.0.7:4242", "10.0.0.7", "4242"},
		{"[::1]:50000", "::1", "50000"},
		{"[2001:db8::7]:443", "2001:db8::7", "443"},
		{"10.0.0.7", "10.0.0.7", ""},
		{"2001:db8::7", "2001:db8::7", ""}, // IPv6 without brackets has no port
		{"[::1]", "::1", ""},
		{"/run/envoy.sock", "/run/envoy.sock", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		if ip, port := splitAddress(tt.addr); ip != tt.ip || port != tt.port {
			t.Errorf("splitAddress(%q) = %q, %q; want %q, %q", tt.addr, ip, port, tt.ip, tt.port)
		}
	}
}

// The client address costs a host call: it is read once per request
// when a key needs it, and never when none does.
func TestClientAddressReadOnlyWhenNeeded(t *testing.T) {
	const byAddr = `"rules":[{"count":1000,"time_window":60,"key":"$remote_addr"}]`
	tests := []struct {
		name, conf string
		reads      int
	}{
		{"roundrobin, no budget", `{"ai-proxy-multi":` + multi("") + `}`, 0},
		{"chash on a header, rule on a header", `{"ai-proxy-multi":` + multi(`"balancer":{"algorithm":"chash","key":"http_x_user"}`) + `,"ai-rate-limiting":{"rules":[{"count":1000,"time_window":60,"key":"$http_x_user"}]}}`, 0},
		{"chash on remote_addr", `{"ai-proxy-multi":` + multi(`"balancer":{"algorithm":"chash","key":"remote_addr"}`) + `}`, 1},
		{"rule on remote_addr", `{"ai-proxy-multi":` + multi("") + `,"ai-rate-limiting":{` + byAddr + `}}`, 1},
		{"both, and the port", `{"ai-proxy-multi":` + multi(`"balancer":{"algorithm":"chash","hash_on":"vars_combinations","key":"$remote_addr:$remote_port"}`) + `,"ai-rate-limiting":{` + byAddr + `}}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := budgetPlugins(t, tt.conf, envoyCaps, 1)[0]
			h := newFakeHost(clientHeaders("/v1/chat/completions", [2]string{"x-user", "ann"})...)
			h.clientAddr = "10.0.0.7:4242"
			if h = serveOn(t, p, h, 1); h.local != nil {
				t.Fatalf("answered locally: %d %s", h.local.status, h.local.body)
			}
			if h.addrReads != tt.reads {
				t.Fatalf("ClientAddress called %d times, want %d", h.addrReads, tt.reads)
			}
			// A stream reused for the next request reads that request's address.
			s := p.NewStream(h)
			sendRequest(t, s, h, multiBody)
			s.OnDone()
			next := newFakeHost(clientHeaders("/v1/chat/completions", [2]string{"x-user", "ann"})...)
			s.Reuse(p, next)
			sendRequest(t, s, next, multiBody)
			if next.addrReads != tt.reads {
				t.Fatalf("reused stream: ClientAddress called %d times, want %d", next.addrReads, tt.reads)
			}
		})
	}
}

// A rule keyed on $remote_addr keeps a budget per client address, on
// both hosts: one address spending its budget does not touch another's.
func TestBudgetRuleByClientAddress(t *testing.T) {
	for _, caps := range []Caps{envoyCaps, apisixCaps} {
		p := budgetPlugins(t, `{"ai-proxy":`+openaiConf+`,"ai-rate-limiting":{"rules":[{"count":10,"time_window":60,"key":"$remote_addr","header_prefix":"Client"}]}}`, caps, 1)[0]
		from := func(addr string) *fakeHost {
			h := newFakeHost(clientHeaders("/v1/chat/completions")...)
			h.clientAddr = addr
			return serveOn(t, p, h, 10)
		}
		rejected := func(h *fakeHost) bool { return h.local != nil && h.local.status != 200 } // APISIX answers every request locally
		if h := from("10.0.0.1:1111"); rejected(h) {
			t.Fatalf("first request of 10.0.0.1: %d %s", h.local.status, h.local.body)
		}
		if h := from("10.0.0.1:2222"); !rejected(h) || h.local.status != 503 {
			t.Fatalf("10.0.0.1 again, from another port: %+v, want 503", h.local)
		}
		h := from("[2001:db8::2]:1111")
		if rejected(h) {
			t.Fatalf("first request of 2001:db8::2: %d %s", h.local.status, h.local.body)
		}
		wantHeaders(t, "2001:db8::2", h, map[string]string{"X-AI-Client-RateLimit-Remaining": "10"})
	}
}
