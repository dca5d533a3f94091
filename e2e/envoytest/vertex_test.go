package envoytest

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// testVertex: Vertex AI with a service account. The filter mints a token
// with a callout to oauth2.googleapis.com:443 and shares it between the
// workers' VMs: 40 concurrent first requests on two workers (a connection
// each, so both workers serve) make exactly one token exchange.
func testVertex(t *testing.T, r *rig) {
	g := r.gw["vertex"]
	before := workerConnections(t, r)
	r.gcp.Reset()
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions",
				strings.NewReader(fmt.Sprintf(`{"messages":[{"role":"user","content":"vertex %d"}]}`, i)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+clientSecret)
			resp, err := c.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if want := fmt.Sprintf("You said: vertex %d", i); resp.StatusCode != 200 || gjson.GetBytes(body, "choices.0.message.content").String() != want {
				errs <- fmt.Sprintf("request %d: %d %s", i, resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := r.gcp.TokenCount(); n != 1 {
		t.Errorf("%d token exchanges for 40 concurrent requests on two workers, want 1", n)
	}
	after := workerConnections(t, r)
	for w := range 2 {
		if after[w] == before[w] {
			t.Errorf("worker %d served none of the 40 connections, so this does not show two VMs sharing a token", w)
		}
	}
	var chats int
	for _, up := range r.gcp.Requests() {
		switch {
		case strings.HasSuffix(up.Path, "/token"):
		case up.Path == "/v1beta1/projects/test-project-123456/locations/us-central1/endpoints/openapi/chat/completions":
			chats++
			if !strings.HasPrefix(up.Header.Get("Authorization"), "Bearer ya29.mock-") || up.Get("model").String() != vertexModel {
				t.Errorf("upstream Authorization %q model %q", up.Header.Get("Authorization"), up.Get("model"))
			}
		default:
			t.Errorf("unexpected upstream request %s %s", up.Method, up.Path)
		}
	}
	if chats != 40 {
		t.Errorf("Vertex saw %d chat requests, want 40", chats)
	}
}

var workerCx = regexp.MustCompile(`^listener\.[^ ]*\.worker_(\d+)\.downstream_cx_total$`)

// workerConnections returns the connections each worker has accepted, on
// all listeners: with port 0 in the config, Envoy names every lab
// listener's stats after 127.0.0.1_0, so they cannot be told apart.
func workerConnections(t *testing.T, r *rig) map[int]int64 {
	out := map[int]int64{}
	for name, v := range r.Stats(t, "worker_[0-9]+\\.downstream_cx_total") {
		if m := workerCx.FindStringSubmatch(name); m != nil {
			w, _ := strconv.Atoi(m[1])
			out[w] += v
		}
	}
	return out
}
