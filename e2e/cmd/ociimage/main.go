// Command ociimage packs the filter module as an OCI image for Istio's
// WasmPlugin (make oci, make oci-push): the compat variant, one tar+gzip layer
// holding plugin.wasm. See docs/oci.md.
//
// The image is written as an OCI image layout, pushed to a registry, or both.
// Its digest depends only on the module and the flags, so a rebuild of the
// same module gives the same digest.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/oci"
)

func main() {
	wasmPath := flag.String("wasm", "dist/ai-proxy.wasm", "filter module")
	layoutDir := flag.String("layout", "", "write the image as an OCI image layout into this directory (replaced)")
	tag := flag.String("tag", "latest", "name of the image in the layout (org.opencontainers.image.ref.name)")
	push := flag.String("push", "", "push the image to this reference, e.g. ghcr.io/org/ai-proxy:v1")
	revision := flag.String("revision", "", "source revision (commit) the module was built from")
	version := flag.String("version", "", "version of the module")
	source := flag.String("source", "https://github.com/ai-proxy-wasm/ai-proxy-wasm", "URL of the source repository")
	flag.Parse()

	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
	if *layoutDir == "" && *push == "" {
		fail(fmt.Errorf("nothing to do: give -layout DIR, -push REF or both"))
	}
	module, err := os.ReadFile(*wasmPath)
	if err != nil {
		fail(err)
	}
	img, err := oci.Image(module, oci.Info{
		Title:       "ai-proxy",
		Description: "AI gateway as a proxy-wasm filter (APISIX ai-proxy configuration) for Envoy, Istio and APISIX",
		Source:      *source,
		Revision:    *revision,
		Version:     *version,
	})
	if err != nil {
		fail(err)
	}
	// Refuse to publish what Istio would not load.
	if _, err := oci.IstioModule(img); err != nil {
		fail(fmt.Errorf("the image does not follow Istio's rules: %w", err))
	}
	pin, err := oci.IstioPin(img)
	if err != nil {
		fail(err)
	}
	if *layoutDir != "" {
		if err := oci.WriteLayout(*layoutDir, img, *tag); err != nil {
			fail(err)
		}
		fmt.Printf("wrote %s (OCI image layout)\n", *layoutDir)
	}
	fmt.Printf("digest: sha256:%s\n", pin)
	if *push != "" {
		ref, err := oci.Push(img, *push)
		if err != nil {
			fail(err)
		}
		fmt.Printf("pushed %s\n", ref)
		fmt.Printf("WasmPlugin: url: oci://%s  sha256: %s\n", ref, pin)
	} else {
		fmt.Printf("WasmPlugin: sha256: %s\n", pin)
	}
}
