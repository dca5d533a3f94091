// Command benchenvoy measures what Envoy users see (make bench-envoy): the
// same requests, on loopback, straight to a mock upstream, through bare
// Envoy (the same config without the Wasm filter), and through Envoy with
// the filter. It prints one table: p50/p99 latency at a fixed rate, sent
// open-loop (each request is timed from the moment it was due, so a stall
// cannot hide behind the requests it delayed), and Envoy's CPU time per
// request at saturation, from /proc/<pid>/stat; then the VM start time and
// the memory the filter adds per worker.
//
// Envoy runs with --concurrency 1 and reaches the mock over plain HTTP in
// a static cluster, so neither TLS nor DNS is measured. The load generator
// and the mock share this process; run it with GOMAXPROCS=1 (make
// bench-envoy does) so that on a 2-core machine Envoy keeps a core.
// Figures only: nothing here passes or fails.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
)

var (
	wasmPath  = flag.String("wasm", "dist/ai-proxy.wasm", "filter module")
	envoyPath = flag.String("envoy", ".cache/envoy/1.40.0/envoy", "Envoy binary")
	rate      = flag.Int("rate", 1000, "requests per second for the latency runs")
	latDur    = flag.Duration("latency", 2*time.Second, "length of one latency run")
	satDur    = flag.Duration("saturate", 2*time.Second, "length of one saturation run")
	rounds    = flag.Int("rounds", 2, "latency runs per scenario and target, interleaved (their spread is the noise)")
	conns     = flag.Int("conns", 8, "concurrent requests at saturation")
)

// A scenario is one row of the table.
type scenario struct {
	name   string
	method string
	path   string
	body   []byte
	// rate overrides -rate: the 100 KB and stream rows move 100 times the
	// bytes or events of a request, and 1,000 of them a second would
	// measure the queue on a loaded 2-core machine.
	rate int
	// check tells whether an answer through the filter is what the filter
	// should have made of it.
	check func(body []byte) bool
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if err := run(); err != nil {
		log.Fatal("bench-envoy: ", err)
	}
}

