// Command wasmexec runs a GOOS=wasip1 program (a `go test -c` binary) in
// wazero with a real clock and the host file system, so that
//
//	GOOS=wasip1 GOARCH=wasm go test -exec "$PWD/dist/wasmexec" -bench . ./convert
//
// measures the pure packages inside Wasm, as the filter runs them.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: wasmexec program.wasm [args...]")
		os.Exit(2)
	}
	ctx := context.Background()
	bin, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := wazero.NewRuntimeConfig()
	if dir, err := os.UserCacheDir(); err == nil {
		if cache, err := wazero.NewCompilationCacheWithDir(dir + "/ai-proxy-wasm/wasmexec"); err == nil {
			cfg = cfg.WithCompilationCache(cache)
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	mc := wazero.NewModuleConfig().WithArgs(os.Args[1:]...).WithStdout(os.Stdout).WithStderr(os.Stderr).WithStdin(os.Stdin).
		WithSysNanotime().WithSysWalltime().WithSysNanosleep().WithRandSource(rand.Reader).
		WithFSConfig(wazero.NewFSConfig().WithDirMount("/", "/"))
	for _, kv := range os.Environ() {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				mc = mc.WithEnv(kv[:i], kv[i+1:])
				break
			}
		}
	}
	if wd, err := os.Getwd(); err == nil {
		mc = mc.WithEnv("PWD", wd)
	}
	_, err = rt.InstantiateWithConfig(ctx, bin, mc)
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		os.Exit(int(exit.ExitCode()))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
