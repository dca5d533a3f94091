package core

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// idleRig is a plugin with timeout 1000 ms on a host with ticks, whose
// root clock the test moves.
type idleRig struct {
	p    *Plugin
	root *fakeRoot
}

func newIdleRig(t *testing.T, conf string) *idleRig {
	t.Helper()
	cfg, err := ParseConfig([]byte(conf), nil)
	if err != nil {
		t.Fatal(err)
	}
	root := newFakeRoot()
	return &idleRig{p: NewPlugin(cfg, envoyCaps, root), root: root}
}

const idleConf = `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"timeout":1000}`

// send starts a request that goes upstream inline.
func (r *idleRig) send(t *testing.T, path, body string) (*Stream, *fakeHost) {
	t.Helper()
	h := newFakeHost(clientHeaders(path)...)
	s := r.p.NewStream(h)
	if a1, a2 := sendRequest(t, s, h, body); a1 != Continue || a2 != Continue {
		t.Fatalf("request not forwarded: %v %v %+v", a1, a2, h.local)
	}
	return s, h
}

// tickAt moves the root clock to ms after the start and ticks.
func (r *idleRig) tickAt(ms int64) {
	r.root.now = 1.7e18 + ms*1e6
	r.p.OnTick()
}

const chatBody = `{"messages":[{"role":"user","content":"hi"}],"stream":true}`

func sseChunk(s *Stream, h *fakeHost, ev string) {
	h.respBody = []byte(ev)
	s.OnResponseBody(len(ev), false)
}

const deltaEvent = `data: {"id":"1","choices":[{"index":0,"delta":{"content":"x"}}]}` + "\n\n"

