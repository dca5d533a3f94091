package core

import (
	"slices"
	"strconv"
	"time"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/gcpauth"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/providers"
)

// GCP access tokens (Vertex AI). The token is cached in shared data so all
// workers share it, and a CAS lease makes concurrent requests trigger one
// exchange. A request never blocks for it: it pauses, and resumes from the
// token callout's answer, or from a tick when another worker holds the lease.
//
// Where the token is needed:
//   - inline mode: at request headers, which stay held (paused) until the
//     token arrives and the Authorization header is set;
//   - hold and callout modes: at the end of the body, before the request
//     goes out (the body is already buffered there).

// tokenWait is a stream's GCP access token, or its wait for one.
type tokenWait struct {
	token   string   // the access token
	call    bool     // the callout in flight is a token exchange
	leased  bool     // this stream holds the token-fetch lease
	since   int64    // when the wait for another worker's exchange began
	pending *Attempt // the attempt waiting for the token (hold, callout), body copied
}

// tokenTimeoutMS bounds a token exchange well inside the lease.
const tokenTimeoutMS = 5000

// waitLimit is how long a request waits for another worker's exchange.
const waitLimit = 3 * gcpauth.LeaseSecs * time.Second

func (p *Plugin) initGCP() {
	if !slices.ContainsFunc(p.backends, (*Backend).needsToken) {
		return
	}
	p.store = p.root.SharedData() // APISIX: this VM's own, no shared data
}

func (p *Plugin) now() time.Time { return time.Unix(0, p.root.NowNanos()) }

// token makes s.gcp.token ready: true when it is, false when the stream now
// waits for a token callout or for a tick (and must return Pause).
func (s *Stream) tokenReady() bool {
	p := s.p
	tok, st := gcpauth.Lookup(p.store, s.b.token.key, p.now())
	switch {
	case st == gcpauth.Fresh:
		s.gcp.token = tok
		return true
	case st == gcpauth.Wait && p.caps.Ticks:
		s.gcp.since = p.root.NowNanos()
		p.wait(s)
		return false
	}
	// Fetch, or Wait on a host without ticks (APISIX): exchange ourselves.
	s.fetchToken(st == gcpauth.Fetch)
	return false
}

func (s *Stream) fetchToken(leased bool) {
	p := s.p
	s.gcp.leased = leased
	assertion, err := s.b.token.account.Assertion(p.now(), gcpauth.Scope)
	if err != nil {
		s.tokenFailed("cannot sign the token request: " + err.Error())
		return
	}
	scheme := s.b.token.tokenScheme
	if scheme == "" {
		scheme = "https"
	}
	cluster := providers.ClusterName(scheme, s.b.token.tokenHost)
	h := [][2]string{{":method", "POST"}, {":scheme", scheme}, {":authority", s.b.token.tokenHost}, {":path", s.b.token.tokenPath},
		{"content-type", "application/x-www-form-urlencoded"}}
	s.gcp.call = true
	if !s.h.Call(cluster, h, gcpauth.TokenRequestBody(assertion), tokenTimeoutMS) {
		s.gcp.call = false
		s.tokenFailed("the host refused the callout to " + cluster)
	}
}

// onTokenResponse handles the token exchange's answer.
func (s *Stream) onTokenResponse(status int, body []byte, ok bool) {
	s.gcp.call = false
	p := s.p
	if !ok {
		s.tokenFailed("no answer from " + s.b.token.tokenHost)
		return
	}
	tok, expiresIn, err := gcpauth.ParseTokenResponse(status, body)
	if err != nil {
		s.tokenFailed(err.Error())
		return
	}
	if s.gcp.leased {
		gcpauth.Complete(p.store, s.b.token.key, tok, gcpauth.CacheTTL(expiresIn, s.b.token.expireEarlySecs, s.b.token.maxTTL), p.now())
	}
	s.gcp.token = tok
	s.resumeWithToken()
}

func (s *Stream) tokenFailed(msg string) {
	if s.gcp.leased {
		gcpauth.Fail(s.p.store, s.b.token.key)
	}
	s.h.Activate()
	s.fail(502, "GCP access token for "+s.b.token.account.ClientEmail+" unavailable: "+msg)
	s.finish()
}

// resumeWithToken continues a request that paused for the token.
func (s *Stream) resumeWithToken() {
	s.h.Activate()
	if s.gcp.pending == nil { // paused in request headers (inline mode)
		s.writeHeaders(s.t.path, nil)
		s.h.ContinueRequest()
		if s.ai { // the body was complete: the request goes upstream now
			s.watch()
		}
		return
	}
	a := *s.gcp.pending
	s.gcp.pending = nil
	if s.mode == modeHold {
		s.releaseHeld(a)
		s.h.ContinueRequest()
		return
	}
	s.callout(a)
}

// wait parks a stream until a tick finds the token.
func (p *Plugin) wait(s *Stream) {
	p.waiting = append(p.waiting, s)
	p.syncTicks()
}

func (p *Plugin) unwait(s *Stream) {
	for i, w := range p.waiting {
		if w == s {
			p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
			break
		}
	}
	p.syncTicks()
}

// retryTokens retries the token for streams waiting on another worker's
// exchange (from OnTick).
func (p *Plugin) retryTokens() {
	for _, s := range append([]*Stream(nil), p.waiting...) {
		tok, st := gcpauth.Lookup(p.store, s.b.token.key, p.now())
		switch st {
		case gcpauth.Fresh:
			p.unwait(s)
			s.gcp.token = tok
			s.resumeWithToken()
		case gcpauth.Fetch:
			p.unwait(s)
			s.h.Activate()
			s.fetchToken(true)
		default:
			if time.Duration(p.root.NowNanos()-s.gcp.since) > waitLimit {
				p.unwait(s)
				s.h.Activate()
				s.fail(504, "timed out after "+strconv.Itoa(int(waitLimit/time.Second))+" s waiting for another worker's GCP token exchange")
				s.finish()
			}
		}
	}
}
