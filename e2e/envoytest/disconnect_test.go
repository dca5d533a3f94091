package envoytest

import (
	"bufio"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testDisconnect: a client that leaves in the middle of a stream leaves
// nothing behind. Envoy cancels the upstream request, its active-request
// gauges return to zero (the filter's stream context lives and dies with
// Envoy's stream), and the filter records the request as client_closed
// when Envoy ends its context (the summary log line). The filter's own
// gauge of live stream contexts, llm_active_streams, which every VM (one per
// worker) adds to, shows each stream while it runs and returns to 0.
func testDisconnect(t *testing.T, r *rig) {
	g := r.gw["llm_gateway"]
	const rounds = 5
	for i := range rounds {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions",
			strings.NewReader(`{"messages":[{"role":"user","content":"lab-hang"}],"stream":true}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if resp.StatusCode != 200 || !strings.HasPrefix(line, "data: ") || err != nil {
			t.Fatalf("round %d: %d %q %v", i, resp.StatusCode, line, err)
		}
		var done chan struct{}
		select {
		case done = <-r.hang:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream never saw the request")
		}
		if n := r.Stats(t, `^wasmcustom\.llm_active_streams$`)["wasmcustom.llm_active_streams"]; n < 1 {
			t.Errorf("round %d: llm_active_streams %d while a stream runs, want at least 1", i, n)
		}
		resp.Body.Close() // mid-stream: the connection closes
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Envoy did not cancel the upstream request within 10 s of the client leaving", i)
		}
	}
	r.waitStat(t, "http.llm.downstream_rq_active", 0)
	r.waitStat(t, "cluster.llm_dfp.upstream_rq_active", 0)
	r.waitStat(t, "wasmcustom.llm_active_streams", 0)
	summaries := regexp.MustCompile(`ai-proxy summary: \{"provider":"openai"[^}]*"client_closed":true`)
	deadline := time.Now().Add(10 * time.Second)
	for len(summaries.FindAllString(r.Log(), -1)) < rounds && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(summaries.FindAllString(r.Log(), -1)); n != rounds {
		t.Errorf("%d summaries with client_closed:true in Envoy's log, want %d", n, rounds)
	}
}
