// Command bench runs every benchmark of the project and prints one table
// (make bench). Filter rows come from the e2e harness with a real clock:
// the filter, the baseline guest doing only the unavoidable host calls
// (floor), and the same byte work in native Go. Package rows run each pure
// package's benchmarks natively and inside Wasm (wazero, via wasmexec).
// Every figure is the median of -count runs.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

var (
	count     = flag.Int("count", 10, "runs per benchmark (the table shows medians)")
	benchtime = flag.String("benchtime", "300ms", "go test -benchtime for package benchmarks")
	only      = flag.String("only", "", "print only these tables, comma-separated: filter, packages, multi (default all)")
)

// run executes go test and returns its benchmark samples: name → metric → values.
func run(env []string, args ...string) map[string]map[string][]float64 {
	cmd := exec.Command("go", append([]string{"test", "-run", "^$", "-benchmem"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	var out bytes.Buffer
	cmd.Stdout = &out
	fmt.Fprintf(os.Stderr, "bench: %s go %s\n", strings.Join(env, " "), strings.Join(cmd.Args[1:], " "))
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n%s", err, out.String())
		os.Exit(1)
	}
	return parse(out.String())
}

var line = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func parse(s string) map[string]map[string][]float64 {
	res := map[string]map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		if res[m[1]] == nil {
			res[m[1]] = map[string][]float64{}
		}
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				res[m[1]][f[i+1]] = append(res[m[1]][f[i+1]], v)
			}
		}
	}
	return res
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return -1
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func us(ns float64) string {
	if ns < 0 {
		return "–"
	}
	if ns >= 1e6 {
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
	if ns < 1e3 {
		return fmt.Sprintf("%.0f ns", ns)
	}
	return fmt.Sprintf("%.1f µs", ns/1e3)
}

func get(r map[string]map[string][]float64, name, metric string) float64 {
	return median(r[name][metric])
}

// goals from the issues, per row.
var goals = map[string]string{
	"HeaderOnly":                      "≤ 10 µs",
	"ModelRewrite/1KB":                "≤ 30 µs",
	"ModelRewrite/100KB":              "≤ 105 µs, ≤ 1.5× floor",
	"SSE/1events":                     "≤ 15 µs/chunk",
	"SSE/8events":                     "≤ 36 µs/chunk",
	"AnthropicToOpenAIRequest/1KB":    "≤ 40 µs (wasm)",
	"AnthropicToOpenAIRequest/100KB":  "≤ 1.1 ms (wasm)",
	"OpenAIToAnthropicResponse/1KB":   "≤ 40 µs (wasm)",
	"OpenAIToAnthropicResponse/100KB": "≤ 1.1 ms (wasm)",
	"StreamOpenAIToAnthropicPerEvent": "≤ 3 µs/event over passthrough",
	"Sign10KB":                        "≤ 300 µs (wasm)",
	"Assertion":                       "cache miss only (~10 ms)",
	"SelectInstance/roundrobin/16":    "< 1 µs (wasm)",
	"SelectInstance/chash/16":         "< 1 µs (wasm)",
	"BudgetCheckAndUpdate":            "≤ 5 µs (wasm), host calls not included",
	"ProbeCycle":                      "one per checked instance per interval, on one worker",
	"HealthRead":                      "per instance per tick, and per pick at most every 250 ms",
}

func main() {
	flag.Parse()
	root, _ := os.Getwd()
	wasmexec := filepath.Join(root, "dist", "wasmexec")
	if out, err := exec.Command("go", "build", "-o", wasmexec, "./e2e/cmd/wasmexec").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: building wasmexec: %v\n%s", err, out)
		os.Exit(1)
	}
	n := strconv.Itoa(*count)
	want := func(table string) bool { return *only == "" || slices.Contains(strings.Split(*only, ","), table) }
	if want("filter") {
		filterTable(n)
	}
	if want("packages") {
		pkgs := []string{"./convert/...", "./sigv4", "./gcpauth", "./internal/jsonbytes", "./filter/internal/ratelimit", "./filter/internal/health"}
		native, wasm := nativeAndWasm(wasmexec, ".", n, pkgs)
		fmt.Printf("\nPure packages, native and inside Wasm (wazero, median of %s runs)\n\n", n)
		packageTable(native, wasm)
	}
	if want("multi") {
		// The core's own benchmarks of ai-proxy-multi: a pick as the stream
		// makes it, and a retry's Backend.Build for a second instance.
		native, wasm := nativeAndWasm(wasmexec, "^Benchmark(SelectInstance|Rebuild)$", n, []string{"./filter/internal/core"})
		fmt.Printf("\nai-proxy-multi: selecting an instance among n, and a retry's rebuild, native and inside Wasm (median of %s runs)\n\n", n)
		packageTable(native, wasm)
	}
}

