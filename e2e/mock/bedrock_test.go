package mock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/tidwall/gjson"
)

const fixtures = "testdata"

// The encoder reproduces every fixture body byte for byte, and the decoder
// reads every fixture back into the documented frames.
func TestEventStreamFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "bedrock", "*.frames.json"))
	if len(files) == 0 {
		t.Fatal("no bedrock frame fixtures found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			meta, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			bin, err := os.ReadFile(strings.TrimSuffix(f, ".frames.json") + ".bin")
			if err != nil {
				t.Fatal(err)
			}
			if b64, _ := base64.StdEncoding.DecodeString(gjson.GetBytes(meta, "base64").String()); !bytes.Equal(b64, bin) {
				t.Fatal("fixture .bin and .frames.json base64 disagree")
			}
			var want []Frame
			for _, fr := range gjson.GetBytes(meta, "frames").Array() {
				var f Frame
				fr.Get("headers").ForEach(func(k, v gjson.Result) bool { // keeps wire order
					f.Headers = append(f.Headers, Header{k.String(), v.String()})
					return true
				})
				f.Payload = []byte(fr.Get("payload_raw").String())
				if got := len(AppendFrame(nil, f)); got != int(fr.Get("frame_length").Int()) {
					t.Errorf("frame length %d, want %d", got, fr.Get("frame_length").Int())
				}
				want = append(want, f)
			}
			var enc []byte
			for _, f := range want {
				enc = AppendFrame(enc, f)
			}
			if !bytes.Equal(enc, bin) {
				t.Errorf("encoded %d bytes differ from the fixture's %d", len(enc), len(bin))
			}
			got, err := DecodeFrames(bin)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
				t.Errorf("decoded %q\nwant %q", got, want)
			}
		})
	}
}

func TestDecodeFramesRejectsDamage(t *testing.T) {
	frame := AppendFrame(nil, Frame{Headers: []Header{{":event-type", "messageStart"}}, Payload: []byte(`{"role":"assistant"}`)})
	damage := func(i int) []byte { b := bytes.Clone(frame); b[i] ^= 1; return b }
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"prelude crc", damage(2), "prelude CRC"},
		{"message crc", damage(len(frame) - 6), "message CRC"},
		{"truncated frame", frame[:len(frame)-1], "claims"},
		{"truncated prelude", append(bytes.Clone(frame), frame[:10]...), "truncated prelude"},
	}
	for _, tc := range tests {
		if _, err := DecodeFrames(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

const converseTools = `"toolConfig":{"tools":[{"toolSpec":{"name":"top_song","inputSchema":{"json":{"type":"object","properties":{"sign":{"type":"string"}},"required":["sign"]}}}}]}`

func TestBedrockConverse(t *testing.T) {
	tests := []struct {
		name, body string
		opts       []Option
		want       map[string]string
	}{
		{"text", `{"system":[{"text":"Be brief."}],"messages":[{"role":"user","content":[{"text":"Hello there"}]}]}`, nil, map[string]string{
			"output.message.role": "assistant", "output.message.content.0.text": "You said: Hello there",
			"stopReason": "end_turn", "usage.inputTokens": "4", "usage.outputTokens": "4", "usage.totalTokens": "8",
			"usage.cacheReadInputTokens": "", "metrics.latencyMs": "42",
		}},
		{"max tokens", `{"messages":[{"role":"user","content":[{"text":"a b"}]}],"inferenceConfig":{"maxTokens":2}}`, nil,
			map[string]string{"output.message.content.0.text": "You said:", "stopReason": "max_tokens"}},
		{"tool use", `{"messages":[{"role":"user","content":[{"text":"weather on WZPZ"}]}],` + converseTools + `}`, nil, map[string]string{
			"stopReason": "tool_use", "output.message.content.0.toolUse.name": "top_song",
			"output.message.content.0.toolUse.toolUseId": "tooluse_mock_1_0", "output.message.content.0.toolUse.input.sign": "mock",
		}},
		{"tool result", `{"messages":[{"role":"user","content":[{"text":"weather"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"top_song","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"text":"Elemental Hotel"}]}}]}],` + converseTools + `}`, nil,
			map[string]string{"output.message.content.0.text": "Tool returned: Elemental Hotel", "stopReason": "end_turn"}},
		{"cached tokens", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, []Option{WithCachedTokens(10)},
			map[string]string{"usage.inputTokens": "1", "usage.cacheReadInputTokens": "10", "usage.totalTokens": "14"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewBedrock(tc.opts...)
			defer s.Close()
			resp, body := post(t, s.URL+"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", tc.body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Amzn-Requestid") == "" {
				t.Fatalf("status %d %v: %s", resp.StatusCode, resp.Header, body)
			}
			for path, want := range tc.want {
				if got := gjson.GetBytes(body, path).String(); got != want {
					t.Errorf("%s = %q, want %q", path, got, want)
				}
			}
			if got := s.Last().Model; got != "anthropic.claude-3-5-sonnet-20240620-v1:0" {
				t.Errorf("recorded model %q", got)
			}
		})
	}
}

func TestBedrockValidation(t *testing.T) {
	tests := []struct{ name, body, msg string }{
		{"no messages", `{"messages":[]}`, "greater than or equal to 1"},
		{"assistant first", `{"messages":[{"role":"assistant","content":[{"text":"x"}]}]}`, "must start with a user message"},
		{"not alternating", `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"user","content":[{"text":"b"}]}]}`, "must alternate"},
		{"bad role", `{"messages":[{"role":"system","content":[{"text":"a"}]}]}`, "enum value set"},
		{"empty content", `{"messages":[{"role":"user","content":[]}]}`, "is empty"},
		{"blank text", `{"messages":[{"role":"user","content":[{"text":"  "}]}]}`, "is blank"},
		{"openai-style block", `{"messages":[{"role":"user","content":[{"type":"text","text":"a"}]}]}`, "exactly one of"},
		{"two members", `{"messages":[{"role":"user","content":[{"text":"a","image":{}}]}]}`, "exactly one of"},
		{"tools without toolConfig", `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"n","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"text":"r"}]}}]}]}`, "toolConfig field must be defined"},
	}
	s := NewBedrock()
	defer s.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, s.URL+"/model/m/converse", tc.body)
			if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "ValidationException:") {
				t.Fatalf("status %d type %q: %s", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), body)
			}
			if msg := gjson.GetBytes(body, "message").String(); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q, want it to contain %q", msg, tc.msg)
			}
		})
	}
	resp, _ := post(t, s.URL+"/model/m/invoke", `{}`)
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "UnknownOperationException") {
		t.Errorf("invoke: %d %q", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"))
	}
}

