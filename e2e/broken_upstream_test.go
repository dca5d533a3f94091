package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/e2e/host"
)

// A converting route must never hand a broken upstream answer to its client
// as a clean 200. Where the filter can hold the response headers (Envoy with
// allow_on_headers_stop_iteration) or answers itself (APISIX callouts), the
// client gets a 502 with an error object of its protocol; where the headers
// are gone before the body is known (Envoy without the setting), the stream
// is reset, which a client tells from a complete answer.

// brokenSetup is a host and whether the plugin holds response headers.
type brokenSetup struct {
	profile host.Profile
	hold    bool // allow_on_headers_stop_iteration: true
}

func (b brokenSetup) String() string {
	if b.hold {
		return b.profile.String() + "+hold"
	}
	return b.profile.String()
}

// answers502 reports whether the client is sure to get a 502 with an error
// object, rather than a reset once the headers went out.
func (b brokenSetup) answers502() bool { return b.hold || b.profile == host.APISIX }

var brokenSetups = []brokenSetup{{host.Envoy, false}, {host.EnvoyFixed, false}, {host.EnvoyFixed, true}, {host.APISIX, false}}

// convertingRoutes are the two directions of conversion: the client's
// path and request, and what the upstream protocol is called here.
var convertingRoutes = []struct {
	name, path, request, upstream string
}{
	{"anthropic-to-openai", "/v1/messages", `{"model":"claude","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`, "openai"},
	{"openai-to-anthropic", "/v1/chat/completions", `{"model":"gpt","messages":[{"role":"user","content":"hi"}]}`, "anthropic"},
}

// convertingGateway serves both converting routes in front of upstream.
func convertingGateway(t *testing.T, setup brokenSetup, upstream string) string {
	t.Helper()
	extra := ""
	if setup.hold {
		extra = "        allow_on_headers_stop_iteration: true\n"
	}
	cfg := "routes:\n" +
		"  - id: messages\n    uri: /v1/messages\n    plugins:\n      ai-proxy:\n" +
		"        provider: openai\n        auth:\n          header:\n            Authorization: Bearer k\n" + extra +
		"  - id: chat\n    uri: /v1/chat/completions\n    plugins:\n      ai-proxy:\n" +
		"        provider: anthropic\n        auth:\n          header:\n            x-api-key: k\n" +
		"        override:\n          endpoint: https://api.anthropic.com/v1/messages\n" + extra +
		"clusters:\n  api.openai.com: " + upstream + "\n  api.anthropic.com: " + upstream + "\n"
	base, _ := startGateway(t, setup.profile, cfg)
	return base
}

// wire writes a raw HTTP/1.1 response and closes the connection: the
// upstream the test controls down to the byte.
func wire(w http.ResponseWriter, r *http.Request, raw string) {
	_, _ = io.Copy(io.Discard, r.Body)
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	_, _ = buf.WriteString(raw)
	_ = buf.Flush()
	_ = conn.Close()
}

// reply is a complete response with content-length; an empty ctype sends
// no content-type at all.
func reply(ctype, body string) string {
	h := "HTTP/1.1 200 OK\r\nConnection: close\r\n"
	if ctype != "" {
		h += "Content-Type: " + ctype + "\r\n"
	}
	return h + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// isErrorObject reports whether body is the error object of the client
// protocol on path.
func isErrorObject(path string, body []byte) bool {
	if strings.HasSuffix(path, "/messages") {
		return gjson.GetBytes(body, "type").Str == "error" && gjson.GetBytes(body, "error.message").Str != ""
	}
	return gjson.GetBytes(body, "error.message").Str != ""
}

// checkBroken asserts the client could tell the answer was broken.
func checkBroken(t *testing.T, setup brokenSetup, path string, o outcome) {
	t.Helper()
	answered := o.err == nil && o.status == 502 && isErrorObject(path, o.body)
	if setup.answers502() && !answered {
		t.Fatalf("want 502 with an error object, got %v", o)
	}
	if !answered && o.err == nil {
		t.Fatalf("want a 502 or a broken exchange, got a clean %v", o)
	}
}

// Broken 200s from the upstream on a non-streaming request.
func TestBrokenUpstreamAnswerIsNotA200(t *testing.T) {
	bodies := []struct {
		name              string
		openai, anthropic string // raw responses by upstream protocol
	}{
		{"not JSON", reply("text/html", "<html><body>upstream maintenance</body></html>"), reply("text/html", "<html><body>upstream maintenance</body></html>")},
		{"truncated JSON",
			reply("application/json", `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hel`),
			reply("application/json", `{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hel`)},
		{"empty", reply("application/json", ""), reply("application/json", "")},
		{"empty stream", reply("text/event-stream", ""), reply("text/event-stream", "")},
		{"SSE without content type",
			reply("", "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n"),
			reply("", "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"x\",\"usage\":{\"input_tokens\":1}}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")},
	}
	for _, setup := range brokenSetups {
		t.Run(setup.String(), func(t *testing.T) {
			var raw map[string]string
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v1/messages" {
					wire(w, r, raw["anthropic"])
				} else {
					wire(w, r, raw["openai"])
				}
			}))
			defer up.Close()
			base := convertingGateway(t, setup, up.URL)
			for _, b := range bodies {
				raw = map[string]string{"openai": b.openai, "anthropic": b.anthropic}
				for _, rt := range convertingRoutes {
					t.Run(b.name+"/"+rt.name, func(t *testing.T) {
						o := post(base+rt.path, rt.request)
						checkBroken(t, setup, rt.path, o)
					})
				}
			}
		})
	}
}

