// Command gateway serves the ai-proxy filter locally (make run): the real
// .wasm in the e2e proxy-wasm host, routes and clusters from a YAML file.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

func main() {
	wasmPath := flag.String("wasm", "dist/ai-proxy.wasm", "filter module")
	listen := flag.String("listen", "127.0.0.1:9080", "address to serve on")
	config := flag.String("config", "examples/local/config.yaml", "routes and clusters (YAML)")
	profileName := flag.String("profile", "envoy-fixed", "host profile: envoy, envoy-fixed or apisix")
	workers := flag.Int("workers", 2, "VMs (Envoy worker threads)")
	envoyPath := flag.String("envoy", "", "serve through the real Envoy at this path (its --concurrency is -workers; -profile is not used) instead of the embedded harness")
	flag.Parse()

	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
	profile, err := host.ParseProfile(*profileName)
	if err != nil {
		fail(err)
	}
	cfg, err := gateway.LoadConfig(*config)
	if err != nil {
		fail(err)
	}
	if *envoyPath != "" {
		os.Exit(runEnvoy(*envoyPath, *wasmPath, *listen, cfg, *workers))
	}
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		fail(err)
	}
	g, err := gateway.New(context.Background(), wasm, cfg, gateway.Options{
		Profile: profile, Workers: *workers, Env: gateway.EnvFromOS(cfg),
		Log: func(level host.LogLevel, msg string) { log.Printf("[filter %s] %s", level, msg) },
	})
	if err != nil {
		fail(err)
	}
	defer g.Close()
	log.Printf("ai-proxy gateway on http://%s (profile %s, %d workers, %d routes)", *listen, profile, *workers, len(cfg.Routes))
	for _, r := range cfg.Routes {
		log.Printf("  %v %s", r.Methods, r.URI)
	}
	fail(http.ListenAndServe(*listen, g))
}
