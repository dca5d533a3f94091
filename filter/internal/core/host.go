// Package core is the ai-proxy filter's logic without Wasm: configuration,
// the per-request state machine and its decisions. The ABI shell
// filter/internal/proxywasm turns proxy-wasm callbacks into calls on Plugin
// and Stream and implements Host with proxy-wasm host calls; tests
// implement Host natively.
package core

import "github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"

// The shell's contract, under the names the core uses (see
// filter/internal/proxywasm/plugin.go).
type (
	// Action is what a request or response callback tells the host.
	Action = proxywasm.Action
	// Level is a proxy-wasm log level.
	Level = proxywasm.Level
	// Caps are what the host can do, probed once at configure time.
	Caps = proxywasm.Caps
	// Host is the proxy as one stream sees it.
	Host = proxywasm.Host
	// RootHost is the proxy as a plugin (root context) sees it.
	RootHost = proxywasm.RootHost
)

const (
	Continue = proxywasm.Continue
	Pause    = proxywasm.Pause
	Consume  = proxywasm.Consume

	LevelTrace    = proxywasm.LevelTrace
	LevelDebug    = proxywasm.LevelDebug
	LevelInfo     = proxywasm.LevelInfo
	LevelWarn     = proxywasm.LevelWarn
	LevelError    = proxywasm.LevelError
	LevelCritical = proxywasm.LevelCritical
)
