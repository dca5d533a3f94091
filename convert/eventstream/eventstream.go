// Package eventstream reads and writes the AWS event-stream framing
// (Content-Type application/vnd.amazon.eventstream) that Bedrock
// ConverseStream uses for its response body.
//
// A message on the wire is
//
//	total_length u32 | headers_length u32 | prelude_crc u32   (the prelude, big-endian)
//	headers (headers_length bytes): [name_len u8][name][type u8][value]...
//	payload (total_length - headers_length - 16 bytes)
//	message_crc u32
//
// where prelude_crc is the CRC-32 (IEEE) of the first 8 bytes and
// message_crc the CRC-32 of everything before it.
//
// The package does no I/O and never panics on input: a malformed or hostile
// stream yields an error, and no length read from the wire makes it buffer
// more than MaxMessageLen bytes.
package eventstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

const (
	preludeLen = 12
	crcLen     = 4
	minLen     = preludeLen + crcLen

	// MaxMessageLen bounds the total length of one message. A prelude that
	// declares more is an error, so a hostile length cannot make the
	// Decoder buffer without limit.
	MaxMessageLen = 16 << 20
	// MaxHeadersLen bounds the headers section of one message.
	MaxHeadersLen = 128 << 10
)

// ValueType is the type tag of a header value.
type ValueType uint8

// Header value types and, in comments, the size of their value on the wire.
const (
	BoolTrue  ValueType = iota // 0 bytes
	BoolFalse                  // 0 bytes
	Byte                       // 1 byte
	Short                      // 2 bytes, big-endian
	Int                        // 4 bytes, big-endian
	Long                       // 8 bytes, big-endian
	Bytes                      // u16 length + bytes
	String                     // u16 length + UTF-8
	Timestamp                  // 8 bytes, milliseconds since the epoch
	UUID                       // 16 bytes
)

// fixedSize gives the value size of the fixed-size types, or -1 for the
// length-prefixed ones (Bytes, String).
var fixedSize = [...]int{
	BoolTrue: 0, BoolFalse: 0, Byte: 1, Short: 2, Int: 4, Long: 8,
	Bytes: -1, String: -1, Timestamp: 8, UUID: 16,
}

// Header is one message header. Value holds the value bytes without the
// type tag or length prefix (empty for the two bool types).
type Header struct {
	Name  string
	Type  ValueType
	Value []byte
}

// StringHeader returns a header of type String.
func StringHeader(name, value string) Header {
	return Header{Name: name, Type: String, Value: []byte(value)}
}

// Message is one decoded message. Slices returned by a Decoder alias its
// buffer or the chunk they came from (see Decoder.Feed).
type Message struct {
	Headers []Header
	Payload []byte
}

// Header returns the value of the first String header called name, or ""
// when there is none. The names and values Bedrock uses (":event-type",
// "contentBlockDelta", "exception", ...) are returned without allocating.
func (m *Message) Header(name string) string {
	for i := range m.Headers {
		if h := &m.Headers[i]; h.Name == name && h.Type == String {
			return intern(h.Value)
		}
	}
	return ""
}

// Decoder splits a byte stream, delivered in chunks of any size, into
// messages. The zero value is ready to use.
type Decoder struct {
	// buf[off:] is the start of a message whose bytes have not all arrived;
	// buf[:off] holds the messages returned by the last Feed.
	buf  []byte
	off  int
	msgs []Message
	hdrs []Header
	err  error
}

