// Package hosttest holds test support for packages that drive modules
// through the host harness.
package hosttest

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

var builds sync.Map // key → *build

type build struct {
	once sync.Once
	wasm []byte
	err  error
}

// BuildGuest builds the Go package in dir (relative to the test's working
// directory or absolute) with host.BuildWasm, once per process per dir and
// tag set, and fails the test if the build fails.
func BuildGuest(t testing.TB, dir string, tags ...string) []byte {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := builds.LoadOrStore(abs+"\x00"+strings.Join(tags, ","), &build{})
	b := v.(*build)
	b.once.Do(func() { b.wasm, b.err = host.BuildWasm(abs, tags...) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.wasm
}
