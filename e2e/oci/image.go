// Package oci packs the filter module as an OCI image that Istio's
// WasmPlugin can pull, and checks an image against the rules Istio's
// image fetcher applies (see istio.go).
//
// The image is the "compat" variant of the Wasm image specification
// (https://github.com/solo-io/wasm/blob/master/spec/spec-compat.md): an OCI
// manifest with exactly one application/vnd.oci.image.layer.v1.tar+gzip
// layer holding the module as plugin.wasm, and the manifest annotation
// module.wasm.image/variant=compat. Standard registries store it like any
// container image, and no Docker daemon is needed to build it.
//
// The image is reproducible: the same module and the same Info give the same
// manifest digest, which is what WasmPlugin's sha256 field pins. Every
// timestamp is fixed, the tar header carries nothing from the build machine,
// and the gzip stream has no name or time and a fixed level.
package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// ModuleFile is the file name Istio looks for in the layer.
	ModuleFile = "plugin.wasm"
	// VariantAnnotation marks the manifest as the compat variant, as the
	// spec asks of images with an OCI layer media type.
	VariantAnnotation = "module.wasm.image/variant"
)

// epoch is every timestamp in the image: the module's mtime in the tar and
// the config's creation time. Any fixed value keeps the digest stable; the
// Unix epoch is what SOURCE_DATE_EPOCH=0 tools use.
var epoch = time.Unix(0, 0).UTC()

// Info is what the image says about itself, as org.opencontainers.image.*
// manifest annotations
// (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
// Empty fields are left out. It takes part in the digest: the same module
// built from another revision is another image.
type Info struct {
	Title       string // org.opencontainers.image.title
	Description string // org.opencontainers.image.description
	Source      string // org.opencontainers.image.source: URL of the repository
	Revision    string // org.opencontainers.image.revision: the commit the module was built from
	Version     string // org.opencontainers.image.version
	URL         string // org.opencontainers.image.url
}

func (in Info) annotations() map[string]string {
	a := map[string]string{VariantAnnotation: "compat"}
	for k, v := range map[string]string{
		"org.opencontainers.image.title":       in.Title,
		"org.opencontainers.image.description": in.Description,
		"org.opencontainers.image.source":      in.Source,
		"org.opencontainers.image.revision":    in.Revision,
		"org.opencontainers.image.version":     in.Version,
		"org.opencontainers.image.url":         in.URL,
	} {
		if v != "" {
			a[k] = v
		}
	}
	return a
}

// wasmMagic opens every Wasm binary module.
var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// Image builds the compat-variant image of module.
func Image(module []byte, info Info) (v1.Image, error) {
	if len(module) < 8 || !bytes.Equal(module[:4], wasmMagic) {
		return nil, errors.New("oci: the module is not a Wasm binary (it must start with \\0asm and a version)")
	}
	layer, err := Layer(File{Name: ModuleFile, Data: module})
	if err != nil {
		return nil, err
	}
	return assemble([]v1.Layer{layer}, info.annotations())
}

// File is one regular file of a layer.
type File struct {
	Name string
	Data []byte
}

// Layer packs files into a tar+gzip layer of media type
// application/vnd.oci.image.layer.v1.tar+gzip. Its bytes depend only on the
// files: fixed mode, owner and time, USTAR headers, and a gzip stream without
// name or time at a fixed level.
func Layer(files ...File) (v1.Layer, error) {
	var tarBytes bytes.Buffer
	tw := tar.NewWriter(&tarBytes)
	for _, f := range files {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Name,
			Mode:     0o644,
			Size:     int64(len(f.Data)),
			ModTime:  epoch,
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("oci: tar header of %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}

	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(tarBytes.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	compressed := gz.Bytes()
	// Given gzip bytes, go-containerregistry keeps them as the blob as they
	// are instead of compressing again with its own settings.
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// assemble makes an OCI image manifest of layers with a fixed config.
func assemble(layers []v1.Layer, annotations map[string]string) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var diffIDs []v1.Hash
	for _, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		diffIDs = append(diffIDs, d)
	}
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, err
	}
	// The config replaces the one AppendLayers computed, so that nothing in
	// it (history, times) comes from the build.
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Created:      v1.Time{Time: epoch},
		Architecture: "wasm",
		OS:           "wasip1",
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: diffIDs},
		History:      []v1.History{{Created: v1.Time{Time: epoch}, CreatedBy: "ai-proxy-wasm e2e/cmd/ociimage"}},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, annotations).(v1.Image), nil
}

// WriteLayout writes img as the only image of a fresh OCI image layout in
// dir (https://github.com/opencontainers/image-spec/blob/main/image-layout.md),
// named tag (org.opencontainers.image.ref.name) when tag is not empty.
func WriteLayout(dir string, img v1.Image, tag string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	var opts []layout.Option
	if tag != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
	}
	return p.AppendImage(img, opts...)
}

// ReadLayout reads the only image of the OCI image layout in dir.
func ReadLayout(dir string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("oci: %s holds %d images, want 1", dir, len(m.Manifests))
	}
	return idx.Image(m.Manifests[0].Digest)
}

// Push uploads img to ref (registry/repository:tag) with the credentials of
// the Docker config (docker login, crane auth login), as Istio's agent reads
// them when it pulls.
func Push(img v1.Image, ref string, opts ...remote.Option) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("oci: image reference %q: %w", ref, err)
	}
	opts = append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	if err := remote.Write(r, img, opts...); err != nil {
		return nil, fmt.Errorf("oci: push %s: %w", r, err)
	}
	return r, nil
}