// An answer larger than the filter may buffer for conversion (8 MiB here,
// beyond the host's 1 MiB buffer limit) is converted or refused, never
// emptied into a clean 200.
func TestHugeUpstreamAnswer(t *testing.T) {
	text := strings.Repeat("a", 8<<20)
	openaiBody := `{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"` + text +
		`"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("content-type", "application/json")
		_, _ = io.WriteString(w, openaiBody)
	}))
	defer up.Close()
	rt := convertingRoutes[0]
	for _, setup := range brokenSetups {
		t.Run(setup.String(), func(t *testing.T) {
			o := post(convertingGateway(t, setup, up.URL)+rt.path, rt.request)
			if o.err == nil && o.status == 200 {
				if gjson.GetBytes(o.body, "content.0.text").Str != text {
					t.Fatalf("a 200 without the converted answer: %v", o)
				}
				return
			}
			checkBroken(t, setup, rt.path, o)
		})
	}
}

// An upstream that drops the connection in the middle of the body: the
// client sees the break (or a 502), not a clean answer.
func TestUpstreamDropsConnectionMidBody(t *testing.T) {
	cases := []struct {
		name, raw string
	}{
		{"json with content-length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,"},
		{"chunked stream", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
			chunk("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n")},
	}
	rt := convertingRoutes[0]
	for _, setup := range brokenSetups {
		t.Run(setup.String(), func(t *testing.T) {
			var raw string
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { wire(w, r, raw) }))
			defer up.Close()
			base := convertingGateway(t, setup, up.URL)
			for _, c := range cases {
				raw = c.raw
				t.Run(c.name, func(t *testing.T) {
					request := rt.request
					if strings.Contains(c.name, "stream") {
						request = strings.Replace(request, `{`, `{"stream":true,`, 1)
					}
					o := post(base+rt.path, request)
					if o.err != nil || o.status == 502 {
						return // a reset, or one before the headers went out
					}
					if setup.profile == host.APISIX && bytes.Contains(o.body, []byte("event: error")) {
						return // a callout's buffered stream ends with the error event
					}
					t.Fatalf("want a broken exchange or a 502, got %v", o)
				})
			}
		})
	}
}

func chunk(s string) string { return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n" }

// A converted stream whose upstream ends without its terminal event (cut
// short, or closed in the middle of an event) ends with the client
// protocol's error event, not a clean end.
func TestConvertedStreamCutShortEndsWithErrorEvent(t *testing.T) {
	openaiSSE := "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n" +
		"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n"
	anthropicSSE := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"x\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
	tails := []struct{ name, tail string }{
		{"cut between events", ""},
		{"closed mid-event", "data: {\"id\":\"c\",\"choi"},
	}
	for _, setup := range brokenSetups {
		t.Run(setup.String(), func(t *testing.T) {
			var tail string
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := openaiSSE
				if r.URL.Path == "/v1/messages" {
					body = anthropicSSE
				}
				// Framed by the connection's close: a complete HTTP
				// exchange whose stream lacks its end.
				wire(w, r, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"+body+tail)
			}))
			defer up.Close()
			base := convertingGateway(t, setup, up.URL)
			for _, tl := range tails {
				tail = tl.tail
				for _, rt := range convertingRoutes {
					t.Run(tl.name+"/"+rt.name, func(t *testing.T) {
						o := post(base+rt.path, strings.Replace(rt.request, `{`, `{"stream":true,`, 1))
						if o.err != nil || o.status != 200 {
							t.Fatalf("want the stream with an error event, got %v", o)
						}
						if !endsWithErrorEvent(rt.path, o.body) {
							t.Fatalf("stream does not end with an error event:\n%s", o.body)
						}
					})
				}
			}
		})
	}
}

// endsWithErrorEvent reports whether an SSE body's last data event (before
// an OpenAI [DONE]) is the client protocol's error object.
func endsWithErrorEvent(path string, body []byte) bool {
	var last []byte
	for _, line := range bytes.Split(body, []byte("\n")) {
		if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok && string(d) != "[DONE]" {
			last = d
		}
	}
	return json.Valid(last) && isErrorObject(path, last)
}