func TestIdleWatchdog(t *testing.T) {
	t.Run("silent before the response headers: 504 in the client's protocol", func(t *testing.T) {
		r := newIdleRig(t, idleConf)
		s, h := r.send(t, "/v1/messages", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`)
		if r.root.tick != 100 {
			t.Fatalf("tick period %d ms, want timeout/10 = 100", r.root.tick)
		}
		for ms := int64(100); ms < 1000; ms += 100 {
			r.tickAt(ms)
		}
		if h.local != nil {
			t.Fatalf("fired before timeout: %+v", h.local)
		}
		r.tickAt(1000)
		if h.local == nil || h.local.status != 504 || h.activations == 0 {
			t.Fatalf("local %+v, activations %d", h.local, h.activations)
		}
		if typ := gjson.GetBytes(h.local.body, "error.type").Str; gjson.GetBytes(h.local.body, "type").Str != "error" || typ == "" ||
			!strings.Contains(string(h.local.body), "timeout 1000 ms") {
			t.Fatalf("not an Anthropic error: %s", h.local.body)
		}
		if len(r.p.watched) != 0 || !s.finished {
			t.Fatalf("still watched %d, finished %v", len(r.p.watched), s.finished)
		}
		r.tickAt(1100)
		if r.root.tick != 0 {
			t.Fatalf("ticks still on (%d ms) with nothing to watch", r.root.tick)
		}
	})

	t.Run("silent mid-stream: ended after timeout of silence", func(t *testing.T) {
		r := newIdleRig(t, idleConf)
		s, h := r.send(t, "/v1/chat/completions", chatBody)
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}, false)
		r.tickAt(100)
		r.root.now += 350e6
		sseChunk(s, h, deltaEvent) // at 450 ms; the 500 ms tick sees it
		for ms := int64(500); ms < 1500; ms += 100 {
			r.tickAt(ms)
		}
		if h.local != nil {
			t.Fatalf("fired less than timeout after the last chunk: %+v", h.local)
		}
		r.tickAt(1500)
		if h.local == nil || h.local.status != 504 || !strings.Contains(string(h.local.body), "mid-response") {
			t.Fatalf("local %+v", h.local)
		}
	})

	t.Run("a lively stream outlives timeout many times", func(t *testing.T) {
		r := newIdleRig(t, idleConf)
		s, h := r.send(t, "/v1/chat/completions", chatBody)
		s.OnResponseHeaders([][2]string{{":status", "200"}, {"content-type", "text/event-stream"}}, false)
		for ms := int64(50); ms <= 5000; ms += 50 {
			if ms%250 == 0 {
				r.root.now = 1.7e18 + ms*1e6
				sseChunk(s, h, deltaEvent)
			}
			if ms%100 == 0 {
				r.tickAt(ms)
			}
		}
		if h.local != nil {
			t.Fatalf("a stream with an event every 250 ms was cut: %+v", h.local)
		}
		done := "data: [DONE]\n\n"
		h.respBody = []byte(done)
		s.OnResponseBody(len(done), true)
		r.tickAt(5100)
		r.tickAt(5200)
		if len(r.p.watched) != 0 || r.root.tick != 0 {
			t.Fatalf("finished stream still watched (%d) or ticking (%d ms)", len(r.p.watched), r.root.tick)
		}
	})
}

// The watch list is O(1) per request, and a stream leaves it when it is
// done or recycled, so a pooled stream never lingers or fires later.
func TestIdleWatchList(t *testing.T) {
	r := newIdleRig(t, idleConf)
	var streams []*Stream
	var hosts []*fakeHost
	for range 3 {
		s, h := r.send(t, "/v1/chat/completions", chatBody)
		streams, hosts = append(streams, s), append(hosts, h)
	}
	streams[0].OnDone() // the last one moves into its slot
	if len(r.p.watched) != 2 || r.p.watched[0] != streams[2] || streams[2].idle.pos != 1 || streams[0].idle.pos != 0 {
		t.Fatalf("after OnDone: %d watched, positions %d %d", len(r.p.watched), streams[0].idle.pos, streams[2].idle.pos)
	}
	streams[1].Reuse(r.p, newFakeHost())
	if len(r.p.watched) != 1 || r.p.watched[0] != streams[2] {
		t.Fatalf("a recycled stream is still watched: %d", len(r.p.watched))
	}
	r.tickAt(1000)
	if hosts[0].local != nil || hosts[1].local != nil || hosts[2].local == nil {
		t.Fatalf("fired on %v %v %v", hosts[0].local != nil, hosts[1].local != nil, hosts[2].local != nil)
	}
	if r.root.tick != 0 {
		t.Fatalf("ticks still on (%d ms) with nothing watched", r.root.tick)
	}
}

// Token waiters and the watchdog share the tick: the faster period wins,
// and a waiter leaving does not silence the watchdog.
func TestTicksAreShared(t *testing.T) {
	r := newIdleRig(t, `{"provider":"openai","auth":{"header":{"Authorization":"Bearer k"}},"timeout":5000}`)
	_, h := r.send(t, "/v1/chat/completions", chatBody)
	if r.root.tick != 500 {
		t.Fatalf("tick %d, want 500", r.root.tick)
	}
	waiter := r.p.NewStream(newFakeHost())
	r.p.wait(waiter)
	if r.root.tick != tokenTickMS {
		t.Fatalf("tick %d with a token waiter, want %d", r.root.tick, tokenTickMS)
	}
	r.p.unwait(waiter)
	r.tickAt(100)
	if r.root.tick != 500 {
		t.Fatalf("tick %d after the waiter left, want the watchdog's 500", r.root.tick)
	}
	r.tickAt(5000)
	if h.local == nil || h.local.status != 504 {
		t.Fatalf("watchdog silenced: %+v", h.local)
	}
}

// The router gets no total timeout where the watchdog runs; callouts get
// the bound that keeps `timeout` an idle one where the host can.
func TestTimeoutMapping(t *testing.T) {
	tests := []struct {
		name    string
		conf    string
		caps    Caps
		stream  bool
		router  string
		callout uint32
	}{
		{"envoy", `"timeout":1000`, envoyCaps, false, "0", 1000},
		{"envoy stream callout", `"timeout":1000`, envoyCaps, true, "0", streamCalloutMS},
		{"envoy with max_stream_duration_ms", `"timeout":1000,"max_stream_duration_ms":8000`, envoyCaps, true, "9000", 8000},
		{"apisix: lua-resty-http's timeout is per read", `"timeout":1000`, apisixCaps, true, "1000", 1000},
		{"host without ticks", `"timeout":1000`, Caps{BodyRewrite: true}, false, "1000", 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(`{"provider":"openai","auth":{"header":{"a":"b"}},`+tc.conf+`}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			p := NewPlugin(cfg, tc.caps, newFakeRoot())
			s := p.NewStream(newFakeHost())
			s.stream = tc.stream
			if p.routerTimeout != tc.router || s.calloutTimeoutMS() != tc.callout {
				t.Fatalf("router %q callout %d, want %q %d", p.routerTimeout, s.calloutTimeoutMS(), tc.router, tc.callout)
			}
		})
	}
}
