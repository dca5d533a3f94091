package mock

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/tidwall/gjson"
)

// AWSCredentials configures SigV4 checking on the Bedrock mock.
type AWSCredentials struct {
	AccessKeyID string
	// SecretAccessKey, when set, makes the mock recompute the signature with
	// aws-sdk-go-v2's signer and reject any mismatch. Without it only the
	// shape of the Authorization header is checked.
	SecretAccessKey string
	// SessionToken, when set, must arrive as X-Amz-Security-Token.
	SessionToken string
	// Region, when set, must be the credential scope's region.
	Region string
}

// WithSigV4 makes the Bedrock mock require AWS SigV4 auth: an Authorization
// header "AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/bedrock/aws4_request,
// SignedHeaders=…, Signature=…" whose date matches X-Amz-Date and whose signed
// headers include host and x-amz-date. The signature is verified against the
// request as received (its Host header, escaped path, query and body).
func WithSigV4(c AWSCredentials) Option { return func(cfg *config) { cfg.aws = &c } }

// NewBedrock starts a Bedrock runtime: POST /model/{modelId}/converse and
// /model/{modelId}/converse-stream. Auth failures are 403s with the AWS error
// type in x-amzn-ErrorType, like AWS. Requests must satisfy the Converse rules
// that bite: at least one message, the first from the user, roles
// alternating, every content block holding exactly one known member, no blank
// text, and toolConfig present when messages carry toolUse or toolResult.
func NewBedrock(opts ...Option) *Server {
	return newServer(opts, func(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
		model, op, ok := bedrockPath(r)
		if !ok || r.Method != http.MethodPost || (op != "converse" && op != "converse-stream") {
			bedrockError(w, http.StatusNotFound, "UnknownOperationException", "The requested operation is not recognized by the service.")
			return
		}
		if typ, msg := s.bedrockAuth(r, body); typ != "" {
			bedrockError(w, http.StatusForbidden, typ, msg)
			return
		}
		if s.gate(w, r, bedrockError) {
			s.converse(w, r, body, model, op == "converse-stream")
		}
	})
}

// bedrockPath splits /model/{modelId}/{op}, unescaping the model id.
func bedrockPath(r *http.Request) (model, op string, ok bool) {
	parts := strings.Split(r.URL.EscapedPath(), "/")
	if len(parts) != 4 || parts[0] != "" || parts[1] != "model" {
		return "", "", false
	}
	model, err := url.PathUnescape(parts[2])
	return model, parts[3], err == nil && model != ""
}

var bedrockErrorTypes = map[int]string{400: "ValidationException", 403: "AccessDeniedException",
	404: "ResourceNotFoundException", 408: "ModelTimeoutException", 424: "ModelErrorException",
	429: "ThrottlingException", 500: "InternalServerException", 503: "ServiceUnavailableException"}

