// Package sigv4 signs HTTP requests with AWS Signature Version 4 in the
// header form ("Authorization: AWS4-HMAC-SHA256 ..."), as Amazon Bedrock
// and every other AWS service except S3 expect it.
//
// The package does no I/O, starts no goroutines and imports only the
// standard library, so it runs inside the proxy-wasm filter.
//
// Canonicalisation follows the AWS documentation and botocore's SigV4Auth:
//   - the canonical URI is the wire path with "." and ".." segments and
//     duplicate slashes removed, then URI-encoded once more, so an encoded
//     model id "v1%3A0" is signed as "v1%253A0" (S3, which signs the path
//     as is, is not supported);
//   - the canonical query decodes each name and value, re-encodes them with
//     the strict SigV4 alphabet and sorts the encoded pairs; a '+' is a
//     literal plus (signed as %2B), not a space;
//   - header names are lower-cased, values trimmed of spaces and tabs at both
//     ends with inner runs of spaces collapsed, repeated headers joined with
//     ',' in their original order;
//   - the payload hash is the hex SHA-256 of the body, or the value of an
//     x-amz-content-sha256 header given by the caller.
package sigv4

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Credentials are the AWS credentials a request is signed with.
// SessionToken is set for temporary credentials (STS, assumed roles) and
// is then sent and signed as x-amz-security-token.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// Request is the part of an HTTP request that SigV4 covers.
type Request struct {
	Method string
	// Host is the authority the request is sent to, exactly as the upstream
	// will see it in its Host / :authority header ("host" or "host:port").
	// It must be the AWS endpoint (or VPC endpoint), not the gateway's own
	// authority: AWS answers 403 when they differ.
	Host string
	// Path is the path as sent on the request line, already percent-encoded
	// ("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse").
	Path string
	// Query is the raw query without '?', possibly empty.
	Query string
	// Headers are further headers to sign, in request order and any case.
	// Every one is signed, so each must reach AWS byte-identical: leave out
	// hop-by-hop and rewritten headers (user-agent, content-length when the
	// body may be re-chunked, ...). Headers named host, authorization,
	// x-amz-date and x-amz-security-token are ignored: Sign sets them.
	Headers [][2]string
	Body    []byte
}

// Signer signs requests for one service in one region.
//
// A Signer caches the derived signing key (it depends on the secret, the
// UTC date, the region and the service) and keeps scratch buffers, so keep
// one per configuration and reuse it. It is not safe for concurrent use;
// fields may be changed between calls.
type Signer struct {
	Credentials Credentials
	Region      string // e.g. "us-east-1"
	Service     string // signing name, "bedrock" for bedrock-runtime

	// Signing key cache: valid while all four inputs are unchanged.
	keySecret, keyDate, keyRegion, keyService string
	mac                                       *mac   // HMAC-SHA256 keyed with the signing key
	scope                                     string // credential scope

	buf  []byte   // canonical request, then string to sign
	hdrs []header // scratch for canonical headers
}

type header struct{ name, value string }

const (
	algorithm      = "AWS4-HMAC-SHA256"
	timeFormat     = "20060102T150405Z"
	emptySHA256    = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	hdrHost        = "host"
	hdrDate        = "x-amz-date"
	hdrToken       = "x-amz-security-token"
	hdrContentHash = "x-amz-content-sha256"
	hdrAuth        = "authorization"
)

// Sign signs r as of now and returns the headers to set on the request:
// authorization, x-amz-date and, with a session token,
// x-amz-security-token. Names are lower-case.
//
// Errors name the field or header to fix and never contain credentials or
// header values.
func (s *Signer) Sign(r *Request, now time.Time) ([][2]string, error) {
	sig, err := s.sign(r, now, false)
	if err != nil {
		return nil, err
	}
	out := make([][2]string, 2, 3)
	out[0] = [2]string{hdrAuth, sig.authorization}
	out[1] = [2]string{hdrDate, sig.date}
	if tok := s.Credentials.SessionToken; tok != "" {
		out = append(out, [2]string{hdrToken, tok})
	}
	return out, nil
}

// signature is the result of sign, with the intermediate strings the
// tests compare against the vectors.
type signature struct {
	date             string
	canonicalRequest string // only with keep
	stringToSign     string // only with keep
	authorization    string
}

