package core

import (
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/internal/jsonbytes"
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
}

// buildBuffers is a plugin's working memory for Build, reused by every
// request of its worker.
type buildBuffers struct {
	scratch []byte           // rewritten bodies
	sets    []jsonbytes.Set  // rewriteBody's edits
	dels    []string         // rewriteBody's deletions
	obj     jsonbytes.Object // the index of a translated body
}

// buildError is a request this backend cannot send, with the status the
// client gets.
type buildError struct {
	status int
	msg    string
	// pathOnly: the body was built and only its path was not (no model
	// to put in it); the request still counts as an AI request.
	pathOnly bool
}

func (e *buildError) Error() string { return e.msg }

// Build makes the upstream request for req: the translator, path and
// body, in the upstream protocol with the backend's options and overrides
// applied. old is a translator the caller is done with (or nil), recycled
// when it serves the same direction.
func (b *Backend) Build(buf *buildBuffers, req *clientRequest, old convert.Translator) (Attempt, *buildError) {
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
	obj := req.obj
	var err error
	if req.protocol != t.upstream {
		if a.body, err = tr.Request(req.body); err != nil {
			return a, &buildError{status: 400, msg: err.Error()}
		}
		obj = &buf.obj
		if err := obj.Parse(a.body); err != nil {
			return a, &buildError{status: 500, msg: "the gateway produced an invalid " + t.upstream.String() + " request: " + err.Error()}
		}
	}
	if a.body, err = b.rewriteBody(buf, t, a.body, obj, req.stream); err != nil {
		return a, &buildError{status: 400, msg: "cannot apply the gateway's request options: " + err.Error()}
	}
	if a.path == "" {
		if a.model == "" {
			return a, &buildError{status: 400, pathOnly: true, msg: "provider " + b.provider.Name + " needs a model: set options.model or send \"model\" in the request"}
		}
		if t.modelPath == nil {
			return a, &buildError{status: 400, pathOnly: true, msg: "no upstream path for " + t.upstream.String()}
		}
		a.path = t.modelPath(b.conf, a.model, req.stream) + t.query
	}
	return a, nil
}

// unserved is the error for a client protocol the provider cannot serve.
func (b *Backend) unserved(client convert.Protocol) *buildError {
	return &buildError{status: 400, msg: "provider " + strconv.Quote(b.provider.Name) + " does not serve " + client.String() + " requests"}
}

func unconvertible(client, upstream convert.Protocol) *buildError {
	return &buildError{status: 400, msg: "cannot convert " + client.String() + " requests to " + upstream.String()}
}