func TestBedrockConverseStream(t *testing.T) {
	tests := []struct {
		name, body string
		opts       []Option
		events     []string
		text, json string
		stop       string
	}{
		{"text", `{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}`, nil,
			[]string{"messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"},
			"You said: Hello", "", "end_turn"},
		{"tool use, fragmented", `{"messages":[{"role":"user","content":[{"text":"weather"}]}],` + converseTools + `}`, []Option{WithFragmentedStream()},
			[]string{"messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"},
			"", `{"sign":"mock"}`, "tool_use"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewBedrock(tc.opts...)
			defer s.Close()
			resp, body := post(t, s.URL+"/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream", tc.body)
			if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.amazon.eventstream" {
				t.Errorf("Content-Type = %q", ct)
			}
			frames, err := DecodeFrames(body)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			var text, js strings.Builder
			stop := ""
			for _, f := range frames {
				if f.Get(":message-type") != "event" || f.Get(":content-type") != "application/json" {
					t.Errorf("headers %v", f.Headers)
				}
				names = append(names, f.Get(":event-type"))
				p := gjson.ParseBytes(f.Payload)
				text.WriteString(p.Get("delta.text").String())
				js.WriteString(p.Get("delta.toolUse.input").String())
				if s := p.Get("stopReason"); s.Exists() {
					stop = s.String()
				}
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.events) {
				t.Errorf("events %v\nwant %v", names, tc.events)
			}
			if text.String() != tc.text || js.String() != tc.json || stop != tc.stop {
				t.Errorf("text %q json %q stop %q, want %q %q %q", text.String(), js.String(), stop, tc.text, tc.json, tc.stop)
			}
			if u := gjson.GetBytes(frames[len(frames)-1].Payload, "usage.totalTokens"); !u.Exists() {
				t.Errorf("metadata lacks usage: %s", frames[len(frames)-1].Payload)
			}
		})
	}
}

func TestBedrockStreamException(t *testing.T) {
	s := NewBedrock(WithStreamError(2))
	defer s.Close()
	_, body := post(t, s.URL+"/model/m/converse-stream", `{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}`)
	frames, err := DecodeFrames(body)
	if err != nil {
		t.Fatal(err)
	}
	last := frames[len(frames)-1]
	if len(frames) != 3 || last.Get(":message-type") != "exception" || last.Get(":exception-type") != "modelStreamErrorException" {
		t.Errorf("frames %q", frames)
	}
}

type sigv4Vector struct {
	Name, Method, Host, Path, Body, Region string
	Headers                                [][2]string
	AccessKeyID                            string `json:"access_key_id"`
	SecretAccessKey                        string `json:"secret_access_key"`
	SessionToken                           string `json:"session_token"`
	Group                                  string
	ModelID                                string `json:"model_id"`
	Expected                               struct{ Authorization string }
}