// sign computes the signature of r; keep also returns the canonical request
// and the string to sign (for tests).
func (s *Signer) sign(r *Request, now time.Time, keep bool) (signature, error) {
	if err := s.check(r); err != nil {
		return signature{}, err
	}
	var dateBuf [len(timeFormat)]byte
	date := string(appendDate(dateBuf[:0], now))
	day := date[:8]

	// Collect the headers to sign. Sign owns host, x-amz-date and
	// x-amz-security-token; the caller's copies are dropped.
	hdrs := append(s.hdrs[:0], header{hdrHost, r.Host}, header{hdrDate, date})
	if tok := s.Credentials.SessionToken; tok != "" {
		hdrs = append(hdrs, header{hdrToken, tok})
	}
	payloadHash := ""
	for _, h := range r.Headers {
		name := strings.ToLower(h[0])
		switch name {
		case hdrHost, hdrDate, hdrToken, hdrAuth:
			continue
		case hdrContentHash:
			payloadHash = trimOWS(h[1])
		}
		hdrs = append(hdrs, header{name, h[1]})
	}
	// Stable, so that repeated headers keep their request order.
	slices.SortStableFunc(hdrs, func(a, b header) int { return strings.Compare(a.name, b.name) })
	s.hdrs = hdrs

	// Canonical request.
	b := s.buf[:0]
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendEscaped(b, normalizePath(r.Path), true)
	b = append(b, '\n')
	b = appendCanonicalQuery(b, r.Query)
	b = append(b, '\n')
	for i, h := range hdrs {
		if i > 0 && h.name == hdrs[i-1].name {
			b = append(b, ',')
		} else {
			if i > 0 {
				b = append(b, '\n')
			}
			b = append(b, h.name...)
			b = append(b, ':')
		}
		b = appendHeaderValue(b, h.value)
	}
	b = append(b, '\n', '\n')
	signedStart := len(b)
	for i, h := range hdrs {
		if i > 0 && h.name == hdrs[i-1].name {
			continue
		}
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, h.name...)
	}
	m, scope := s.signingKey(day)

	// The Authorization value, all but the signature, is written now
	// because b is reused below.
	const sigLen = 2 * 32 // hex SHA-256
	var auth strings.Builder
	auth.Grow(len(algorithm+" Credential=/, SignedHeaders=, Signature=") +
		len(s.Credentials.AccessKeyID) + len(scope) + len(b) - signedStart + sigLen)
	auth.WriteString(algorithm + " Credential=")
	auth.WriteString(s.Credentials.AccessKeyID)
	auth.WriteByte('/')
	auth.WriteString(scope)
	auth.WriteString(", SignedHeaders=")
	auth.Write(b[signedStart:])
	auth.WriteString(", Signature=")

	b = append(b, '\n')
	switch {
	case payloadHash != "":
		b = append(b, payloadHash...)
	case len(r.Body) == 0:
		b = append(b, emptySHA256...)
	default:
		sum := sum256(r.Body)
		b = hex.AppendEncode(b, sum[:])
	}
	crHash := sum256(b)
	var out signature
	if keep {
		out.canonicalRequest = string(b)
	}

	// String to sign, reusing the buffer.
	b = append(b[:0], algorithm+"\n"...)
	b = append(b, date...)
	b = append(b, '\n')
	b = append(b, scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, crHash[:])
	if keep {
		out.stringToSign = string(b)
	}
	s.buf = b
	clear(hdrs) // do not keep the caller's strings alive

	sum := m.sum(b)
	var sig [sigLen]byte
	hex.Encode(sig[:], sum[:])
	auth.Write(sig[:])

	out.date = date
	out.authorization = auth.String()
	return out, nil
}

// appendDate appends t in UTC in the x-amz-date format, timeFormat.
// time.Time.AppendFormat gives the same result but interprets its layout on
// every call, which costs a microsecond under Wasm.
func appendDate(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 { // not a date AWS accepts, but keep it well-formed
		return t.AppendFormat(b, timeFormat)
	}
	h, mi, s := t.Clock()
	return append(b,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10),
		byte('0'+mo/10), byte('0'+mo%10), byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), byte('0'+mi/10), byte('0'+mi%10), byte('0'+s/10), byte('0'+s%10), 'Z')
}