// nativeAndWasm runs the benchmarks of pkgs natively and inside Wasm.
func nativeAndWasm(wasmexec, bench, n string, pkgs []string) (native, wasm map[string]map[string][]float64) {
	args := []string{"-bench", bench, "-benchtime", *benchtime, "-count", n}
	native = run(nil, slices.Concat(args, []string{"-cpu", "1"}, pkgs)...)
	wasm = run([]string{"GOOS=wasip1", "GOARCH=wasm"}, slices.Concat([]string{"-exec", wasmexec}, args, pkgs)...)
	return native, wasm
}

func filterTable(n string) {
	e2e := run(nil, "-bench", "^Benchmark(Filter|Floor|Native)$", "-benchtime", "2000x", "-count", n, "-cpu", "1", "./e2e")
	mem := run(nil, "-bench", "^BenchmarkGuestMemory$", "-benchtime", "1x", "-count", "1", "-cpu", "1", "./e2e")
	fmt.Printf("\nFilter per request inside the e2e harness (envoy-fixed profile, real clock, median of %s runs)\n\n", n)
	fmt.Println("| scenario | filter | of which inside the VM | floor (host calls only) | filter − floor | native Go, same byte work | goal |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, sc := range []string{"HeaderOnly", "ModelRewrite/1KB", "ModelRewrite/100KB", "SSE/1events", "SSE/8events"} {
		metric := "ns/op"
		if strings.HasPrefix(sc, "SSE") {
			metric = "ns/chunk"
		}
		f, fl, nt := get(e2e, "Filter/"+sc, metric), get(e2e, "Floor/"+sc, metric), get(e2e, "Native/"+sc, metric)
		fmt.Printf("| %s%s | %s | %s | %s | %s | %s | %s |\n", sc, map[bool]string{true: " (per chunk)"}[metric == "ns/chunk"],
			us(f), us(get(e2e, "Filter/"+sc, "guest-ns/op")), us(fl), us(f-fl), us(nt), goals[sc])
	}
	fmt.Printf("| harness floor (no-op guest) | %s | | | | | |\n", us(get(e2e, "Floor/Noop", "ns/op")))
	fmt.Printf("| guest memory after 50,000 × 100 KB requests | %.1f MiB | | | | | ≤ 16 MiB |\n", get(mem, "GuestMemory", "MiB"))
}

// packageTable prints benchmarks run natively and inside Wasm, one row each.
func packageTable(native, wasm map[string]map[string][]float64) {
	fmt.Println("| benchmark | native | wasm | wasm/native | allocs | goal |")
	fmt.Println("|---|---|---|---|---|---|")
	var names []string
	for k := range native {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		nv, wv := get(native, k, "ns/op"), get(wasm, k, "ns/op")
		ratio := "–"
		if nv > 0 && wv > 0 {
			ratio = fmt.Sprintf("%.1f×", wv/nv)
		}
		fmt.Printf("| %s | %s | %s | %s | %.0f | %s |\n", k, us(nv), us(wv), ratio, get(native, k, "allocs/op"), goals[k])
	}
}
