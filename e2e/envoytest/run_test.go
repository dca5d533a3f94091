package envoytest

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
)

// TestMakeRun runs the command behind `make run` (e2e/cmd/gateway) on each
// engine, the embedded harness and real Envoy (`make run HOST=envoy`), with
// the shipped examples/local/config.yaml, and sends the README's requests:
// the same config gives the same answers on both. A configuration the
// filter rejects ends the command with a non-zero status and the filter's
// error line.
func TestMakeRun(t *testing.T) {
	gw := buildGateway(t)
	module := envoy.Module(t)
	engines := []struct{ name, envoy string }{{name: "harness"}}
	for _, b := range envoy.Binaries(t) {
		engines = append(engines, struct{ name, envoy string }{"envoy-" + b.Version, b.Path})
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-wasm", module}
			if eng.envoy != "" {
				args = append(args, "-envoy", eng.envoy)
			}
			t.Run("local-config", func(t *testing.T) {
				url := startGateway(t, gw, append(args, "-config", "../../examples/local/config.yaml"))
				testReadmeRequests(t, url)
			})
			t.Run("rejected-config", func(t *testing.T) {
				bad := filepath.Join(t.TempDir(), "bad.yaml")
				os.WriteFile(bad, []byte("routes:\n  - id: chat\n    uri: /v1/chat/completions\n    plugins:\n"+
					"      ai-proxy: {provider: openai, timeout: 0, auth: {header: {Authorization: Bearer k}}}\n"), 0o644)
				cmd := exec.Command(gw, append(args, "-config", bad, "-listen", freeAddr(t))...)
				out, err := cmd.CombinedOutput()
				if err == nil {
					t.Fatalf("the gateway accepted a config with timeout 0; output:\n%s", out)
				}
				const line = "ai-proxy: timeout must be between 1 and 600000, got 0"
				if !strings.Contains(string(out), line) {
					t.Fatalf("the gateway failed (%v) without the filter's line %q; output:\n%s", err, line, out)
				}
			})
		})
	}
}

// testReadmeRequests sends the requests the README shows for `make run`.
func testReadmeRequests(t *testing.T, url string) {
	post := func(t *testing.T, path, body string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
		return resp, b
	}
	field := func(t *testing.T, b []byte, v any) {
		t.Helper()
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
	}
	t.Run("chat", func(t *testing.T) {
		_, b := post(t, "/v1/chat/completions", `{"model":"any","messages":[{"role":"user","content":"Hello!"}]}`)
		var r struct {
			Model   string
			Choices []struct{ Message struct{ Content string } }
		}
		field(t, b, &r)
		if r.Model != "gpt-4o-mini" || len(r.Choices) != 1 || r.Choices[0].Message.Content != "You said: Hello!" {
			t.Fatalf("answer: %s", b)
		}
	})
	t.Run("stream", func(t *testing.T) {
		resp, b := post(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"Stream please"}],"stream":true}`)
		if ct := resp.Header.Get("content-type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("content-type %q", ct)
		}
		var text strings.Builder
		for _, ev := range strings.Split(string(b), "\n\n") {
			data, ok := strings.CutPrefix(ev, "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var c struct {
				Choices []struct{ Delta struct{ Content string } }
			}
			field(t, []byte(data), &c)
			for _, ch := range c.Choices {
				text.WriteString(ch.Delta.Content)
			}
		}
		if text.String() != "You said: Stream please" || !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
			t.Fatalf("stream: %s", b)
		}
	})
	t.Run("anthropic-messages", func(t *testing.T) {
		_, b := post(t, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"Hi Claude"}]}`)
		var r struct {
			Type    string
			Content []struct{ Type, Text string }
		}
		field(t, b, &r)
		if r.Type != "message" || len(r.Content) != 1 || r.Content[0].Text != "You said: Hi Claude" {
			t.Fatalf("answer: %s", b)
		}
	})
	t.Run("embeddings", func(t *testing.T) {
		_, b := post(t, "/v1/embeddings", `{"input":"hello"}`)
		var r struct {
			Model string
			Data  []struct{ Embedding []float64 }
		}
		field(t, b, &r)
		if r.Model != "text-embedding-3-small" || len(r.Data) != 1 || len(r.Data[0].Embedding) == 0 {
			t.Fatalf("answer: %s", b)
		}
	})
	t.Run("no-route", func(t *testing.T) {
		resp, err := http.Get(url + "/v1/nothing")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("GET /v1/nothing: %d, want 404", resp.StatusCode)
		}
	})
}

// buildGateway builds e2e/cmd/gateway into the test's directory.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/gateway").CombinedOutput(); err != nil {
		t.Fatalf("go build ../cmd/gateway: %v\n%s", err, out)
	}
	return bin
}

// startGateway runs the gateway command until the test ends, stopping it
// as Ctrl-C does, and returns its base URL once it serves.
func startGateway(t *testing.T, bin string, args []string) string {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, append(args, "-listen", addr)...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			// The harness dies of the signal; the Envoy runner stops
			// Envoy and exits 0.
			if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT) {
				t.Errorf("the gateway did not stop cleanly on SIGINT: %v", err)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("the gateway did not stop within 15s of SIGINT")
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s", out.String())
		}
	})
	// Compiling the module takes V8 seconds on a loaded machine.
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "ai-proxy gateway on http://"+addr) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the gateway exited before serving (%v); output:\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not serve within 90s; output:\n%s", out.String())
		}
	}
	// Envoy logs that it is ready before its listener may accept.
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
