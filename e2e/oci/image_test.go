package oci

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fakeModule is enough of a Wasm module for Istio's check: the magic and a
// version, then bytes.
var fakeModule = append([]byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}, bytes.Repeat([]byte("ai-proxy"), 512)...)

var testInfo = Info{Title: "ai-proxy", Source: "https://github.com/ai-proxy-wasm/ai-proxy-wasm", Revision: "0123456789abcdef0123456789abcdef01234567"}

// pushAndPull sends img through a registry in this process, as Istio's agent
// would receive it.
func pushAndPull(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ref := u.Host + "/ai-proxy-wasm/ai-proxy:test"
	if _, err := Push(img, ref); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	return pulled
}

func TestIstioAcceptsTheImageThroughARegistry(t *testing.T) {
	modules := map[string][]byte{"fake module": fakeModule}
	// make test sets AI_PROXY_WASM: then the real filter goes through too.
	if p := os.Getenv("AI_PROXY_WASM"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		modules["AI_PROXY_WASM"] = b
	}
	for name, module := range modules {
		t.Run(name, func(t *testing.T) {
			img, err := Image(module, testInfo)
			if err != nil {
				t.Fatal(err)
			}
			pulled := pushAndPull(t, img)

			got, err := IstioModule(pulled)
			if err != nil {
				t.Fatalf("Istio's rules refuse the pulled image: %v", err)
			}
			if !bytes.Equal(got, module) {
				t.Fatalf("%s differs from the module: %d bytes, want %d", ModuleFile, len(got), len(module))
			}

			// WasmPlugin.sha256 is compared with the pulled manifest's digest.
			want, _ := IstioPin(img)
			if pin, _ := IstioPin(pulled); pin != want {
				t.Errorf("pulled digest %s, built %s: a sha256 pin would fail", pin, want)
			}

			m, err := pulled.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string]string{
				VariantAnnotation:                   "compat",
				"org.opencontainers.image.revision": testInfo.Revision,
				"org.opencontainers.image.source":   testInfo.Source,
				"org.opencontainers.image.title":    testInfo.Title,
			} {
				if m.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
				}
			}
			if _, ok := m.Annotations["org.opencontainers.image.version"]; ok {
				t.Error("an empty Info field became an annotation")
			}
		})
	}
}

func TestIstioRefusesImagesOfTheWrongShape(t *testing.T) {
	layer := func(files ...File) v1.Layer {
		l, err := Layer(files...)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	good := File{Name: ModuleFile, Data: fakeModule}
	annotations := testInfo.annotations()
	image := func(layers ...v1.Layer) v1.Image {
		img, err := assemble(layers, annotations)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	withLayerMediaType := func(mt types.MediaType) v1.Image {
		img, err := mutate.Append(image(), mutate.Addendum{Layer: layer(good), MediaType: mt})
		if err != nil {
			t.Fatal(err)
		}
		return img
	}

	tests := []struct {
		name    string
		img     v1.Image
		wantErr string // empty: accepted
	}{
		{"one layer with plugin.wasm", image(layer(good)), ""},
		{"plugin.wasm in a directory", image(layer(File{Name: "filter/plugin.wasm", Data: fakeModule})), ""},
		{"plugin.wasm after another file", image(layer(File{Name: "runtime-config.json", Data: []byte("{}")}, good)), ""},
		{"no layer", image(), "has 0 layers"},
		{"two layers", image(layer(good), layer(good)), "has 2 layers"},
		{"wrong file name", image(layer(File{Name: "ai-proxy.wasm", Data: fakeModule})), "no plugin.wasm"},
		{"plugin.wasm is not Wasm", image(layer(File{Name: ModuleFile, Data: []byte("#!/bin/sh\necho hi\n")})), "not a Wasm binary"},
		{"uncompressed tar layer", withLayerMediaType(types.OCIUncompressedLayer), "layer media type"},
		{"Docker layer in an OCI manifest", withLayerMediaType(types.DockerLayer), "layer media type"},
		{"oci-variant Wasm layer", withLayerMediaType("application/vnd.module.wasm.content.layer.v1+wasm"), "layer media type"},
		{"Docker manifest", mutate.MediaType(image(layer(good)), types.DockerManifestSchema2), "manifest media type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := IstioModule(pushAndPull(t, tt.img))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr == "" && !bytes.Equal(got, fakeModule):
				t.Fatalf("extracted %d bytes, want the module's %d", len(got), len(fakeModule))
			case tt.wantErr != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want one with %q", err, tt.wantErr)
			}
		})
	}
}

func TestImageRefusesANonWasmModule(t *testing.T) {
	if _, err := Image([]byte("not wasm at all"), testInfo); err == nil {
		t.Fatal("Image packed a file that is not Wasm")
	}
}

func TestTheDigestIsReproducible(t *testing.T) {
	digest := func(module []byte, info Info) v1.Hash {
		img, err := Image(bytes.Clone(module), info)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := digest(fakeModule, testInfo)
	if again := digest(fakeModule, testInfo); again != first {
		t.Fatalf("two builds of the same module: %s and %s", first, again)
	}
	// Two builds within one second would agree even with the clock in the
	// tar or gzip header, so the digest is also checked against the one
	// this image has always had. If this fails after a change of the
	// builder (or of Go's compress/flate), every published pin changes:
	// say so in the release notes.
	const golden = "sha256:891f96c440df8ce51519cdbbc87dbe67db60560c2b4dd51a200ed94d9705a481"
	if first.String() != golden {
		t.Fatalf("digest %s, want %s", first, golden)
	}

	// Through a layout on disk too, as make oci writes it.
	img, _ := Image(fakeModule, testInfo)
	dir := t.TempDir() + "/oci"
	if err := WriteLayout(dir, img, "latest"); err != nil {
		t.Fatal(err)
	}
	read, err := ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := read.Digest(); d != first {
		t.Fatalf("layout holds %s, built %s", d, first)
	}

	// The digest follows the inputs, so a pin means something.
	changed := bytes.Clone(fakeModule)
	changed[len(changed)-1] ^= 1
	if digest(changed, testInfo) == first {
		t.Error("another module gave the same digest")
	}
	other := testInfo
	other.Revision = "fedcba9876543210fedcba9876543210fedcba98"
	if digest(fakeModule, other) == first {
		t.Error("another revision gave the same digest")
	}
}
