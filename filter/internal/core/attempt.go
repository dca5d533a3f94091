package core

import (
	"strconv"
	"strings"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/sigv4"
)

// clientRequest is the client's AI request once validated: its bytes and
// their index. Building an attempt only reads it, so every attempt starts
// from the same input.
type clientRequest struct {
	protocol convert.Protocol
	body     []byte
	obj      *jsonbytes.Object // body's top level
	stream   bool              // the client asked for a stream
	model    string            // the model the client asked for
}

// Attempt is one upstream request built from the client's by a Backend.
type Attempt struct {
	target *target // scheme, authority, cluster and upstream protocol
	tr     convert.Translator
	model  string // the model sent upstream
	path   string // :path, query included
	// body may live in the plugin's scratch buffer: it is valid until the
	// next Build, so it is handed to the host (or copied) before that.
	body []byte
	// headers are the attempt's own headers beyond the backend's static
	// ones: the SigV4 signature of path and body.
	headers [][2]string
}

// clock is the wall clock a signature is dated with.
type clock interface{ NowNanos() int64 }

// buildBuffers is a plugin's working memory for Build, reused by every
// request of its worker.
type buildBuffers struct {
	scratch []byte // upstream bodies
	ed      bodyEditor
}

// buildError is a request this backend cannot send, with the status the
// client gets.
type buildError struct {
	status int
	msg    string
	// ai: the body was built and only its path or signature was not;
	// the request still counts as an AI request.
	ai bool
}

// Build makes the upstream request for req: the translator, path and
// body, in the upstream protocol with the backend's options and overrides
// applied. old is a translator the caller is done with (or nil), recycled
// when it serves the same direction; now dates a signature.
func (b *Backend) Build(buf *buildBuffers, req *clientRequest, old convert.Translator, now clock) (Attempt, *buildError) {
	t, ok := b.targets.get(req.protocol)
	if !ok {
		return Attempt{}, b.unserved(req.protocol)
	}
	tr, ok := convert.Renew(old, req.protocol, t.upstream)
	if !ok {
		return Attempt{}, unconvertible(req.protocol, t.upstream)
	}
	a := Attempt{target: t, tr: tr, model: req.model, path: t.path, body: req.body}
	if b.cfg.Model != "" {
		a.model = b.cfg.Model
	}
	// The translator writes the upstream body once, with the backend's
	// settings applied as it goes; the pass-through edits the client's
	// bytes over their index, and returns them as they are when nothing
	// changes. The host copies the body out within the same callback, so
	// one buffer per plugin (per VM thread) serves every request.
	buf.ed.reset(b, b.plans[req.protocol], req.stream)
	var err error
	a.body, err = tr.Request(req.obj, buf.scratch[:0], &buf.ed)
	switch {
	case buf.ed.err != nil:
		return a, &buildError{status: 400, msg: "cannot apply the gateway's request options: " + buf.ed.err.Error()}
	case err != nil:
		return a, &buildError{status: 400, msg: err.Error()}
	}
	if !jsonbytes.Same(a.body, req.body) && cap(a.body) <= maxScratch {
		buf.scratch = a.body[:0]
	}
	if a.path == "" {
		if a.model == "" {
			return a, &buildError{status: 400, ai: true, msg: "provider " + b.provider.Name + " needs a model: set options.model or send \"model\" in the request"}
		}
		if t.modelPath == nil {
			return a, &buildError{status: 400, ai: true, msg: "no upstream path for " + t.upstream.String()}
		}
		a.path = t.modelPath(b.conf, a.model, req.stream) + t.query
	}
	if b.signer != nil {
		if a.headers, err = b.sign(t, a.path, a.body, now); err != nil {
			return a, &buildError{status: 500, ai: true, msg: err.Error()}
		}
	}
	return a, nil
}

// sign returns the SigV4 headers of an attempt.
func (b *Backend) sign(t *target, pathQuery string, body []byte, now clock) ([][2]string, error) {
	path, query, _ := strings.Cut(pathQuery, "?")
	return b.signer.Sign(&sigv4.Request{
		Method: "POST", Host: t.authority, Path: path, Query: query,
		Headers: [][2]string{{"content-type", "application/json"}}, Body: body,
	}, time.Unix(0, now.NowNanos()).UTC())
}

// unserved is the error for a client protocol the provider cannot serve.
func (b *Backend) unserved(client convert.Protocol) *buildError {
	return &buildError{status: 400, msg: "provider " + strconv.Quote(b.provider.Name) + " does not serve " + client.String() + " requests"}
}

func unconvertible(client, upstream convert.Protocol) *buildError {
	return &buildError{status: 400, msg: "cannot convert " + client.String() + " requests to " + upstream.String()}
}
