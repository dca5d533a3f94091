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
	"github.com/tetratelabs/wazero/api"
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
	compiled, err := rt.CompileModule(ctx, bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := stubEnv(ctx, rt, compiled); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
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
	_, err = rt.InstantiateModule(ctx, compiled, mc)
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		os.Exit(int(exit.ExitCode()))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// stubEnv provides the proxy-wasm host functions (module "env") a test
// binary imports when its package links the filter's ABI shell, such as
// a package keeping state in the shell's Store. Pure code paths never call
// them; any call answers 12, proxy-wasm's UNIMPLEMENTED.
func stubEnv(ctx context.Context, rt wazero.Runtime, m wazero.CompiledModule) error {
	env := rt.NewHostModuleBuilder("env")
	n := 0
	for _, f := range m.ImportedFunctions() {
		if mod, name, _ := f.Import(); mod == "env" {
			results := f.ResultTypes()
			env.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
				if len(results) > 0 {
					stack[0] = 12
				}
			}), f.ParamTypes(), results).Export(name)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	_, err := env.Instantiate(ctx)
	return err
}
