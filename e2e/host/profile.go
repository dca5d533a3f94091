package host

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// Profile selects which real host a VM imitates. Every behaviour that
// differs between profiles is marked in the code with the reference that
// documents it (docs/*.md, or the public source).
type Profile int

const (
	// Envoy is Envoy 1.33–1.38: proxy-wasm-cpp-host c4d7bb0 (#427), whose
	// WASI poll_oneoff answers ENOSYS, and without
	// allow_on_headers_stop_iteration (docs/proxy-wasm-abi.md#wasi, #actions).
	Envoy Profile = iota
	// EnvoyFixed is Envoy with cpp-host #533 (poll_oneoff succeeds, wider
	// allow-lists) and the plugin setting allow_on_headers_stop_iteration:
	// true (docs/proxy-wasm-abi.md#wasi; docs/host-behaviours.md#holding-headers).
	EnvoyFixed
	// APISIX is api7/wasm-nginx-module @0b4b31d with wasmtime's full WASI
	// (docs/host-behaviours.md#apisix).
	APISIX
)

var profileNames = [...]string{Envoy: "envoy", EnvoyFixed: "envoy-fixed", APISIX: "apisix"}

// String returns the name ParseProfile accepts.
func (p Profile) String() string {
	if p < 0 || int(p) >= len(profileNames) {
		return fmt.Sprintf("Profile(%d)", int(p))
	}
	return profileNames[p]
}

// ParseProfile maps "envoy", "envoy-fixed" or "apisix" to a Profile.
func ParseProfile(s string) (Profile, error) {
	for p, n := range profileNames {
		if n == s {
			return Profile(p), nil
		}
	}
	return 0, fmt.Errorf("host: unknown profile %q (want envoy, envoy-fixed or apisix)", s)
}

// isEnvoy reports whether p is one of the proxy-wasm-cpp-host profiles.
func (p Profile) isEnvoy() bool { return p == Envoy || p == EnvoyFixed }

// HostFuncs lists the functions the profile's host provides to a module
// exporting proxy_abi_version_0_2_1, by module and name: what a module may
// import without failing to link.
func (p Profile) HostFuncs() []Func {
	var fs []Func
	for _, m := range hostModules(p, abi021) {
		for _, h := range m.funcs {
			fs = append(fs, Func{Module: m.name, Name: h.name, Params: h.params, Results: h.results})
		}
	}
	slices.SortFunc(fs, func(a, b Func) int {
		return cmp.Or(strings.Compare(a.Module, b.Module), strings.Compare(a.Name, b.Name))
	})
	return fs
}

// Func is a function crossing the module boundary with its wasm signature.
type Func struct {
	Module  string // import module ("env", "wasi_snapshot_preview1"); empty for exports
	Name    string
	Params  []api.ValueType
	Results []api.ValueType
}

func (f Func) String() string {
	return fmt.Sprintf("%s.%s(%s) %s", f.Module, f.Name, sigString(f.Params), sigString(f.Results))
}

func sigString(ts []api.ValueType) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ","
		}
		s += api.ValueTypeName(t)
	}
	return s
}

// LogLevel is proxy_log_level_t (docs/proxy-wasm-abi.md#enums).
type LogLevel uint32

const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

var levelNames = [...]string{"trace", "debug", "info", "warn", "error", "critical"}

func (l LogLevel) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint32(l))
}

// LogLine is one line the guest logged, through proxy_log or by writing to
// stdout (info) or stderr (error).
type LogLine struct {
	Level LogLevel
	Msg   string
}

func (l LogLine) String() string { return l.Level.String() + ": " + l.Msg }