// Feed consumes the next chunk and returns the messages it completes, in
// order. It keeps only the bytes of an unfinished message, copying no more
// than that message's own bytes.
//
// The returned messages, and the slices inside them, are valid until the
// next call to Feed; they may alias chunk, which the caller must not change
// meanwhile.
//
// A CRC mismatch or an impossible length is an error. The messages decoded
// before it are returned with it, and the error is sticky: the stream has
// lost its framing, so every later Feed returns it again.
func (d *Decoder) Feed(chunk []byte) ([]Message, error) {
	d.msgs, d.hdrs = d.msgs[:0], d.hdrs[:0]
	if d.err != nil {
		return nil, d.err
	}
	if d.off > 0 { // the caller is done with the last call's messages
		d.buf = d.buf[:copy(d.buf, d.buf[d.off:])]
		d.off = 0
	}
	if len(d.buf) > 0 {
		// Finish the message begun in earlier chunks, then decode the rest
		// of chunk in place.
		chunk = d.fill(chunk, preludeLen)
		if len(d.buf) < preludeLen {
			return nil, nil
		}
		total, err := checkPrelude(d.buf)
		if err != nil {
			return d.fail(err)
		}
		chunk = d.fill(chunk, total)
		if len(d.buf) < total {
			return nil, nil
		}
		if err := d.decode(d.buf); err != nil {
			return d.fail(err)
		}
		d.off = len(d.buf)
	}
	for len(chunk) >= preludeLen {
		total, err := checkPrelude(chunk)
		if err != nil {
			return d.fail(err)
		}
		if len(chunk) < total {
			break
		}
		if err := d.decode(chunk[:total]); err != nil {
			return d.fail(err)
		}
		chunk = chunk[total:]
	}
	d.buf = append(d.buf, chunk...)
	return d.msgs, nil
}

// Pending reports how many bytes of an unfinished message the Decoder
// holds. At the end of a stream anything but 0 means it was cut short.
func (d *Decoder) Pending() int { return len(d.buf) - d.off }

// fill moves bytes from chunk to buf until buf holds n bytes or chunk is
// empty, and returns what is left of chunk.
func (d *Decoder) fill(chunk []byte, n int) []byte {
	take := min(max(n-len(d.buf), 0), len(chunk))
	d.buf = append(d.buf, chunk[:take]...)
	return chunk[take:]
}

func (d *Decoder) fail(err error) ([]Message, error) {
	d.err = err
	d.buf, d.off = nil, 0
	return d.msgs, err
}

// checkPrelude validates the 12-byte prelude at the start of b and returns
// the message's total length.
func checkPrelude(b []byte) (int, error) {
	total := binary.BigEndian.Uint32(b[0:4])
	hlen := binary.BigEndian.Uint32(b[4:8])
	if got, want := crc32.ChecksumIEEE(b[:8]), binary.BigEndian.Uint32(b[8:12]); got != want {
		return 0, fmt.Errorf("eventstream: prelude CRC %08x, computed %08x", want, got)
	}
	switch {
	case total < minLen:
		return 0, fmt.Errorf("eventstream: message length %d is below the minimum %d", total, minLen)
	case total > MaxMessageLen:
		return 0, fmt.Errorf("eventstream: message length %d exceeds the limit %d", total, MaxMessageLen)
	case hlen > MaxHeadersLen || hlen > total-minLen:
		return 0, fmt.Errorf("eventstream: headers length %d does not fit message length %d", hlen, total)
	}
	return int(total), nil
}

// decode appends the message in b (exactly one message whose prelude has
// been checked) to d.msgs.
func (d *Decoder) decode(b []byte) error {
	end := len(b) - crcLen
	if got, want := crc32.ChecksumIEEE(b[:end]), binary.BigEndian.Uint32(b[end:]); got != want {
		return fmt.Errorf("eventstream: message CRC %08x, computed %08x", want, got)
	}
	hend := preludeLen + int(binary.BigEndian.Uint32(b[4:8]))
	first := len(d.hdrs)
	for h := b[preludeLen:hend]; len(h) > 0; {
		var hdr Header
		var err error
		if hdr, h, err = readHeader(h); err != nil {
			return err
		}
		d.hdrs = append(d.hdrs, hdr)
	}
	d.msgs = append(d.msgs, Message{
		Headers: d.hdrs[first:len(d.hdrs):len(d.hdrs)],
		Payload: b[hend:end:end],
	})
	return nil
}

