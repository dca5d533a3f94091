package host_test

import (
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

func TestProbe(t *testing.T) {
	for _, prof := range allProfiles {
		p := newEcho(t, host.VMConfig{Profile: prof}, `
request_headers get_pairs 0
request_headers get 0 :path
request_headers add 0 x-added yes
response_headers get_pairs 2
`)
		rec := &recorder{header: [][2]string{{"Content-Type", "text/plain"}}, chunks: []string{"hello"}}
		resp, err := p.Do(ctxT(t), &host.Request{Path: "/x", Header: [][2]string{{"X-Foo", "bar"}}}, host.Options{Upstream: rec.upstream})
		t.Logf("%s: err=%v resp=%+v\n%s", prof, err, resp, dump(resp.Logs))
		if len(rec.reqs) > 0 {
			t.Logf("upstream %+v", rec.reqs[0])
		}
	}
}
