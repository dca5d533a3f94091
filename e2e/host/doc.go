// Package host runs a proxy-wasm module (ABI v0.2.1) in wazero the way a
// real host does, so the filter can be tested, soaked and served without
// Envoy or APISIX.
//
// One process-wide wazero runtime compiles each module once (Compile). A VM
// (Module.NewVM) is one instance: one Envoy worker's VM, or one APISIX wasm
// plugin. A Plugin (VM.NewPlugin) is a root context with its
// configuration. Plugin.Do drives one HTTP exchange through the filter the
// way the host's filter manager does, calling Options.Upstream as the
// router. Shared holds what VMs of one "process" share: shared data,
// queues and stats.
//
// Three profiles imitate three hosts, and every place they differ is
// commented with the document (docs/*.md) or source that documents it:
//
//   - Envoy: Envoy 1.33–1.38, proxy-wasm-cpp-host c4d7bb0. Its 18 WASI
//     functions answer poll_oneoff with ENOSYS, which kills a Go guest
//     whose runtime needs to sleep or poll; V8's restricted callbacks
//     during _initialize and the allocator; a Pause from request headers
//     stops everything (StopAllIterationAndWatermark).
//   - EnvoyFixed: cpp-host #533 (poll_oneoff succeeds, more WASI stubs,
//     wider allow-lists) with allow_on_headers_stop_iteration: a Pause from
//     headers holds them while the body still flows to the filter.
//   - APISIX: wasm-nginx-module with wazero's complete WASI; headers
//     callbacks without counts, a whole-body request callback only on
//     request, no body rewrite, synchronous one-per-request callouts, nginx
//     variables as properties, no ticks, no shared data.
//
// Sources named in comments: HOST is github.com/proxy-wasm/proxy-wasm-cpp-host,
// ENVOY is github.com/envoyproxy/envoy, NGX is github.com/api7/wasm-nginx-module
// and CPPSDK is github.com/proxy-wasm/proxy-wasm-cpp-sdk.
//
// Concurrency: VM entry points are serialised by the VM's mutex, like a
// single-threaded worker; exchanges on one VM interleave while a stream is
// paused or waits for upstream I/O. HTTP callouts run on goroutines and
// are delivered to the root context under the mutex. Guests get a real
// clock and crypto/rand (docs/host-behaviours.md#harness).
package host
