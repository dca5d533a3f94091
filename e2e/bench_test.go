package e2e

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host/hosttest"
)

// The benchmarks come in triples with the same sub-benchmark names, so
// `make bench` can print them side by side:
//   - Filter: the real filter in the harness (envoy-fixed profile, real clock);
//   - Floor:  the baseline guest making only the unavoidable host calls;
//   - Native: the same byte work in native Go, without Wasm or ABI.

const benchConf = `{"provider":"openai","auth":{"header":{"Authorization":"Bearer sk-operator"}},"options":{"model":"gpt-4o-mini"}}`

// sseChunks is how many response chunks the SSE benchmarks stream.
const sseChunks = 64

func benchPlugin(b *testing.B, wasm []byte, conf string) *host.Plugin {
	b.Helper()
	ctx := context.Background()
	mod, err := host.Compile(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	vm, err := mod.NewVM(ctx, host.VMConfig{Profile: host.EnvoyFixed})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(vm.Close)
	p, err := vm.NewPlugin([]byte(conf))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func sseEvent(i int) []byte {
	return []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"token` +
		fmt.Sprint(i) + ` "},"finish_reason":null}],"usage":null}` + "\n\n")
}

// sseBody is one response of sseChunks chunks with perChunk events each.
func sseBody(perChunk int) [][]byte {
	chunks := make([][]byte, sseChunks)
	for i := range chunks {
		for j := 0; j < perChunk; j++ {
			chunks[i] = append(chunks[i], sseEvent(i*perChunk+j)...)
		}
	}
	return chunks
}

type scenario struct {
	name  string
	floor string // baseline guest mode
	req   func() *host.Request
	resp  func() *host.UpstreamResponse
	// native does the filter's byte work for one request without Wasm.
	native func(b *testing.B)
	// perChunk reports time per response chunk instead of per request.
	perChunk bool
}

func smallJSON() *host.UpstreamResponse {
	body := `{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`
	return &host.UpstreamResponse{Status: 200, Header: [][2]string{{"content-type", "application/json"}, {"content-length", fmt.Sprint(len(body))}},
		Body: &chunkReader{chunks: [][]byte{[]byte(body)}}}
}

func scenarios() []scenario {
	rewrite := func(size int) scenario {
		req := chatRequest(false, size)
		return scenario{
			name: fmt.Sprintf("ModelRewrite/%dKB", size>>10), floor: "body",
			req: func() *host.Request { return req }, resp: smallJSON,
			native: func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if !gjson.ValidBytes(req.Body) {
						b.Fatal("invalid")
					}
					out, _ := sjson.SetBytes(req.Body, "model", "gpt-4o-mini")
					_ = out
				}
			},
		}
	}
	sse := func(perChunk int) scenario {
		chunks := sseBody(perChunk)
		req := chatRequest(true, 200)
		return scenario{
			name: fmt.Sprintf("SSE/%devents", perChunk), floor: "chunk", perChunk: true,
			req: func() *host.Request { return req },
			resp: func() *host.UpstreamResponse {
				return &host.UpstreamResponse{Status: 200, Header: [][2]string{{"content-type", "text/event-stream"}},
					Body: &chunkReader{chunks: append([][]byte(nil), chunks...)}}
			},
			native: func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					tr, _ := convert.New(convert.OpenAIChat, convert.OpenAIChat)
					for j, c := range chunks {
						tr.Stream(c, j == len(chunks)-1)
					}
				}
			},
		}
	}
	headerReq := &host.Request{Method: "GET", Path: "/v1/models", Authority: "gateway.local",
		Header: [][2]string{{"authorization", "Bearer client"}, {"user-agent", "bench"}, {"accept", "*/*"}, {"x-request-id", "r"}}}
	return []scenario{
		{name: "HeaderOnly", floor: "headers", req: func() *host.Request { return headerReq },
			resp: func() *host.UpstreamResponse {
				return &host.UpstreamResponse{Status: 200, Header: [][2]string{{"content-type", "application/json"}, {"content-length", "0"}}}
			},
			native: func(b *testing.B) {}},
		rewrite(1 << 10), rewrite(100 << 10), sse(1), sse(8),
	}
}

func runScenario(b *testing.B, p *host.Plugin, sc scenario) {
	ctx := context.Background()
	opt := host.Options{Upstream: func(context.Context, *host.UpstreamRequest) (*host.UpstreamResponse, error) { return sc.resp(), nil }}
	for i := 0; i < 50; i++ { // warm up the VM's heap
		if _, err := p.Do(ctx, sc.req(), opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	// The harness's own garbage must not be collected while the guest runs:
	// a Go host's GC (25% of a P while marking) is no part of the filter's
	// cost and has no counterpart in Envoy's C++ host. The measured run
	// collects nothing below 1 GiB; the collection happens before it.
	runtime.GC()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 30))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	guest := p.VM().GuestTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := p.Do(ctx, sc.req(), opt)
		if err != nil || resp.Status != 200 {
			b.Fatalf("%v %v", err, resp)
		}
	}
	b.StopTimer()
	// Time inside the VM: the guest's own code, without the host calls.
	guest = p.VM().GuestTime() - guest
	n := float64(b.N)
	if sc.perChunk {
		n *= sseChunks
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/chunk")
	}
	b.ReportMetric(float64(guest.Nanoseconds())/n, "guest-ns/op")
}

func BenchmarkFilter(b *testing.B) {
	p := benchPlugin(b, hosttest.Filter(b), benchConf)
	for _, sc := range scenarios() {
		b.Run(sc.name, func(b *testing.B) { runScenario(b, p, sc) })
	}
}

func BenchmarkFloor(b *testing.B) {
	wasm := hosttest.BuildGuest(b, "testdata/baseline")
	for _, sc := range scenarios() {
		p := benchPlugin(b, wasm, sc.floor)
		b.Run(sc.name, func(b *testing.B) { runScenario(b, p, sc) })
	}
	b.Run("Noop", func(b *testing.B) {
		runScenario(b, benchPlugin(b, wasm, "noop"), scenarios()[0])
	})
}

func BenchmarkNative(b *testing.B) {
	for _, sc := range scenarios() {
		b.Run(sc.name, func(b *testing.B) {
			b.ReportAllocs()
			sc.native(b)
			if sc.perChunk {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sseChunks), "ns/chunk")
			}
		})
	}
}

// BenchmarkGuestMemory pushes 100 KB rewrites through one VM and reports
// its linear memory: it must stay flat (goal ≤ 16 MiB after 50,000).
func BenchmarkGuestMemory(b *testing.B) {
	p := benchPlugin(b, hosttest.Filter(b), benchConf)
	sc := scenarios()[2]
	ctx := context.Background()
	opt := host.Options{Upstream: func(context.Context, *host.UpstreamRequest) (*host.UpstreamResponse, error) { return sc.resp(), nil }}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 50000; j++ {
			if _, err := p.Do(ctx, sc.req(), opt); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(p.VM().MemorySize())/(1<<20), "MiB")
}
