package envoy

import (
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
)

// DNS is a minimal DNS server on loopback UDP for Envoy's c-ares resolver:
// it answers A queries for the names it knows, an empty answer for other
// types of a known name (so AAAA lookups fall back to A), and NXDOMAIN for
// everything else. Message format: RFC 1035 section 4.
type DNS struct {
	conn *net.UDPConn

	mu      sync.Mutex
	names   map[string]net.IP // lower-case name without the final dot, "*.suffix" for wildcards
	queries map[string]int    // "name type" → count, for tests
}

// ListenDNS starts a DNS server on ip:0 (UDP).
func ListenDNS(ip net.IP) (*DNS, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		return nil, err
	}
	d := &DNS{conn: conn, names: map[string]net.IP{}, queries: map[string]int{}}
	go d.serve()
	return d, nil
}

// Addr is the server's UDP address.
func (d *DNS) Addr() *net.UDPAddr { return d.conn.LocalAddr().(*net.UDPAddr) }

// Close stops the server.
func (d *DNS) Close() error { return d.conn.Close() }

// Set makes name (or every name one label below suffix, for "*.suffix")
// resolve to ip.
func (d *DNS) Set(name string, ip net.IP) {
	d.mu.Lock()
	d.names[strings.ToLower(strings.TrimSuffix(name, "."))] = ip.To4()
	d.mu.Unlock()
}

// Queries reports how many queries of type typ ("A", "AAAA", or the
// number) asked for name.
func (d *DNS) Queries(name, typ string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[strings.ToLower(name)+" "+typ]
}

func (d *DNS) lookup(name string) (net.IP, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ip, ok := d.names[name]; ok {
		return ip, true
	}
	if _, rest, ok := strings.Cut(name, "."); ok {
		ip, ok := d.names["*."+rest]
		return ip, ok
	}
	return nil, false
}

func (d *DNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		if resp, err := d.answer(buf[:n]); err == nil {
			d.conn.WriteToUDP(resp, from)
		}
	}
}

const (
	typeA    = 1
	typeAAAA = 28
	classIN  = 1

	rcodeFormErr  = 1
	rcodeNXDomain = 3
	rcodeNotImp   = 4
)

var typeNames = map[uint16]string{typeA: "A", typeAAAA: "AAAA"}

// answer builds the response to one query message. Only the question is
// read; additional records (the EDNS OPT record c-ares may add) are ignored
// and not echoed.
func (d *DNS) answer(q []byte) ([]byte, error) {
	if len(q) < 12 {
		return nil, errors.New("dns: short message")
	}
	id, flags := q[0:2], binary.BigEndian.Uint16(q[2:4])
	if flags&0x8000 != 0 {
		return nil, errors.New("dns: not a query")
	}
	resp := append([]byte(nil), id...)
	// QR=1, opcode copied, AA=1, RD copied, RA=1.
	rflags := uint16(0x8000) | flags&0x7800 | 0x0400 | flags&0x0100 | 0x0080
	if binary.BigEndian.Uint16(q[4:6]) != 1 || flags&0x7800 != 0 {
		rflags |= rcodeNotImp
		resp = binary.BigEndian.AppendUint16(resp, rflags)
		return append(resp, 0, 0, 0, 0, 0, 0, 0, 0), nil
	}
	name, end, err := readName(q, 12)
	if err != nil || end+4 > len(q) {
		rflags |= rcodeFormErr
		resp = binary.BigEndian.AppendUint16(resp, rflags)
		return append(resp, 0, 0, 0, 0, 0, 0, 0, 0), nil
	}
	qtype, qclass := binary.BigEndian.Uint16(q[end:]), binary.BigEndian.Uint16(q[end+2:])
	question := q[12 : end+4]
	typ, ok := typeNames[qtype]
	if !ok {
		typ = strconv.Itoa(int(qtype))
	}
	d.mu.Lock()
	d.queries[name+" "+typ]++
	d.mu.Unlock()

	ip, known := d.lookup(name)
	var ancount uint16
	if known && qtype == typeA && qclass == classIN {
		ancount = 1
	}
	if !known {
		rflags |= rcodeNXDomain
	}
	resp = binary.BigEndian.AppendUint16(resp, rflags)
	resp = binary.BigEndian.AppendUint16(resp, 1) // QDCOUNT
	resp = binary.BigEndian.AppendUint16(resp, ancount)
	resp = append(resp, 0, 0, 0, 0) // NSCOUNT, ARCOUNT
	resp = append(resp, question...)
	if ancount == 1 {
		resp = append(resp, 0xc0, 12) // pointer to the question's name
		resp = binary.BigEndian.AppendUint16(resp, typeA)
		resp = binary.BigEndian.AppendUint16(resp, classIN)
		resp = binary.BigEndian.AppendUint32(resp, 30) // TTL seconds
		resp = binary.BigEndian.AppendUint16(resp, 4)
		resp = append(resp, ip...)
	}
	return resp, nil
}

// readName reads an uncompressed name at off (queries carry no pointers)
// and returns it lower-cased without the final dot, and the offset after it.
func readName(msg []byte, off int) (string, int, error) {
	var b strings.Builder
	for {
		if off >= len(msg) {
			return "", 0, errors.New("dns: name past the end")
		}
		l := int(msg[off])
		off++
		if l == 0 {
			return strings.ToLower(b.String()), off, nil
		}
		if l > 63 || off+l > len(msg) {
			return "", 0, errors.New("dns: bad label")
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write(msg[off : off+l])
		off += l
	}
}
