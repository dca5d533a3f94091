package eventstream

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// The fixtures are Bedrock ConverseStream bodies, each with a .frames.json
// that lists its frames (headers in wire order, raw payload) as decoded by
// aws-sdk-go-v2.
const fixtures = "../testdata/bedrock"

// frame is a decoded message copied out of the Decoder's buffers.
type frame struct {
	headers []Header
	payload string
}

func (f frame) String() string {
	var b strings.Builder
	for _, h := range f.headers {
		b.WriteString(h.Name + "=" + string(h.Value) + " ")
	}
	return b.String() + f.payload
}

type fixture struct {
	name   string
	body   []byte
	frames []frame
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	bins, err := filepath.Glob(filepath.Join(fixtures, "*.bin"))
	if err != nil || len(bins) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixtures, err)
	}
	var out []fixture
	for _, bin := range bins {
		body, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		js, err := os.ReadFile(strings.TrimSuffix(bin, ".bin") + ".frames.json")
		if err != nil {
			t.Fatal(err)
		}
		fx := fixture{name: filepath.Base(bin), body: body}
		gjson.GetBytes(js, "frames").ForEach(func(_, f gjson.Result) bool {
			var fr frame
			f.Get("headers").ForEach(func(k, v gjson.Result) bool { // wire order
				fr.headers = append(fr.headers, StringHeader(k.Str, v.Str))
				return true
			})
			fr.payload = f.Get("payload_raw").Str
			fx.frames = append(fx.frames, fr)
			return true
		})
		if len(fx.frames) == 0 {
			t.Fatalf("%s: no frames", fx.name)
		}
		out = append(out, fx)
	}
	return out
}

// decodeChunks feeds chunks to a fresh Decoder and copies out every message.
func decodeChunks(chunks ...[]byte) ([]frame, *Decoder, error) {
	var d Decoder
	var out []frame
	for _, c := range chunks {
		msgs, err := d.Feed(c)
		for _, m := range msgs {
			fr := frame{payload: string(m.Payload)}
			for _, h := range m.Headers {
				fr.headers = append(fr.headers, Header{Name: h.Name, Type: h.Type, Value: bytes.Clone(h.Value)})
			}
			out = append(out, fr)
		}
		if err != nil {
			return out, &d, err
		}
	}
	return out, &d, nil
}

func sameFrames(t *testing.T, what string, got, want []frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d frames, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].String() != want[i].String() {
			t.Fatalf("%s: frame %d\n got %s\nwant %s", what, i, got[i], want[i])
		}
		for j, h := range got[i].headers {
			if h.Type != String {
				t.Fatalf("%s: frame %d header %d has type %d, want String", what, i, j, h.Type)
			}
		}
	}
}

func TestDecodeFixturesAtEverySplit(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			got, d, err := decodeChunks(fx.body)
			if err != nil {
				t.Fatal(err)
			}
			sameFrames(t, "one chunk", got, fx.frames)
			if d.Pending() != 0 {
				t.Fatalf("Pending() = %d after a whole body", d.Pending())
			}

			for i := 0; i <= len(fx.body); i++ {
				for _, j := range []int{i, min(i+1, len(fx.body)), min(i+200, len(fx.body))} {
					got, d, err := decodeChunks(fx.body[:i], fx.body[i:j], fx.body[j:])
					if err != nil {
						t.Fatalf("split at %d,%d: %v", i, j, err)
					}
					sameFrames(t, "split", got, fx.frames)
					if d.Pending() != 0 {
						t.Fatalf("split at %d,%d: Pending() = %d", i, j, d.Pending())
					}
				}
			}

			var chunks [][]byte
			for i := range fx.body {
				chunks = append(chunks, fx.body[i:i+1])
			}
			got, _, err = decodeChunks(chunks...)
			if err != nil {
				t.Fatal(err)
			}
			sameFrames(t, "byte by byte", got, fx.frames)
		})
	}
}

func TestAppendMessageReproducesFixtures(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		var out []byte
		for _, fr := range fx.frames {
			var err error
			if out, err = AppendMessage(out, fr.headers, []byte(fr.payload)); err != nil {
				t.Fatalf("%s: %v", fx.name, err)
			}
		}
		if !bytes.Equal(out, fx.body) {
			t.Errorf("%s: encoded %d bytes differ from the fixture's %d", fx.name, len(out), len(fx.body))
		}
	}
}