// check rejects input that would produce a malformed canonical request.
// Messages name fields and headers only, never values.
func (s *Signer) check(r *Request) error {
	switch {
	case s.Credentials.AccessKeyID == "":
		return errors.New("sigv4: Credentials.AccessKeyID is empty")
	case s.Credentials.SecretAccessKey == "":
		return errors.New("sigv4: Credentials.SecretAccessKey is empty")
	case hasLineBreak(s.Credentials.SessionToken):
		return errors.New("sigv4: Credentials.SessionToken contains a line break")
	case s.Region == "" || strings.IndexByte(s.Region, '/') >= 0 || hasLineBreak(s.Region):
		return errors.New("sigv4: Signer.Region is empty or contains '/' or a line break")
	case s.Service == "" || strings.IndexByte(s.Service, '/') >= 0 || hasLineBreak(s.Service):
		return errors.New("sigv4: Signer.Service is empty or contains '/' or a line break")
	case !isToken(r.Method):
		return errors.New("sigv4: Request.Method is empty or not an HTTP token")
	case r.Host == "" || hasLineBreak(r.Host):
		return errors.New("sigv4: Request.Host is empty or contains a line break")
	}
	for _, h := range r.Headers {
		if !isToken(h[0]) {
			return fmt.Errorf("sigv4: header name %q is not an HTTP token", h[0])
		}
		if hasLineBreak(h[1]) {
			return fmt.Errorf("sigv4: value of header %q contains a line break", h[0])
		}
	}
	return nil
}

// signingKey returns an HMAC-SHA256 keyed with the signing key for day and
// the credential scope "<day>/<region>/<service>/aws4_request", deriving
// them only when one of their inputs changed:
// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, day), region), service), "aws4_request").
func (s *Signer) signingKey(day string) (*mac, string) {
	c := &s.Credentials
	if s.mac != nil && s.keyDate == day && s.keySecret == c.SecretAccessKey &&
		s.keyRegion == s.Region && s.keyService == s.Service {
		return s.mac, s.scope
	}
	k := newMAC([]byte("AWS4" + c.SecretAccessKey)).sum([]byte(day))
	k = newMAC(k[:]).sum([]byte(s.Region))
	k = newMAC(k[:]).sum([]byte(s.Service))
	k = newMAC(k[:]).sum([]byte("aws4_request"))
	s.mac = newMAC(k[:])
	s.scope = day + "/" + s.Region + "/" + s.Service + "/aws4_request"
	s.keySecret, s.keyDate, s.keyRegion, s.keyService = c.SecretAccessKey, day, s.Region, s.Service
	return s.mac, s.scope
}

// normalizePath removes "." and ".." segments and empty segments (duplicate
// slashes) the way botocore's remove_dot_segments does, keeping a leading and
// a trailing slash; "" becomes "/". Percent-encoded dots are not segments.
// Paths that need nothing are returned as is, without allocating.
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	if !needsNormalizing(p) {
		return p
	}
	var out []string
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	if p[0] == '/' {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if p[len(p)-1] == '/' && len(out) > 0 {
		b.WriteByte('/')
	}
	return b.String()
}

func needsNormalizing(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return strings.Contains(p, "//")
}

// appendCanonicalQuery appends the canonical form of the raw query q:
// every name and value percent-decoded, re-encoded with appendEscaped, and
// the "name=value" pairs sorted by encoded name, then encoded value.
func appendCanonicalQuery(b []byte, q string) []byte {
	if q == "" {
		return b
	}
	type pair struct{ k, v string }
	var pairs []pair
	for part := range strings.SplitSeq(q, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		pairs = append(pairs, pair{
			string(appendEscaped(nil, unescape(k), false)),
			string(appendEscaped(nil, unescape(v), false)),
		})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b
}

// unescape decodes %XX sequences. A '%' not followed by two hex digits is
// kept as a literal '%' (and so signed as %25); '+' stays a '+'.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// appendEscaped appends s with every byte outside A-Z a-z 0-9 - _ . ~ (and
// '/' when keepSlash) written as %XX with upper-case hex.
func appendEscaped(b []byte, s string, keepSlash bool) []byte {
	const upperhex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (keepSlash && c == '/') {
			b = append(b, c)
		} else {
			b = append(b, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return b
}

// appendHeaderValue appends v trimmed of spaces and tabs at both ends, with
// every inner run of spaces collapsed to one.
// It appends whole runs rather than single bytes, which is several times
// faster under Wasm.
func appendHeaderValue(b []byte, v string) []byte {
	v = trimOWS(v)
	for {
		i := strings.Index(v, "  ")
		if i < 0 {
			return append(b, v...)
		}
		b = append(b, v[:i+1]...)
		v = strings.TrimLeft(v[i+1:], " ")
	}
}

// trimOWS trims spaces and tabs at both ends of v.
func trimOWS(v string) string {
	for v != "" && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for v != "" && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// tchar reports which bytes may appear in a token: visible ASCII except
// delimiters. A table, because isToken runs on every header name of every
// request and a strings.IndexByte call per byte is slow under Wasm.
var tchar = func() (t [256]bool) {
	for c := byte('!'); c < 0x7f; c++ {
		t[c] = strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) < 0
	}
	return t
}()

// hasLineBreak reports whether s contains a CR or LF.
func hasLineBreak(s string) bool {
	return strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0
}
