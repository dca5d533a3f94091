package host_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

// TestCalloutResumesPausedRequest: a request paused in its headers waits
// for the callout; the callout response edits the held headers through
// the effective context and continues. On envoy the body, kept by the
// filter manager meanwhile, reaches the filter only then, in one piece; on
// envoy-fixed it flows first and the filter holds it.
func TestCalloutResumesPausedRequest(t *testing.T) {
	srv := backend(t)
	clusters := func(string) (string, bool) { return srv.URL, true }
	script := `
request_headers call auth GET /auth 0
request_headers return 1
call_response effective
call_response add 0 x-auth granted
call_response continue 0
request_body args
`
	// On envoy-fixed the filter must hold the body, or its Continue at
	// end_of_stream would release the headers before the callout returns.
	extra := map[host.Profile]string{host.EnvoyFixed: "request_body return 1"}
	want := map[host.Profile]string{
		host.Envoy:      "continue|size=4 eos=true",
		host.EnvoyFixed: "size=2 eos=false|size=4 eos=true|continue",
	}
	for _, p := range envoys {
		plugin := newEcho(t, host.VMConfig{Profile: p, Clusters: clusters}, script+extra[p])
		rec := &recorder{}
		resp, err := plugin.Do(ctxT(t), &host.Request{BodyChunks: [][]byte{[]byte("ab"), []byte("cd")}}, host.Options{Upstream: rec.upstream})
		if err != nil {
			t.Fatal(p, err)
		}
		var order []string
		for _, l := range resp.Logs {
			switch {
			case strings.HasPrefix(l.Msg, "call_response: continue"):
				order = append(order, "continue")
			case strings.HasPrefix(l.Msg, "request_body: args"):
				order = append(order, strings.TrimPrefix(l.Msg, "request_body: args -> 0 n=7 "))
			}
		}
		if got := strings.Join(order, "|"); got != want[p] {
			t.Errorf("%s: %s, want %s", p, got, want[p])
		}
		if v, _ := rec.reqs[0].Get("x-auth"); v != "granted" || string(rec.reqs[0].Body) != "abcd" {
			t.Errorf("%s: upstream x-auth=%q body=%q", p, v, rec.reqs[0].Body)
		}
	}
}

// TestHTTPUpstreamStreams: each upstream read is one body callback and
// one downstream chunk, delivered as it comes (SSE).
func TestHTTPUpstreamStreams(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Got", r.Host+" "+r.URL.Path+" "+string(b)+" "+r.Header.Get("X-In"))
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			if i == 0 {
				<-release
			}
			time.Sleep(5 * time.Millisecond)
		}
	}))
	defer srv.Close()
	up := host.HTTPUpstream(nil, func(authority string) (string, bool) { return srv.URL, authority == "api.example" })
	plugin := newEcho(t, host.VMConfig{Profile: host.Envoy}, "response_body args\nresponse_body upper_body 1")
	var chunks []string
	var status int
	resp, err := plugin.Do(ctxT(t), &host.Request{Method: "POST", Authority: "api.example", Path: "/v1/chat",
		Header: [][2]string{{"X-In", "1"}}, Body: []byte("q")}, host.Options{
		Upstream:  up,
		OnHeaders: func(s int, h [][2]string) { status = s },
		OnChunk: func(b []byte) {
			chunks = append(chunks, string(b))
			if len(chunks) == 1 {
				close(release) // the first event went out before the second was written
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := resp.Get("x-got"); got != "api.example /v1/chat q 1" || status != 200 {
		t.Errorf("upstream saw %q, status %d", got, status)
	}
	if got := strings.Join(chunks, "|"); got != "DATA: 0\n\n|DATA: 1\n\n|DATA: 2\n\n" {
		t.Errorf("chunks %q", got)
	}
	if len(resp.Chunks) != 3 || string(resp.Body) != "DATA: 0\n\nDATA: 1\n\nDATA: 2\n\n" {
		t.Errorf("response %q in %d chunks", resp.Body, len(resp.Chunks))
	}
}

// TestInterleaving: a response streaming from one request does not hold
// the VM; other requests on the same VM run meanwhile, as on one Envoy
// worker.
func TestInterleaving(t *testing.T) {
	for _, p := range allProfiles {
		plugin := newEcho(t, host.VMConfig{Profile: p}, "request_headers context")
		gate := make(chan struct{})
		slow := func(ctx context.Context, r *host.UpstreamRequest) (*host.UpstreamResponse, error) {
			pr, pw := io.Pipe()
			go func() {
				pw.Write([]byte("first"))
				<-gate
				pw.Write([]byte("second"))
				pw.Close()
			}()
			return &host.UpstreamResponse{Status: 200, Body: pr}, nil
		}
		done := make(chan *host.Response)
		go func() {
			resp, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: slow})
			if err != nil {
				t.Error(err)
			}
			done <- resp
		}()
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := plugin.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait() // would deadlock if the slow stream held the VM
		close(gate)
		if resp := <-done; string(resp.Body) != "firstsecond" {
			t.Errorf("%s: slow stream body %q", p, resp.Body)
		}
	}
}

// TestConcurrentVMs runs many VMs of one module in parallel.
func TestConcurrentVMs(t *testing.T) {
	m := echoModule(t, host.EnvoyFixed)
	shared := host.NewShared()
	var wg sync.WaitGroup
	for v := 0; v < 4; v++ {
		vm, err := m.NewVM(context.Background(), host.VMConfig{Profile: host.EnvoyFixed, VMID: "v", Shared: shared})
		if err != nil {
			t.Fatal(err)
		}
		defer vm.Close()
		p, err := vm.NewPlugin([]byte("configure metric_define 0 n\nrequest_headers metric_inc n 1\nrequest_headers add 0 x-a 1"))
		if err != nil {
			t.Fatal(err)
		}
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					if _, err := p.Do(ctxT(t), &host.Request{}, host.Options{Upstream: (&recorder{}).upstream}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if got, _ := shared.Metric("wasmcustom.n"); got.Value != 4*4*50 {
		t.Errorf("counter %d, want %d", got.Value, 4*4*50)
	}
}

// TestCancelWhilePaused: a client gone while the filter waits ends the
// stream; the guest still gets proxy_on_done and proxy_on_delete.
func TestCancelWhilePaused(t *testing.T) {
	srv := backend(t)
	plugin := newEcho(t, host.VMConfig{Profile: host.Envoy, Clusters: func(string) (string, bool) { return srv.URL, true }},
		"request_headers call auth GET /slow 0\nrequest_headers return 1\ndelete log 2 deleted")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	resp, err := plugin.Do(ctx, &host.Request{}, host.Options{Upstream: (&recorder{}).upstream})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v", err)
	}
	if !hasLog(resp.Logs, "deleted") {
		t.Errorf("the stream context was not deleted:\n%s", dump(resp.Logs))
	}
}