// rawMessage builds a message with the given prelude lengths and body
// (headers+payload) and valid CRCs, so that only the lengths are wrong.
func rawMessage(total, hlen uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, total)
	b = binary.BigEndian.AppendUint32(b, hlen)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func TestDecodeRejectsCorruptInput(t *testing.T) {
	good, _ := AppendMessage(nil, []Header{StringHeader(":event-type", "messageStart")}, []byte(`{"role":"assistant"}`))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	header := func(h ...byte) []byte { return rawMessage(uint32(minLen+len(h)), uint32(len(h)), h) }
	tests := []struct {
		name, body, wantErr string
	}{
		{"prelude CRC", string(flip(9)), "prelude CRC"},
		{"length changed under the prelude CRC", string(flip(2)), "prelude CRC"},
		{"payload byte", string(flip(len(good) - 6)), "message CRC"},
		{"message CRC", string(flip(len(good) - 1)), "message CRC"},
		{"total below minimum", string(rawMessage(15, 0, nil)), "below the minimum"},
		{"hostile total", string(rawMessage(0xffffffff, 0, nil)), "exceeds the limit"},
		{"total just over the limit", string(rawMessage(MaxMessageLen+1, 0, nil)), "exceeds the limit"},
		{"headers longer than message", string(rawMessage(20, 5, []byte("abcd"))), "does not fit"},
		{"hostile headers length", string(rawMessage(20, 0xfffffff0, []byte("abcd"))), "does not fit"},
		{"header name past end", string(header(5, 'a', 'b')), "runs past"},
		{"header without type", string(header(1, 'a')), "runs past"},
		{"string length past end", string(header(1, 'a', 7, 0, 9, 'x')), "runs past"},
		{"string without length", string(header(1, 'a', 7, 0)), "runs past"},
		{"uuid too short", string(header(1, 'a', 9, 1, 2, 3)), "runs past"},
		{"unknown value type", string(header(1, 'a', 10)), "unknown value type 10"},
		{"empty header name", string(header(0, 7, 0, 0)), "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// After a good message, in one chunk and split before the bad one.
			body := append(bytes.Clone(good), tt.body...)
			for _, chunks := range [][][]byte{{body}, {body[:len(good)+3], body[len(good)+3:]}} {
				var d Decoder
				var n int
				var err error
				for _, c := range chunks {
					var msgs []Message
					msgs, err = d.Feed(c)
					n += len(msgs)
					if err != nil {
						break
					}
				}
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				if n != 1 {
					t.Fatalf("decoded %d messages before the error, want 1", n)
				}
				if _, again := d.Feed(good); again != err {
					t.Fatalf("error is not sticky: got %v after %v", again, err)
				}
			}
		})
	}
}