var errHeader = errors.New("eventstream: header runs past the headers section")

// readHeader reads one header from the start of h and returns the rest.
func readHeader(h []byte) (Header, []byte, error) {
	n := int(h[0])
	if n == 0 {
		return Header{}, nil, errors.New("eventstream: header with an empty name")
	}
	if len(h) < 1+n+1 {
		return Header{}, nil, errHeader
	}
	hdr := Header{Name: intern(h[1 : 1+n]), Type: ValueType(h[1+n])}
	h = h[2+n:]
	if int(hdr.Type) >= len(fixedSize) {
		return Header{}, nil, fmt.Errorf("eventstream: header %q has unknown value type %d", hdr.Name, hdr.Type)
	}
	size := fixedSize[hdr.Type]
	if size < 0 { // Bytes, String
		if len(h) < 2 {
			return Header{}, nil, errHeader
		}
		size, h = int(binary.BigEndian.Uint16(h)), h[2:]
	}
	if len(h) < size {
		return Header{}, nil, errHeader
	}
	hdr.Value = h[:size:size]
	return hdr, h[size:], nil
}

// AppendMessage appends one encoded message to dst. It fails, leaving dst
// as it was, when a header name is empty or longer than 255 bytes, a value
// does not have its type's size or is longer than 65535 bytes, or the
// message would exceed MaxHeadersLen or MaxMessageLen.
func AppendMessage(dst []byte, headers []Header, payload []byte) ([]byte, error) {
	hlen := 0
	for _, h := range headers {
		if len(h.Name) == 0 || len(h.Name) > 255 {
			return dst, fmt.Errorf("eventstream: header name %q must be 1 to 255 bytes", h.Name)
		}
		if int(h.Type) >= len(fixedSize) {
			return dst, fmt.Errorf("eventstream: header %q has unknown value type %d", h.Name, h.Type)
		}
		size := fixedSize[h.Type]
		switch {
		case size < 0 && len(h.Value) > 0xffff:
			return dst, fmt.Errorf("eventstream: header %q value is %d bytes, more than 65535", h.Name, len(h.Value))
		case size < 0:
			size = 2 + len(h.Value)
		case len(h.Value) != size:
			return dst, fmt.Errorf("eventstream: header %q of type %d needs a %d-byte value, not %d", h.Name, h.Type, size, len(h.Value))
		}
		hlen += 2 + len(h.Name) + size
	}
	total := minLen + hlen + len(payload)
	if hlen > MaxHeadersLen || total > MaxMessageLen {
		return dst, fmt.Errorf("eventstream: message of %d bytes (headers %d) exceeds the limits", total, hlen)
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(hlen))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
	for _, h := range headers {
		dst = append(dst, byte(len(h.Name)))
		dst = append(dst, h.Name...)
		dst = append(dst, byte(h.Type))
		if fixedSize[h.Type] < 0 {
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(h.Value)))
		}
		dst = append(dst, h.Value...)
	}
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:])), nil
}

// intern returns b as a string, without allocating for the header names
// and values Bedrock sends (the compiler does not allocate for a switch on
// string(b)).
func intern(b []byte) string {
	switch string(b) {
	case ":event-type":
		return ":event-type"
	case ":content-type":
		return ":content-type"
	case ":message-type":
		return ":message-type"
	case ":exception-type":
		return ":exception-type"
	case ":error-code":
		return ":error-code"
	case ":error-message":
		return ":error-message"
	case "application/json":
		return "application/json"
	case "event":
		return "event"
	case "exception":
		return "exception"
	case "error":
		return "error"
	case "messageStart":
		return "messageStart"
	case "contentBlockStart":
		return "contentBlockStart"
	case "contentBlockDelta":
		return "contentBlockDelta"
	case "contentBlockStop":
		return "contentBlockStop"
	case "messageStop":
		return "messageStop"
	case "metadata":
		return "metadata"
	}
	return string(b)
}
