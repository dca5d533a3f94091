// Package sse reads and writes Server-Sent Events (text/event-stream) over
// bytes, incrementally.
//
// The Parser accepts a stream cut at arbitrary byte positions (the way a proxy
// receives it) and reports each complete event once. It keeps only the
// unfinished tail between calls, so in the steady state it does not
// allocate, and an event that lies whole inside one chunk and has a single
// data line is reported without copying: its slices point into that chunk.
//
// It follows the WHATWG event-stream grammar (html.spec.whatwg.org,
// "Parsing an event stream") with these deliberate differences, which suit a
// proxy that must observe everything the upstream sent:
//   - an event is delivered when it has a data or an event field, even when
//     its data is empty (a browser drops empty-data events);
//   - Flush delivers a final event that was not terminated by a blank line
//     (a browser drops it);
//   - a leading byte-order mark is not stripped (no LLM provider sends one).
package sse

import "bytes"

// Event is one dispatched event. Its slices are only valid during the
// callback that receives it: they point into the caller's chunk or into the
// Parser's buffers, which the next Feed reuses. Copy what must outlive it.
type Event struct {
	Name []byte // value of the last "event:" field; nil when absent
	Data []byte // "data:" field values joined with '\n'; empty when absent
	ID   []byte // value of the last "id:" field; nil when absent
}

// Parser is an incremental event-stream parser. The zero value is ready to
// use. A Parser is not safe for concurrent use.
type Parser struct {
	// Fields of the event being assembled. They alias the current chunk,
	// the line buffer or the owned buffers below; owned* say which.
	name, data, id       []byte
	nameOwned, dataOwned bool
	idOwned              bool
	hasData, pending     bool

	// Owned storage, reused across events so the steady state does not
	// allocate.
	nameBuf, dataBuf, idBuf []byte

	line    []byte // an unterminated line carried over from the last chunk
	skipLF  bool   // the last chunk ended with '\r': drop a leading '\n'
	lineBuf []byte // storage for line
}

// Feed parses chunk and calls fn for every event it completes, in order.
// fn must not retain the Event's slices (see Event). Feed keeps no reference
// to chunk after it returns.
func (p *Parser) Feed(chunk []byte, fn func(Event)) {
	if p.skipLF && len(chunk) > 0 {
		p.skipLF = false
		if chunk[0] == '\n' {
			chunk = chunk[1:]
		}
	}
	rest := chunk
	// Lone '\r' line endings are legal but rare: one scan per chunk lets
	// the common case look for '\n' only.
	hasCR := bytes.IndexByte(chunk, '\r') >= 0
	noLF := false // no '\n' remains in rest: stop looking for one
	for len(rest) > 0 {
		end, next := -1, -1
		if !noLF {
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				end, next = i, i+1
			} else {
				noLF = true
			}
		}
		if hasCR {
			// A '\r' ends a line too; look for one before the '\n'.
			scope := rest
			if end >= 0 {
				scope = rest[:end]
			}
			if i := bytes.IndexByte(scope, '\r'); i >= 0 {
				end, next = i, i+1
				if next < len(rest) && rest[next] == '\n' {
					next++
				} else if next == len(rest) {
					p.skipLF = true // a '\n' may start the next chunk
				}
			}
		}
		if end < 0 {
			break
		}
		line := rest[:end]
		if len(p.line) > 0 {
			p.lineBuf = append(p.line, line...)
			p.line = nil
			line = p.lineBuf
		}
		p.processLine(line, fn)
		rest = rest[next:]
	}
	// Keep what must survive this chunk: the unterminated line and the
	// fields of the unfinished event, which may alias chunk or lineBuf.
	p.own()
	if len(rest) > 0 {
		if len(p.line) > 0 {
			p.lineBuf = append(p.line, rest...)
		} else {
			p.lineBuf = append(p.lineBuf[:0], rest...)
		}
		p.line = p.lineBuf
	}
}

// Flush ends the stream: it treats an unterminated last line as complete and
// delivers the event in progress, if any. The Parser is then reset and can
// read a new stream.
func (p *Parser) Flush(fn func(Event)) {
	if len(p.line) > 0 {
		line := p.line
		p.line = nil
		p.processLine(line, fn)
	}
	p.dispatch(fn)
	p.skipLF = false
}

// Reset discards any partial input, keeping buffers for reuse.
func (p *Parser) Reset() {
	p.clearEvent()
	p.line = nil
	p.skipLF = false
}

func (p *Parser) processLine(line []byte, fn func(Event)) {
	if len(line) == 0 {
		p.dispatch(fn)
		return
	}
	if line[0] == ':' {
		return // comment, e.g. ": keepalive"
	}
	field, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	// Compare bytes directly: string comparisons cost a runtime call per
	// line in Wasm.
	switch {
	case len(field) == 4 && field[0] == 'd' && field[1] == 'a' && field[2] == 't' && field[3] == 'a':
		if !p.hasData {
			p.data, p.dataOwned, p.hasData = value, false, true
		} else {
			if !p.dataOwned {
				p.dataBuf = append(p.dataBuf[:0], p.data...)
				p.dataOwned = true
			}
			p.dataBuf = append(append(p.dataBuf, '\n'), value...)
			p.data = p.dataBuf
		}
		p.pending = true
	case len(field) == 5 && field[0] == 'e' && field[1] == 'v' && field[2] == 'e' && field[3] == 'n' && field[4] == 't':
		p.name, p.nameOwned, p.pending = value, false, true
	case len(field) == 2 && field[0] == 'i' && field[1] == 'd':
		if bytes.IndexByte(value, 0) < 0 {
			p.id, p.idOwned = value, false
		}
	}
}

func (p *Parser) dispatch(fn func(Event)) {
	if p.pending {
		ev := Event{Name: p.name, Data: p.data, ID: p.id}
		if ev.Data == nil {
			ev.Data = p.dataBuf[:0]
		}
		p.clearEvent()
		fn(ev)
		return
	}
	p.clearEvent()
}

func (p *Parser) clearEvent() {
	p.name, p.data, p.id = nil, nil, nil
	p.nameOwned, p.dataOwned, p.idOwned = false, false, false
	p.hasData, p.pending = false, false
}

// own copies the fields of the event in progress into the Parser's buffers.
func (p *Parser) own() {
	if p.name != nil && !p.nameOwned {
		p.nameBuf = append(p.nameBuf[:0], p.name...)
		p.name, p.nameOwned = p.nameBuf, true
	}
	if p.hasData && !p.dataOwned {
		p.dataBuf = append(p.dataBuf[:0], p.data...)
		p.data, p.dataOwned = p.dataBuf, true
	}
	if p.id != nil && !p.idOwned {
		p.idBuf = append(p.idBuf[:0], p.id...)
		p.id, p.idOwned = p.idBuf, true
	}
}

// AppendEvent appends one event to dst and returns the extended buffer. An
// empty name writes no "event:" line. data is split on '\n' (and "\r\n")
// into several "data:" lines, so any bytes round-trip through a Parser.
func AppendEvent(dst []byte, name string, data []byte) []byte {
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := data[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		dst = appendDataLine(dst, line)
		data = data[i+1:]
	}
	dst = appendDataLine(dst, data)
	return append(dst, '\n')
}

func appendDataLine(dst, line []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, line...)
	return append(dst, '\n')
}