func bedrockError(w http.ResponseWriter, status int, typ, msg string) {
	if typ == "" {
		typ = bedrockErrorTypes[status]
	}
	if typ == "" {
		typ = "InternalServerException"
	}
	w.Header().Set("X-Amzn-Errortype", typ+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.Header().Set("X-Amzn-Requestid", "00000000-0000-4000-8000-000000000000")
	writeJSON(w, status, obj{"message": msg})
}

// bedrockAuth returns the AWS error type and message for a request that
// fails the configured auth, or "" when it passes.
func (s *Server) bedrockAuth(r *http.Request, body []byte) (string, string) {
	authz := r.Header.Get("Authorization")
	if s.cfg.apiKey != "" && authz != "Bearer "+s.cfg.apiKey {
		return "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	if s.checkKeys(r) != "" {
		return "AccessDeniedException", "Access denied."
	}
	c := s.cfg.aws
	if c == nil {
		return "", ""
	}
	if authz == "" {
		return "MissingAuthenticationTokenException", "Missing Authentication Token"
	}
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(authz, algo) {
		return "IncompleteSignatureException", "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."
	}
	fields := map[string]string{}
	for _, f := range strings.Split(authz[len(algo):], ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	signed := strings.Split(fields["SignedHeaders"], ";")
	date := r.Header.Get("X-Amz-Date")
	switch {
	case len(scope) != 5 || fields["Signature"] == "" || fields["SignedHeaders"] == "":
		return "IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."
	case len(date) != 16:
		return "IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
	case scope[0] != c.AccessKeyID:
		return "UnrecognizedClientException", "The security token included in the request is invalid."
	case scope[1] != date[:8]:
		return "InvalidSignatureException", fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", scope[1], date[:8], date)
	case c.Region != "" && scope[2] != c.Region:
		return "InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", scope[2])
	case scope[3] != "bedrock" || scope[4] != "aws4_request":
		return "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'."
	case !contains(signed, "host") || !contains(signed, "x-amz-date"):
		return "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. 'Host' and 'X-Amz-Date' must be signed."
	case c.SessionToken != "" && r.Header.Get("X-Amz-Security-Token") != c.SessionToken:
		return "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	if c.SecretAccessKey != "" {
		if err := verifySigV4(r, body, *c, fields, signed, scope[2], date); err != nil {
			return "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details. (" + err.Error() + ")"
		}
	}
	return "", ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// verifySigV4 re-signs a copy of r holding only the headers the client
// signed and compares the result.
func verifySigV4(r *http.Request, body []byte, c AWSCredentials, fields map[string]string, signed []string, region, date string) error {
	t, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		return err
	}
	cp, err := http.NewRequest(r.Method, "http://"+r.Host+r.RequestURI, nil)
	if err != nil {
		return err
	}
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
	for _, h := range signed {
		switch h {
		case "host":
		case "content-length":
			cp.ContentLength = int64(len(body))
		case "x-amz-security-token":
			creds.SessionToken = r.Header.Get(h)
		default:
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hash, "bedrock", region, t); err != nil {
		return err
	}
	want := cp.Header.Get("Authorization")
	if got := want[strings.LastIndex(want, "Signature=")+len("Signature="):]; got != fields["Signature"] {
		return errors.New("expected signature " + got)
	}
	return nil
}

var converseMembers = map[string]bool{"text": true, "image": true, "document": true, "video": true, "audio": true,
	"toolUse": true, "toolResult": true, "guardContent": true, "cachePoint": true, "reasoningContent": true,
	"citationsContent": true, "searchResult": true}

// validateConverse returns the ValidationException message for req, or "".
func validateConverse(req gjson.Result) string {
	msgs := req.Get("messages").Array()
	if len(msgs) == 0 {
		return "1 validation error detected: Value at 'messages' failed to satisfy constraint: Member must have length greater than or equal to 1"
	}
	usesTools := false
	for i, m := range msgs {
		role := m.Get("role").String()
		switch {
		case role != "user" && role != "assistant":
			return fmt.Sprintf("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]", role, i+1)
		case i == 0 && role != "user":
			return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
		case i > 0 && role == msgs[i-1].Get("role").String():
			return "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
		}
		blocks := m.Get("content").Array()
		if len(blocks) == 0 {
			return fmt.Sprintf("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		for j, b := range blocks {
			keys := 0
			ok := b.IsObject()
			b.ForEach(func(k, _ gjson.Result) bool {
				keys++
				ok = ok && converseMembers[k.String()]
				return true
			})
			if !ok || keys != 1 {
				return fmt.Sprintf("Malformed input request: messages.%d.content.%d must contain exactly one of: text, image, document, video, audio, toolUse, toolResult, guardContent, cachePoint, reasoningContent, citationsContent, searchResult. Reformat your input and try again.", i, j)
			}
			if t := b.Get("text"); t.Exists() && strings.TrimSpace(t.String()) == "" {
				return fmt.Sprintf("The text field in the ContentBlock object at messages.%d.content.%d is blank. Add text to the text field, and try again.", i, j)
			}
			usesTools = usesTools || b.Get("toolUse").Exists() || b.Get("toolResult").Exists()
		}
	}
	if usesTools && !req.Get("toolConfig").Exists() {
		return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
	}
	return ""
}

func (s *Server) converse(w http.ResponseWriter, r *http.Request, body []byte, model string, stream bool) {
	if !gjson.ValidBytes(body) {
		bedrockError(w, http.StatusBadRequest, "SerializationException", "Unexpected content in request body.")
		return
	}
	req := gjson.ParseBytes(body)
	if msg := validateConverse(req); msg != "" {
		bedrockError(w, http.StatusBadRequest, "ValidationException", msg)
		return
	}
	msgs := req.Get("messages").Array()
	p := prompt{words: wordsOf(req.Get("system"), req.Get("messages")), maxTokens: int(req.Get("inferenceConfig.maxTokens").Int())}
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := msgs[i]; m.Get("role").String() == "user" {
			p.last, p.toolResult = textOf(m.Get("content")), len(m.Get("content.#.toolResult").Array()) > 0
			break
		}
	}
	for _, t := range req.Get("toolConfig.tools").Array() {
		if spec := t.Get("toolSpec"); spec.Exists() {
			p.tools = append(p.tools, tool{spec.Get("name").String(), spec.Get("inputSchema.json")})
		}
	}
	switch tc := req.Get("toolConfig.toolChoice"); {
	case tc.Get("any").Exists():
		p.choice = "any"
	case tc.Get("tool").Exists():
		p.choice = tc.Get("tool.name").String()
	}
	n := s.next()
	b := bedrockReply{n: n, a: s.answer(p)}
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("00000000-0000-4000-8000-%012d", n))
	if !stream {
		writeJSON(w, http.StatusOK, obj{
			"output":     obj{"message": obj{"role": "assistant", "content": b.content()}},
			"stopReason": b.stopReason(), "usage": b.usage(), "metrics": obj{"latencyMs": 42},
		})
		return
	}
	errFrame := AppendFrame(nil, Frame{Headers: []Header{
		{":exception-type", "modelStreamErrorException"}, {":content-type", "application/json"}, {":message-type", "exception"},
	}, Payload: mustJSON(obj{"message": "Model produced invalid sequence as part of ToolUse. Please refer to the model tool use troubleshooting guide.", "originalStatusCode": 400, "originalMessage": "Model produced invalid sequence as part of ToolUse."})})
	s.stream(w, r, "application/vnd.amazon.eventstream", b.frames(s), errFrame)
}

type bedrockReply struct {
	n int64
	a answer
}

func (b bedrockReply) toolID(i int) string { return fmt.Sprintf("tooluse_mock_%d_%d", b.n, i) }

func (b bedrockReply) stopReason() string {
	return [...]string{stopEnd: "end_turn", stopLength: "max_tokens", stopTool: "tool_use"}[b.a.stop]
}

func (b bedrockReply) usage() obj {
	u := obj{"inputTokens": b.a.in, "outputTokens": b.a.out, "totalTokens": b.a.in + b.a.cached + b.a.out}
	if b.a.cached > 0 {
		u["cacheReadInputTokens"], u["cacheWriteInputTokens"] = b.a.cached, 0
	}
	return u
}

func (b bedrockReply) content() []obj {
	var content []obj
	if b.a.text != "" {
		content = append(content, obj{"text": b.a.text})
	}
	for i, c := range b.a.calls {
		content = append(content, obj{"toolUse": obj{"toolUseId": b.toolID(i), "name": c.name, "input": json.RawMessage(c.args)}})
	}
	return content
}

// frames renders ConverseStream like AWS: messageStart, text deltas (text
// blocks get no start event), toolUse blocks with start and input fragments,
// messageStop, metadata. Payloads carry the "p" padding field real streams
// have.
func (b bedrockReply) frames(s *Server) [][]byte {
	var ev [][]byte
	add := func(typ string, payload obj) {
		payload["p"] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[:len(ev)*7%52]
		ev = append(ev, AppendFrame(nil, Frame{Headers: []Header{
			{":event-type", typ}, {":content-type", "application/json"}, {":message-type", "event"},
		}, Payload: mustJSON(payload)}))
	}
	add("messageStart", obj{"role": "assistant"})
	block := 0
	if b.a.text != "" {
		for _, p := range s.pieces(b.a.text) {
			add("contentBlockDelta", obj{"contentBlockIndex": block, "delta": obj{"text": p}})
		}
		add("contentBlockStop", obj{"contentBlockIndex": block})
		block++
	}
	for i, c := range b.a.calls {
		add("contentBlockStart", obj{"contentBlockIndex": block, "start": obj{"toolUse": obj{"toolUseId": b.toolID(i), "name": c.name}}})
		for _, frag := range argPieces(c.args) {
			add("contentBlockDelta", obj{"contentBlockIndex": block, "delta": obj{"toolUse": obj{"input": frag}}})
		}
		add("contentBlockStop", obj{"contentBlockIndex": block})
		block++
	}
	add("messageStop", obj{"stopReason": b.stopReason()})
	add("metadata", obj{"usage": b.usage(), "metrics": obj{"latencyMs": 42}})
	return ev
}

// Header is one event-stream header; only string values (type 7) are used.
type Header struct{ Name, Value string }

// Frame is one application/vnd.amazon.eventstream message.
type Frame struct {
	Headers []Header
	Payload []byte
}

// Get returns the value of header name, or "".
func (f Frame) Get(name string) string {
	for _, h := range f.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// AppendFrame appends f encoded as an event-stream message: prelude
// (total length, headers length, CRC32 of those 8 bytes), headers, payload,
// CRC32 of everything before it. All integers are big-endian.
func AppendFrame(dst []byte, f Frame) []byte {
	hlen := 0
	for _, h := range f.Headers {
		hlen += 1 + len(h.Name) + 1 + 2 + len(h.Value)
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(12+hlen+len(f.Payload)+4))
	dst = binary.BigEndian.AppendUint32(dst, uint32(hlen))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
	for _, h := range f.Headers {
		dst = append(dst, byte(len(h.Name)))
		dst = append(dst, h.Name...)
		dst = append(dst, 7)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.Value)))
		dst = append(dst, h.Value...)
	}
	dst = append(dst, f.Payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// DecodeFrames decodes a whole event-stream body, checking both CRCs. It
// accepts string (7) and byte-array (6) header values only, which is all
// Bedrock sends, and fails on a truncated final frame.
func DecodeFrames(b []byte) ([]Frame, error) {
	var frames []Frame
	for off := 0; off < len(b); {
		if len(b)-off < 16 {
			return frames, fmt.Errorf("eventstream: truncated prelude at byte %d", off)
		}
		m := b[off:]
		total, hlen := int(binary.BigEndian.Uint32(m)), int(binary.BigEndian.Uint32(m[4:]))
		if crc32.ChecksumIEEE(m[:8]) != binary.BigEndian.Uint32(m[8:]) {
			return frames, fmt.Errorf("eventstream: prelude CRC mismatch at byte %d", off)
		}
		if total < 16+hlen || total > len(m) {
			return frames, fmt.Errorf("eventstream: frame at byte %d claims %d bytes, %d available", off, total, len(m))
		}
		m = m[:total]
		if crc32.ChecksumIEEE(m[:total-4]) != binary.BigEndian.Uint32(m[total-4:]) {
			return frames, fmt.Errorf("eventstream: message CRC mismatch at byte %d", off)
		}
		var f Frame
		for h := m[12 : 12+hlen]; len(h) > 0; {
			n := int(h[0])
			if len(h) < 1+n+3 || (h[1+n] != 7 && h[1+n] != 6) {
				return frames, fmt.Errorf("eventstream: bad or unsupported header in frame at byte %d", off)
			}
			name, vlen := string(h[1:1+n]), int(binary.BigEndian.Uint16(h[2+n:]))
			if len(h) < 4+n+vlen {
				return frames, fmt.Errorf("eventstream: header %q overruns frame at byte %d", name, off)
			}
			f.Headers = append(f.Headers, Header{name, string(h[4+n : 4+n+vlen])})
			h = h[4+n+vlen:]
		}
		f.Payload = m[12+hlen : total-4]
		frames = append(frames, f)
		off += total
	}
	return frames, nil
}