func run() error {
	b, err := envoy.BinaryAt(*envoyPath)
	if err != nil {
		return err
	}
	module, err := filepath.Abs(*wasmPath)
	if err != nil {
		return err
	}
	if _, err := os.Stat(module); err != nil {
		return err
	}
	up, err := newUpstream()
	if err != nil {
		return err
	}
	defer up.Close()
	upAddr := up.Listener.Addr().(*net.TCPAddr)

	dir, err := os.MkdirTemp("", "bench-envoy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Start each Envoy alone, so the time to /ready is its own: bare and
	// with the filter, with one worker (the measured ones) and two (for
	// the memory a worker adds).
	type started struct {
		e     *envoy.Envoy
		port  int
		ready time.Duration
		rss   int64
	}
	start := func(name string, filter bool, workers int) (started, error) {
		d := filepath.Join(dir, name)
		os.Mkdir(d, 0o755)
		port, err := freePort()
		if err != nil {
			return started{}, err
		}
		t0 := time.Now()
		e, err := envoy.Launch(b, benchConfig(module, upAddr.Port, port, filter), d, envoy.Options{Concurrency: workers, LogLevel: "warning"})
		if err != nil {
			if e != nil {
				err = fmt.Errorf("%v\n%s", err, e.Log())
			}
			return started{}, err
		}
		s := started{e: e, port: port, ready: time.Since(t0)}
		s.rss, err = e.RSS()
		return s, err
	}
	var envoys []*envoy.Envoy
	defer func() {
		for _, e := range envoys {
			e.Stop()
		}
	}()
	var st [2][3]started // [filter][workers]
	for _, filter := range []bool{false, true} {
		for _, workers := range []int{1, 2} {
			s, err := start(fmt.Sprintf("envoy-%t-%d", filter, workers), filter, workers)
			if err != nil {
				return err
			}
			envoys = append(envoys, s.e)
			st[b2i(filter)][workers] = s
			log.Printf("Envoy %s, filter %t, --concurrency %d: ready after %v, RSS %.1f MiB", b.Version, filter, workers, s.ready.Round(time.Millisecond), mib(s.rss))
		}
	}
	// The two-worker Envoys were only for memory and start time.
	st[0][2].e.Stop()
	st[1][2].e.Stop()
	bare, withFilter := st[0][1].e, st[1][1].e
	targets := []target{
		{"direct", "http://" + upAddr.String(), nil},
		{"bare", fmt.Sprintf("http://127.0.0.1:%d", st[0][1].port), bare},
		{"filter", fmt.Sprintf("http://127.0.0.1:%d", st[1][1].port), withFilter},
	}

	// Warm up first: V8 starts on baseline code and tiers hot functions
	// up while they run, and every connection pool fills.
	scenarios := benchScenarios()
	for _, sc := range scenarios {
		for _, tg := range targets[1:] {
			if err := probe(tg, sc); err != nil {
				return err
			}
			if _, _, err := saturateFor(tg, sc, *satDur/2); err != nil {
				return err
			}
		}
	}
	load1, _ := os.ReadFile("/proc/loadavg")
	results := make([][]result, len(scenarios))
	for i, sc := range scenarios {
		results[i] = make([]result, len(targets))
		for j, tg := range targets {
			if err := probe(tg, sc); err != nil {
				return err
			}
			results[i][j].rounds = make([]latency, 0, *rounds)
		}
		for r := 0; r < *rounds; r++ {
			for j, tg := range targets {
				lat, err := openLoop(tg, sc)
				if err != nil {
					return err
				}
				results[i][j].rounds = append(results[i][j].rounds, lat)
			}
		}
		for j, tg := range targets {
			if tg.envoy == nil {
				continue
			}
			cpu, rps, err := saturate(tg, sc)
			if err != nil {
				return err
			}
			results[i][j].cpuPerReq, results[i][j].rps = cpu, rps
		}
		log.Printf("measured %s", sc.name)
	}
	load2, _ := os.ReadFile("/proc/loadavg")
	rssAfter, _ := withFilter.RSS()
	bareAfter, _ := bare.RSS()

	fmt.Printf("\nEnvoy %s, --concurrency 1, plain HTTP to a static cluster on loopback; load generator and mock in one process, GOMAXPROCS=%d.\n",
		b.Version, runtime.GOMAXPROCS(0))
	fmt.Printf("Latency: open-loop at %d req/s (the 100 KB and stream rows: 200 req/s), %d interleaved runs of %v per target; p50/p99 are over all runs.\n",
		*rate, *rounds, *latDur)
	fmt.Printf("CPU: Envoy's utime+stime per request over %v with %d requests in flight.\n\n", *satDur, *conns)
	printTable(scenarios, results)
	fmt.Printf("\nnoise: the largest difference between the p50s of two runs of the same target and row; load average before %s, after %s\n",
		strings.Join(strings.Fields(string(load1))[:3], " "), strings.Join(strings.Fields(string(load2))[:3], " "))
	fmt.Printf("\nVM start (time to /ready; V8 compiles the module, then each VM starts and configures):\n")
	fmt.Printf("  bare Envoy: %v (1 worker), %v (2 workers)\n", st[0][1].ready.Round(time.Millisecond), st[0][2].ready.Round(time.Millisecond))
	fmt.Printf("  with the filter: %v (1 worker), %v (2 workers): +%v over bare with 1 worker\n",
		st[1][1].ready.Round(time.Millisecond), st[1][2].ready.Round(time.Millisecond), (st[1][1].ready - st[0][1].ready).Round(time.Millisecond))
	perWorker := (st[1][2].rss - st[1][1].rss) - (st[0][2].rss - st[0][1].rss)
	fmt.Printf("\nMemory (RSS): bare %.1f MiB, with the filter %.1f MiB at /ready (+%.1f MiB: the compiled module, the main thread's VM and one worker's)\n",
		mib(st[0][1].rss), mib(st[1][1].rss), mib(st[1][1].rss-st[0][1].rss))
	fmt.Printf("  after the run: bare %.1f MiB, with the filter %.1f MiB (+%.1f MiB)\n", mib(bareAfter), mib(rssAfter), mib(rssAfter-bareAfter))
	fmt.Printf("  per worker with the filter: %.1f MiB (a second worker adds %.1f MiB with the filter, %.1f MiB bare)\n",
		mib(perWorker), mib(st[1][2].rss-st[1][1].rss), mib(st[0][2].rss-st[0][1].rss))
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// target is where a scenario's requests go.
type target struct {
	name  string
	base  string
	envoy *envoy.Envoy // nil for the mock itself
}

type latency []time.Duration

type result struct {
	rounds    []latency
	cpuPerReq time.Duration
	rps       float64
}

// all returns every sample of every round, sorted.
func (r result) all() latency {
	var all latency
	for _, l := range r.rounds {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all
}

func (l latency) pct(p float64) time.Duration {
	if len(l) == 0 {
		return -1
	}
	return l[min(len(l)-1, int(float64(len(l))*p))]
}

// noise is the largest difference between two rounds' p50.
func (r result) noise() time.Duration {
	var lo, hi time.Duration = 1 << 62, 0
	for _, l := range r.rounds {
		s := slices.Clone(l)
		slices.Sort(s)
		p := s.pct(0.5)
		lo, hi = min(lo, p), max(hi, p)
	}
	return hi - lo
}

var client = &http.Client{Transport: &http.Transport{
	Proxy:               nil,
	MaxIdleConns:        1024,
	MaxIdleConnsPerHost: 1024,
	DisableCompression:  true,
}}

// do sends one request and reads the whole answer.
func do(tg target, sc scenario) ([]byte, error) {
	req, err := http.NewRequest(sc.method, tg.base+sc.path, bytes.NewReader(sc.body))
	if err != nil {
		return nil, err
	}
	if sc.body != nil {
		req.Header.Set("content-type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("%s %s via %s: %d %s", sc.method, sc.path, tg.name, resp.StatusCode, body)
	}
	return body, err
}

// probe checks one answer, and through the filter that the filter made it.
func probe(tg target, sc scenario) error {
	body, err := do(tg, sc)
	if err != nil {
		return err
	}
	if tg.name == "filter" && sc.check != nil && !sc.check(body) {
		return fmt.Errorf("%s through the filter: unexpected answer %.300s", sc.name, body)
	}
	return nil
}

// openLoop sends sc at a fixed rate for -latency after a short warm-up and
// returns each request's latency from the moment it was due.
func openLoop(tg target, sc scenario) (latency, error) {
	r := *rate
	if sc.rate > 0 {
		r = sc.rate
	}
	interval := time.Second / time.Duration(r)
	warm := int(time.Duration(r) * 300 * time.Millisecond / time.Second)
	n := warm + int(time.Duration(r)**latDur/time.Second)
	lat := make(latency, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	t0 := time.Now()
	for i := range n {
		due := t0.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := do(tg, sc); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("%s via %s: %d of %d requests failed, the first: %v", sc.name, tg.name, f, n, firstErr.Load())
	}
	return lat[warm:], nil
}

// saturate keeps -conns requests in flight for -saturate and returns
// Envoy's CPU time per request and the requests per second.
func saturate(tg target, sc scenario) (time.Duration, float64, error) {
	return saturateFor(tg, sc, *satDur)
}

func saturateFor(tg target, sc scenario, d time.Duration) (time.Duration, float64, error) {
	var served atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cpu0, err := tg.envoy.CPUTime()
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := do(tg, sc); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				served.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cpu1, err := tg.envoy.CPUTime()
	if err != nil {
		return 0, 0, err
	}
	if e, _ := firstErr.Load().(error); e != nil {
		return 0, 0, e
	}
	n := served.Load()
	if n == 0 {
		return 0, 0, errors.New(sc.name + ": no request served at saturation")
	}
	return (cpu1 - cpu0) / time.Duration(n), float64(n) / elapsed.Seconds(), nil
}

func us(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond))
}

func printTable(scs []scenario, res [][]result) {
	fmt.Println("| scenario | p50 direct | p50 bare | p50 filter | added p50 | p99 direct | p99 bare | p99 filter | noise | CPU/req bare | CPU/req filter | × bare | req/s bare, filter |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for i, sc := range scs {
		d, b, f := res[i][0].all(), res[i][1].all(), res[i][2].all()
		noise := max(res[i][0].noise(), res[i][1].noise(), res[i][2].noise())
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.0f, %.0f |\n",
			sc.name, us(d.pct(.5)), us(b.pct(.5)), us(f.pct(.5)), us(f.pct(.5)-b.pct(.5)),
			us(d.pct(.99)), us(b.pct(.99)), us(f.pct(.99)), us(noise),
			us(res[i][1].cpuPerReq), us(res[i][2].cpuPerReq),
			float64(res[i][2].cpuPerReq)/float64(max(res[i][1].cpuPerReq, 1)), res[i][1].rps, res[i][2].rps)
	}
	fmt.Println("(latencies and CPU in µs)")
}
