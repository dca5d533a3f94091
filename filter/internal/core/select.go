package core

import (
	"net/url"
	"strconv"
	"strings"
)

// instanceProperty is the access-log property naming the instance a
// request went to. APISIX keeps the name in ctx.picked_ai_instance_name
// (and ctx.balancer_ip, which its $balancer_ip variable reads) without a
// variable of its own
// (https://github.com/apache/apisix/blob/master/apisix/plugins/ai-proxy-multi.lua),
// so the filter names it like its other llm_* properties.
const instanceProperty = "llm_instance"

// pickInstance chooses the instance of an ai-proxy-multi request, or
// answers (and returns false): 404 when no instance serves the request's
// model, 503 when every instance that could is excluded.
func (s *Stream) pickInstance() bool {
	p := s.p
	key := ""
	if p.bal.chash {
		key = s.hashKey(p.multi, s.headers)
	}
	i, ok := p.bal.pick(key, s.exclusion())
	switch {
	case ok:
	case p.models == nil || p.servedBySome(s.reqModel):
		s.fail(503, "no instance of ai-proxy-multi is available")
		return false
	case s.reqModel == "":
		s.fail(400, "request names no \"model\", and this route picks its instance by the model it serves; send \"model\"")
		return false
	default:
		s.failCode(404, "model_not_found", "no instance of ai-proxy-multi serves model "+strconv.Quote(s.reqModel))
		return false
	}
	s.b, s.inst = p.backends[i], i
	s.h.SetProperty(instanceProperty, p.names[i])
	return true
}

// hashKey is the consistent-hash key of a request, read from its headers
// as balancer.hash_on and balancer.key say. A missing value hashes as "".
func (s *Stream) hashKey(mc *MultiConfig, headers [][2]string) string {
	switch mc.HashOn {
	case "header":
		return header(headers, strings.ToLower(mc.Key))
	case "cookie":
		return cookie(headers, mc.Key)
	case "consumer":
		return header(headers, mc.ConsumerHeader)
	case "vars_combinations":
		var b strings.Builder
		key := mc.Key
		for {
			i := strings.IndexByte(key, '$')
			if i < 0 {
				b.WriteString(key)
				return b.String()
			}
			b.WriteString(key[:i])
			j := i + 1
			for j < len(key) && isVarChar(key[j]) {
				j++
			}
			b.WriteString(s.variable(headers, key[i+1:j]))
			key = key[j:]
		}
	}
	return s.variable(headers, mc.Key)
}

// variable reads one of the APISIX variables supportedVar accepts from
// the request's headers or, for the client address, from the host.
func (s *Stream) variable(headers [][2]string, name string) string {
	switch name {
	case "remote_addr":
		ip, _ := splitAddress(s.clientAddress())
		return ip
	case "remote_port":
		_, port := splitAddress(s.clientAddress())
		return port
	case "uri":
		path, _, _ := strings.Cut(header(headers, ":path"), "?")
		return path
	case "request_uri":
		return header(headers, ":path")
	case "host":
		return header(headers, ":authority")
	}
	if arg, ok := strings.CutPrefix(name, "arg_"); ok {
		_, query, _ := strings.Cut(header(headers, ":path"), "?")
		values, _ := url.ParseQuery(query)
		return values.Get(arg)
	}
	if h, ok := strings.CutPrefix(name, "http_"); ok {
		return header(headers, strings.ReplaceAll(strings.ToLower(h), "_", "-"))
	}
	if c, ok := strings.CutPrefix(name, "cookie_"); ok {
		return cookie(headers, c)
	}
	return ""
}

// clientAddress is the host's Host.ClientAddress, asked at most once per
// request, and only by a variable that needs it.
func (s *Stream) clientAddress() string {
	if !s.addrRead {
		s.addr, s.addrRead = s.h.ClientAddress(), true
	}
	return s.addr
}

// splitAddress splits "ip:port", "[ip]:port" for IPv6 as Envoy writes it,
// into the ip ($remote_addr) and the port ($remote_port). An address
// without a port, such as a Unix socket's path, is all ip.
func splitAddress(addr string) (ip, port string) {
	if rest, ok := strings.CutPrefix(addr, "["); ok {
		ip, port, _ = strings.Cut(rest, "]")
		return ip, strings.TrimPrefix(port, ":")
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 || strings.IndexByte(addr[:i], ':') >= 0 { // no port, or IPv6 without brackets
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}

func header(headers [][2]string, name string) string {
	for _, kv := range headers {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

func cookie(headers [][2]string, name string) string {
	for _, kv := range headers {
		if kv[0] != "cookie" {
			continue
		}
		for rest := kv[1]; rest != ""; {
			var part string
			part, rest, _ = strings.Cut(rest, ";")
			if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok && k == name {
				return v
			}
		}
	}
	return ""
}
