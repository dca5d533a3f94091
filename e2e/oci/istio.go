package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The rules below are those of Istio's agent when a WasmPlugin's url is
// oci://, restated from its source at
// https://github.com/istio/istio/blob/86c9f01fd735fb01d8192f5bcaf0d424afb7f14c/pkg/wasm/imagefetcher.go
// (PrepareFetch, extractOCIStandardImage, extractWasmPluginBinary) and
// https://github.com/istio/istio/blob/86c9f01fd735fb01d8192f5bcaf0d424afb7f14c/pkg/wasm/cache.go
// (the sha256 comparison and isValidWasmBinary):
//
//  1. The pin: WasmPlugin.sha256 is compared with the hex of the image's
//     manifest digest (not the module's own sha256), before any layer is
//     downloaded. IstioPin returns that value.
//  2. A manifest of Docker media type is read as a Docker image; any other
//     (OCI) manifest is tried as the compat variant first, then as the
//     two-layer "oci" variant. We ship the compat variant under an OCI
//     manifest, so that is the only path accepted here.
//  3. Compat: the layer must have media type
//     application/vnd.oci.image.layer.v1.tar+gzip. Istio today reads the
//     last layer; Istio before 1.16 demanded exactly one, as the spec does
//     (https://github.com/istio/istio/blob/1.15.0/pkg/wasm/imagefetcher.go),
//     so exactly one layer is required here.
//  4. The layer blob is gunzipped and read as a tar; the first entry whose
//     base name is plugin.wasm is the module, whatever its directory.
//  5. The module must be at least 8 bytes and start with the Wasm magic
//     \0asm, else the fetch fails.

// IstioModule returns the module Istio's agent would extract from img, or
// the reason it would refuse the image.
func IstioModule(img v1.Image) ([]byte, error) {
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	if mt != types.OCIManifestSchema1 {
		return nil, fmt.Errorf("manifest media type %s, want %s (the compat variant under an OCI manifest)", mt, types.OCIManifestSchema1)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("the image has %d layers, want exactly 1", len(layers))
	}
	lmt, err := layers[0].MediaType()
	if err != nil {
		return nil, err
	}
	if lmt != types.OCILayer {
		return nil, fmt.Errorf("layer media type %s, want %s", lmt, types.OCILayer)
	}
	blob, err := layers[0].Compressed()
	if err != nil {
		return nil, err
	}
	defer blob.Close()
	module, err := moduleFromTarGz(blob)
	if err != nil {
		return nil, err
	}
	if len(module) < 8 || !bytes.Equal(module[:4], wasmMagic) {
		return nil, errors.New(ModuleFile + " is not a Wasm binary (no \\0asm header)")
	}
	return module, nil
}

func moduleFromTarGz(r io.Reader) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("the layer is not gzip: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, errors.New("no " + ModuleFile + " in the layer")
		}
		if err != nil {
			return nil, fmt.Errorf("the layer is not a tar: %w", err)
		}
		if path.Base(hdr.Name) == ModuleFile {
			module := make([]byte, hdr.Size)
			if _, err := io.ReadFull(tr, module); err != nil {
				return nil, fmt.Errorf("reading %s: %w", hdr.Name, err)
			}
			return module, nil
		}
	}
}

// IstioPin is the value for WasmPlugin.sha256 that pins img: the hex of its
// manifest digest.
func IstioPin(img v1.Image) (string, error) {
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.Hex, nil
}
