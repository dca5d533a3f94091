package main

import (
	"strings"
	"testing"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/core"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/proxywasm"
)

// The hosts are never called while a stream is made or reused: embedding
// the nil interfaces satisfies them, and any call would panic the test.
type (
	noHost     struct{ proxywasm.Host }
	noRootHost struct{ proxywasm.RootHost }
	foreign    struct{ proxywasm.Stream }
)

const openaiConf = `{"provider":"openai","auth":{"header":{"Authorization":"Bearer sk-operator"}}}`

func TestConfigure(t *testing.T) {
	if _, err := configure([]byte(`{"provider":"nope"}`), proxywasm.Caps{}, noRootHost{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("bad configuration: error %v, want one naming the provider", err)
	}
	root, err := configure([]byte(openaiConf), proxywasm.Caps{Ticks: true}, noRootHost{})
	if err != nil {
		t.Fatal(err)
	}

	first := root.NewStream(noHost{}, nil)
	if _, ok := first.(*core.Stream); !ok {
		t.Fatalf("NewStream = %T, want *core.Stream", first)
	}
	// The shell pools finished streams: the root takes one of its own
	// kind back, buffers and all, and makes a new one for any other.
	if again := root.NewStream(noHost{}, first); again != first {
		t.Error("a finished core.Stream offered for reuse was not reused")
	}
	if other := root.NewStream(noHost{}, foreign{}); other == first {
		t.Error("a foreign stream was not replaced")
	} else if _, ok := other.(*core.Stream); !ok {
		t.Errorf("NewStream(foreign) = %T, want *core.Stream", other)
	}
}