func TestHeaderValueTypes(t *testing.T) {
	headers := []Header{
		{Name: "t", Type: BoolTrue},
		{Name: "f", Type: BoolFalse},
		{Name: "b", Type: Byte, Value: []byte{0xff}},
		{Name: "s", Type: Short, Value: []byte{1, 2}},
		{Name: "i", Type: Int, Value: []byte{1, 2, 3, 4}},
		{Name: "l", Type: Long, Value: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{Name: "bytes", Type: Bytes, Value: []byte{0, 1, 2}},
		{Name: "str", Type: String, Value: []byte("hello")},
		{Name: "ts", Type: Timestamp, Value: []byte{0, 0, 1, 0x8c, 0, 0, 0, 0}},
		{Name: "uuid", Type: UUID, Value: bytes.Repeat([]byte{0xab}, 16)},
		{Name: ":event-type", Type: String, Value: []byte("metadata")},
	}
	msg, err := AppendMessage(nil, headers, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var d Decoder
	msgs, err := d.Feed(msg)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Feed: %d messages, %v", len(msgs), err)
	}
	m := msgs[0]
	if len(m.Headers) != len(headers) {
		t.Fatalf("%d headers, want %d", len(m.Headers), len(headers))
	}
	for i, want := range headers {
		got := m.Headers[i]
		if got.Name != want.Name || got.Type != want.Type || !bytes.Equal(got.Value, want.Value) {
			t.Errorf("header %d = %+v, want %+v", i, got, want)
		}
	}
	for name, want := range map[string]string{"str": "hello", ":event-type": "metadata", "bytes": "", "i": "", "missing": ""} {
		if got := m.Header(name); got != want {
			t.Errorf("Header(%q) = %q, want %q", name, got, want)
		}
	}
	if string(m.Payload) != "{}" {
		t.Errorf("payload %q", m.Payload)
	}
	if n := testing.AllocsPerRun(10, func() { _ = m.Header(":event-type") }); n != 0 {
		t.Errorf("Header(:event-type) allocates %v times", n)
	}
}

func TestAppendMessageRejectsInvalidHeaders(t *testing.T) {
	tests := []struct {
		name string
		h    Header
	}{
		{"empty name", Header{Type: String}},
		{"long name", Header{Name: strings.Repeat("n", 256), Type: String}},
		{"unknown type", Header{Name: "x", Type: 10}},
		{"int of 3 bytes", Header{Name: "x", Type: Int, Value: []byte{1, 2, 3}}},
		{"bool with a value", Header{Name: "x", Type: BoolTrue, Value: []byte{1}}},
		{"string over 65535", Header{Name: "x", Type: String, Value: make([]byte, 65536)}},
	}
	for _, tt := range tests {
		dst := []byte("keep")
		got, err := AppendMessage(dst, []Header{tt.h}, nil)
		if err == nil || string(got) != "keep" {
			t.Errorf("%s: err = %v, dst = %q; want an error and dst unchanged", tt.name, err, got)
		}
	}
	if _, err := AppendMessage(nil, nil, make([]byte, MaxMessageLen)); err == nil {
		t.Error("oversized payload: no error")
	}
}

func TestPendingReportsACutStream(t *testing.T) {
	body, _ := os.ReadFile(filepath.Join(fixtures, "converse-stream-text.bin"))
	var d Decoder
	if _, err := d.Feed(body[:len(body)-7]); err != nil {
		t.Fatal(err)
	}
	if d.Pending() == 0 {
		t.Fatal("Pending() = 0 with a message cut short")
	}
	msgs, err := d.Feed(body[len(body)-7:])
	if err != nil || len(msgs) != 1 || d.Pending() != 0 {
		t.Fatalf("after the rest: %d messages, Pending %d, err %v", len(msgs), d.Pending(), err)
	}
	if got := msgs[0].Header(":event-type"); got != "metadata" {
		t.Fatalf("last message %q, want metadata", got)
	}
}

// FuzzDecoder checks that no input makes the Decoder panic, that a split
// never changes what it decodes, and that what it decodes re-encodes to the
// bytes it came from. `go test` runs it over the seed corpus.
func FuzzDecoder(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.body, uint16(100))
		f.Add(fx.body[:len(fx.body)/2], uint16(13))
	}
	f.Add(rawMessage(0xffffffff, 0, nil), uint16(3))
	f.Add(rawMessage(20, 4, []byte{1, 'a', 7, 0}), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		s := int(split) % (len(data) + 1)
		// Random bytes rarely get past the CRCs; also try data as the
		// headers and payload of a message with valid lengths and CRCs.
		if split&1 == 0 {
			data = rawMessage(uint32(minLen+len(data)), uint32(s), data)
		}
		s = int(split) % (len(data) + 1)
		whole, d1, err1 := decodeChunks(data)
		parts, d2, err2 := decodeChunks(data[:s], data[s:])
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("one chunk: %v; split at %d: %v", err1, s, err2)
		}
		if err1 != nil {
			return
		}
		sameFrames(t, "split", parts, whole)
		if d1.Pending() != d2.Pending() {
			t.Fatalf("Pending %d vs %d", d1.Pending(), d2.Pending())
		}
		var enc []byte
		for _, fr := range whole {
			var err error
			if enc, err = AppendMessage(enc, fr.headers, []byte(fr.payload)); err != nil {
				t.Fatalf("re-encoding a decoded message: %v", err)
			}
		}
		if !bytes.Equal(enc, data[:len(data)-d1.Pending()]) {
			t.Fatal("decoded messages do not re-encode to their bytes")
		}
	})
}

func BenchmarkEventStreamDecode(b *testing.B) {
	body, err := os.ReadFile(filepath.Join(fixtures, "converse-stream-tool-use.bin"))
	if err != nil {
		b.Fatal(err)
	}
	var d Decoder
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		// Two chunks that split a message, as HTTP bodies do.
		m1, _ := d.Feed(body[:len(body)/2])
		m2, err := d.Feed(body[len(body)/2:])
		if err != nil || len(m1)+len(m2) != 10 {
			b.Fatalf("%d messages, %v", len(m1)+len(m2), err)
		}
	}
}
