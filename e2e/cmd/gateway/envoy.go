package main

import (
	"context"
	"errors"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/envoy"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/gateway"
)

// runEnvoy serves cfg through the real Envoy at envoyPath (make run
// HOST=envoy) until SIGINT or SIGTERM: it starts the builtin mocks,
// writes the Envoy config (envoy.GatewayConfig) and runs Envoy in the
// foreground, its log on stderr. It returns the exit status: Envoy's own
// when it stops by itself, e.g. 1 when the filter rejects a plugin
// configuration (the filter's error line is in the log above).
func runEnvoy(envoyPath, wasmPath, listen string, cfg *gateway.Config, workers int) int {
	b, err := envoy.BinaryAt(envoyPath)
	if err != nil {
		log.Print("gateway: ", err)
		return 1
	}
	module, err := filepath.Abs(wasmPath)
	if err == nil {
		_, err = os.Stat(module)
	}
	if err != nil {
		log.Print("gateway: ", err)
		return 1
	}
	targets, stopMocks, err := gateway.StartClusters(cfg)
	if err != nil {
		log.Print("gateway: ", err)
		return 1
	}
	defer stopMocks()
	conf, err := envoy.GatewayConfig(cfg, envoy.GatewayOptions{
		Module: module, Listen: listen, Targets: targets,
		HostEnvKeys: append([]string{"GCP_SERVICE_ACCOUNT"}, cfg.EnvNames()...),
	})
	if err != nil {
		log.Print("gateway: ", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "ai-proxy-envoy-")
	if err != nil {
		log.Print("gateway: ", err)
		return 1
	}
	defer os.RemoveAll(dir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Printf("starting Envoy %s (%s) with %d workers; its config is %s", b.Version, b.Path, workers, filepath.Join(dir, "envoy.yaml"))
	e, err := envoy.Launch(b, conf, dir, envoy.Options{
		Concurrency: workers,
		// Envoy's warnings, and everything the filter logs.
		LogLevel: "warning",
		Args:     []string{"--component-log-level", "wasm:info"},
		Output:   os.Stderr,
	})
	if err != nil {
		log.Printf("gateway: %v", err)
		return exitStatus(e)
	}
	log.Printf("ai-proxy gateway on http://%s (Envoy %s, %d workers, %d routes; admin %s)", listen, b.Version, workers, len(cfg.Routes), e.Admin)
	for _, r := range cfg.Routes {
		log.Printf("  %v %s", r.Methods, r.URI)
	}
	for name, target := range targets {
		log.Printf("  cluster %s → %s", name, target)
	}
	exited := make(chan struct{})
	go func() { e.Wait(); close(exited) }()
	select {
	case <-ctx.Done():
		e.Stop()
		return 0
	case <-exited:
		log.Printf("gateway: Envoy exited: %v", e.Wait())
		return exitStatus(e)
	}
}

// exitStatus is Envoy's exit status, at least 1.
func exitStatus(e *envoy.Envoy) int {
	if e == nil {
		return 1
	}
	var exit *exec.ExitError
	if err := e.Wait(); errors.As(err, &exit) && exit.ExitCode() > 0 {
		return exit.ExitCode()
	}
	return 1
}