func bedrockVectors(t *testing.T) []sigv4Vector {
	raw, err := os.ReadFile(filepath.Join(fixtures, "sigv4", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all struct{ Vectors []sigv4Vector }
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var out []sigv4Vector
	for _, v := range all.Vectors {
		if v.Group == "bedrock" {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		t.Fatal("no bedrock vectors")
	}
	return out
}

// replay sends the vector's request (optionally altered) to s.
func replay(t *testing.T, s *Server, v sigv4Vector, body string, authz string) (*http.Response, []byte) {
	headers := []string{"Authorization", authz}
	for _, h := range v.Headers {
		headers = append(headers, h[0], h[1])
	}
	return post(t, s.URL+v.Path, body, headers...)
}

// The published Bedrock SigV4 vectors (botocore-signed) must pass full
// verification, and any change to what was signed must fail it.
func TestBedrockSigV4Vectors(t *testing.T) {
	for _, v := range bedrockVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			s := NewBedrock(WithSigV4(AWSCredentials{v.AccessKeyID, v.SecretAccessKey, v.SessionToken, v.Region}))
			defer s.Close()
			if resp, body := replay(t, s, v, v.Body, v.Expected.Authorization); resp.StatusCode != 200 {
				t.Fatalf("signed request rejected: %d %s", resp.StatusCode, body)
			}
			if got := s.Last().Model; got != v.ModelID {
				t.Errorf("model %q, want %q", got, v.ModelID)
			}
			tampered := strings.Replace(v.Body, `"text":"`, `"text":"x`, 1)
			resp, body := replay(t, s, v, tampered, v.Expected.Authorization)
			if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), "InvalidSignatureException:") {
				t.Errorf("tampered body accepted: %d %s", resp.StatusCode, body)
			}
			other := NewBedrock(WithSigV4(AWSCredentials{v.AccessKeyID, "wrong-secret", v.SessionToken, v.Region}))
			defer other.Close()
			if resp, body := replay(t, other, v, v.Body, v.Expected.Authorization); resp.StatusCode != 403 {
				t.Errorf("wrong secret accepted: %d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestBedrockSigV4Shape(t *testing.T) {
	v := bedrockVectors(t)[0] // content-type;host;x-amz-date, us-east-1, 20250115
	const good = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250115/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00"
	tests := []struct {
		name, authz string
		creds       AWSCredentials
		status      int
		errType     string
	}{
		{"shape only passes", good, AWSCredentials{AccessKeyID: "AKIDEXAMPLE", Region: "us-east-1"}, 200, ""},
		{"missing", "", AWSCredentials{AccessKeyID: "AKIDEXAMPLE"}, 403, "MissingAuthenticationTokenException"},
		{"not sigv4", "Bearer x", AWSCredentials{AccessKeyID: "AKIDEXAMPLE"}, 403, "IncompleteSignatureException"},
		{"other key", good, AWSCredentials{AccessKeyID: "AKIDOTHER"}, 403, "UnrecognizedClientException"},
		{"other region", good, AWSCredentials{AccessKeyID: "AKIDEXAMPLE", Region: "eu-west-1"}, 403, "InvalidSignatureException"},
		{"other service", strings.Replace(good, "/bedrock/", "/bedrock-runtime/", 1), AWSCredentials{AccessKeyID: "AKIDEXAMPLE"}, 403, "InvalidSignatureException"},
		{"date mismatch", strings.Replace(good, "/20250115/", "/20250116/", 1), AWSCredentials{AccessKeyID: "AKIDEXAMPLE"}, 403, "InvalidSignatureException"},
		{"host unsigned", strings.Replace(good, "content-type;host;", "content-type;", 1), AWSCredentials{AccessKeyID: "AKIDEXAMPLE"}, 403, "InvalidSignatureException"},
		{"session token missing", good, AWSCredentials{AccessKeyID: "AKIDEXAMPLE", SessionToken: "tok"}, 403, "UnrecognizedClientException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewBedrock(WithSigV4(tc.creds))
			defer s.Close()
			resp, body := replay(t, s, v, v.Body, tc.authz)
			if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("X-Amzn-Errortype"), tc.errType) {
				t.Errorf("got %d %q %s, want %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), body, tc.status, tc.errType)
			}
		})
	}
}

// A request signed now by aws-sdk-go-v2, on both wire forms of a model id,
// with a session token, passes full verification.
func TestBedrockSigV4LiveSigner(t *testing.T) {
	creds := AWSCredentials{"AKIDLIVE", "live-secret", "live-token", "us-west-2"}
	s := NewBedrock(WithSigV4(creds))
	defer s.Close()
	for _, path := range []string{"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse-stream"} {
		body := `{"messages":[{"role":"user","content":[{"text":"signed"}]}]}`
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
		req.Host = "bedrock-runtime.us-west-2.amazonaws.com"
		req.Header.Set("Content-Type", "application/json")
		sum := sha256.Sum256([]byte(body))
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken},
			req, hex.EncodeToString(sum[:]), "bedrock", creds.Region, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, got)
		}
	}
}

func TestBedrockAPIKey(t *testing.T) {
	s := NewBedrock(WithAPIKey("bedrock-key"))
	defer s.Close()
	const body = `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`
	if resp, got := post(t, s.URL+"/model/m/converse", body, "Authorization", "Bearer bedrock-key"); resp.StatusCode != 200 {
		t.Errorf("valid key: %d %s", resp.StatusCode, got)
	}
	if resp, _ := post(t, s.URL+"/model/m/converse", body, "Authorization", "Bearer other"); resp.StatusCode != 403 {
		t.Errorf("wrong key: %d", resp.StatusCode)
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	f := Frame{Headers: []Header{{":event-type", "contentBlockDelta"}, {":content-type", "application/json"}, {":message-type", "event"}},
		Payload: []byte(`{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdefghijklmnopqrst"}`)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], f)
	}
}
