package host

import (
	"cmp"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"time"
)

// envoyProperty is Context::getProperty (docs/proxy-wasm-abi.md#properties,
// docs/host-behaviours.md#properties-and-filter-state): path segments are NUL-separated; the
// first names a CEL attribute (request, response, source, destination,
// connection, filter_state) or plugin_name / plugin_root_id /
// plugin_vm_id / connection_id, else the filter-state object
// "wasm.<name>". Strings come back raw, integers as 8 little-endian bytes,
// maps as serialized pairs. Attributes Envoy derives from headers are
// absent once the headers left the filter, except in proxy_on_log.
func (vm *VM) envoyProperty(path string) ([]byte, uint32) {
	segs := strings.Split(strings.TrimSuffix(path, "\x00"), "\x00")
	c := vm.effective()
	if c == nil || path == "" {
		return nil, stNotFound
	}
	s := c.s
	var v any
	switch top := segs[0]; top {
	case "plugin_name":
		v = vm.cfg.PluginName
	case "plugin_root_id":
		v = vm.cfg.RootID
	case "plugin_vm_id":
		v = vm.cfg.VMID
	default:
		if s == nil {
			return nil, stNotFound
		}
		switch top {
		case "connection_id":
			v = uint64(s.id)
		case "request", "response", "source", "destination", "connection", "upstream", "xds",
			"metadata", "filter_state", "node", "listener_direction", "listener_metadata",
			"cluster_name", "cluster_metadata", "route_name", "route_metadata", "upstream_host_metadata":
			v = s.celAttribute(top)
		default:
			if fs, ok := s.filterState["wasm."+top]; ok {
				v = fs
			}
		}
	}
	for _, seg := range segs[1:] {
		switch m := v.(type) {
		case func(string) any:
			v = m(seg)
		case headerMap:
			// CEL header maps join repeated values with ",".
			var vals []string
			key := lower(seg)
			for _, kv := range m {
				if kv[0] == key {
					vals = append(vals, kv[1])
				}
			}
			if vals == nil {
				return nil, stNotFound
			}
			v = strings.Join(vals, ",")
		default:
			return nil, stNotFound
		}
		if v == nil {
			return nil, stNotFound
		}
	}
	switch x := v.(type) {
	case nil:
		return nil, stNotFound
	case string:
		return []byte(x), stOK
	case int64:
		return binary.LittleEndian.AppendUint64(nil, uint64(x)), stOK
	case uint64:
		return binary.LittleEndian.AppendUint64(nil, x), stOK
	case bool:
		return []byte{byte(b2u(x))}, stOK
	case headerMap:
		return appendPairs(nil, x), stOK
	}
	return nil, stSerializationFailure
}

// celAttribute returns an attribute group as a lookup function (nil for
// groups this harness does not model: xds, metadata, node ...).
func (s *stream) celAttribute(name string) any {
	reqH := func() headerMap {
		if s.reqHOpen || s.accessLog {
			return s.reqH
		}
		return nil
	}
	respH := func() headerMap {
		if s.respHOpen || s.accessLog {
			return s.respH
		}
		return nil
	}
	hdr := func(h headerMap, k string) any {
		if v, ok := h.get(k); ok {
			return v
		}
		return nil
	}
	switch name {
	case "request":
		return func(k string) any {
			h := reqH()
			if hk, ok := celRequestHeaders[k]; ok {
				return hdr(h, hk)
			}
			switch k {
			case "url_path", "query":
				p, ok := hdr(h, ":path").(string)
				if !ok {
					return nil
				}
				path, query, _ := strings.Cut(p, "?")
				if k == "query" {
					return query
				}
				return path
			case "headers":
				if h == nil {
					return nil
				}
				return h
			case "time":
				return s.start.UnixNano()
			case "duration":
				return int64(time.Since(s.start))
			case "protocol":
				return "HTTP/1.1"
			case "size":
				return int64(len(s.forwarded))
			}
			return nil
		}
	case "response":
		return func(k string) any {
			switch k {
			case "code":
				if s.upstreamHeaders || s.sendingLocal || s.headersSent {
					if code, err := strconv.Atoi(headerValue(s.respH, ":status")); err == nil {
						return int64(code)
					}
				}
				return nil
			case "code_details":
				if s.resp.Details != "" {
					return s.resp.Details
				}
				if s.upstreamHeaders {
					return "via_upstream"
				}
				return nil
			case "headers":
				if h := respH(); h != nil {
					return h
				}
				return nil
			case "flags":
				return int64(0)
			case "size":
				return int64(len(s.resp.Body))
			}
			return nil
		}
	case "source":
		return addrAttr(envoyRemoteAddr(s.req))
	case "destination":
		return addrAttr("127.0.0.1:10000")
	case "connection":
		return func(k string) any {
			switch k {
			case "id":
				return uint64(s.id)
			case "mtls":
				return false
			}
			return nil
		}
	case "filter_state":
		return func(k string) any {
			if v, ok := s.filterState[k]; ok {
				return v
			}
			return nil
		}
	}
	return nil
}

// celRequestHeaders are the request attributes Envoy reads from headers.
var celRequestHeaders = map[string]string{
	"path": ":path", "host": ":authority", "scheme": ":scheme", "method": ":method",
	"referer": "referer", "useragent": "user-agent", "id": "x-request-id",
}

// envoyRemoteAddr is the downstream remote address (the source
// attribute) as Envoy's HTTP connection manager sets it by default
// (use_remote_address false, xff_num_trusted_hops 0): the last address of
// X-Forwarded-For, port 0, when that is an IP, else the connection's peer
// (https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-for).
// A client can thus choose it unless Envoy is configured to trust only
// the connection.
func envoyRemoteAddr(req *Request) string {
	peer := cmp.Or(req.RemoteAddr, "127.0.0.1:50000")
	xff, ok := Get(req.Header, "x-forwarded-for")
	if !ok {
		return peer
	}
	ip := net.ParseIP(strings.TrimSpace(xff[strings.LastIndexByte(xff, ',')+1:]))
	if ip == nil {
		return peer
	}
	return net.JoinHostPort(ip.String(), "0")
}

func addrAttr(addr string) func(string) any {
	return func(k string) any {
		switch k {
		case "address":
			return addr
		case "port":
			_, p, err := net.SplitHostPort(addr)
			if n, err2 := strconv.ParseInt(p, 10, 64); err == nil && err2 == nil {
				return n
			}
		}
		return nil
	}
}
