// Command abiecho is a scriptable proxy-wasm test guest for the host
// harness. Its plugin configuration is a script, one command per line:
//
//	<callback> <command> [args...]
//
// where callback is vm_start, configure, request_headers, request_body,
// response_headers, response_body, log, done, delete, tick, call_response
// or queue_ready. Every command logs "<callback>: <command> <args> ->
// <status> [<result>]" at info level, so tests read results from the logs.
// "return N" sets the callback's result; "if_eos" / "if_not_eos" prefix a
// command to run it only when end_of_stream is (not) set. Property paths
// use "/" between segments ("prop request/path"); "~" in a value is a
// space. An empty script makes every callback a no-op that makes no host
// call.
package main

import (
	"encoding/binary"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

func main() {}

type command []string

type script map[string][]command

var (
	roots     = map[uint32]script{} // root id → script
	parents   = map[uint32]uint32{} // context id → root id
	callOwner = map[uint32]uint32{} // callout id → dispatching context
	metricIDs = map[string]uint32{} // metric name → id
	queues    = map[string]uint32{} // queue name → token
	curCall   uint32                // context that dispatched the callout being answered
	bodySize  int32
	nHeaders  int32
	endStream bool
)

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) *byte {
	b := make([]byte, size)
	if size == 0 {
		return nil
	}
	return &b[0]
}

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {
	if parent == 0 {
		parents[id] = id
		roots[id] = nil
		return
	}
	parents[id] = parent
}

//go:wasmexport proxy_on_vm_start
func onVMStart(id uint32, size int32) bool {
	var raw *byte
	var n int32
	st := proxyGetBufferBytes(6, 0, size, unsafe.Pointer(&raw), &n)
	logf("vm_start: vm_config -> %d %s", st, string(bytesOf(raw, n)))
	return string(bytesOf(raw, n)) != "fail"
}

//go:wasmexport proxy_on_configure
func onConfigure(id uint32, size int32) bool {
	var raw *byte
	var n int32
	if size > 0 {
		if st := proxyGetBufferBytes(7, 0, size, unsafe.Pointer(&raw), &n); st != 0 {
			logf("configure: plugin_config -> %d", st)
			return false
		}
	}
	sc := script{}
	for _, line := range strings.Split(string(bytesOf(raw, n)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		sc[f[0]] = append(sc[f[0]], command(f[1:]))
	}
	roots[id] = sc
	return run(id, "configure", 1) != 0
}

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id uint32, n int32, eos bool) uint32 {
	nHeaders, endStream = n, eos
	return run(id, "request_headers", 0)
}

//go:wasmexport proxy_on_request_body
func onRequestBody(id uint32, size int32, eos bool) uint32 {
	bodySize, endStream = size, eos
	return run(id, "request_body", 0)
}

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(id uint32, n int32, eos bool) uint32 {
	nHeaders, endStream = n, eos
	return run(id, "response_headers", 0)
}

//go:wasmexport proxy_on_response_body
func onResponseBody(id uint32, size int32, eos bool) uint32 {
	bodySize, endStream = size, eos
	return run(id, "response_body", 0)
}

//go:wasmexport proxy_on_http_call_response
func onHTTPCallResponse(root, callID uint32, nHeaders, size, nTrailers int32) {
	curCall = callOwner[callID]
	delete(callOwner, callID)
	bodySize = size
	logf("call_response: id=%d headers=%d body=%d trailers=%d", callID, nHeaders, size, nTrailers)
	run(root, "call_response", 0)
}

//go:wasmexport proxy_on_tick
func onTick(root uint32) { run(root, "tick", 0) }

//go:wasmexport proxy_on_queue_ready
func onQueueReady(root, token uint32) {
	logf("queue_ready: token=%d", token)
	run(root, "queue_ready", 0)
}

//go:wasmexport proxy_on_log
func onLog(id uint32) { run(id, "log", 0) }

//go:wasmexport proxy_on_done
func onDone(id uint32) bool { return run(id, "done", 1) != 0 }

//go:wasmexport proxy_on_delete
func onDelete(id uint32) {
	run(id, "delete", 0)
	delete(parents, id)
	delete(roots, id)
}

// run executes the callback's commands for context id; def is the result
// unless a "return" command says otherwise.
func run(id uint32, cb string, def uint32) uint32 {
	sc := roots[parents[id]]
	ret := def
	for _, c := range sc[cb] {
		switch c[0] {
		case "if_eos":
			if !endStream {
				continue
			}
			c = c[1:]
		case "if_not_eos":
			if endStream {
				continue
			}
			c = c[1:]
		}
		if c[0] == "return" {
			ret = uint32(atoi(arg(c, 1)))
			continue
		}
		st, res := exec(id, c)
		if res != "" {
			logf("%s: %s -> %d %s", cb, strings.Join(c, " "), st, res)
		} else {
			logf("%s: %s -> %d", cb, strings.Join(c, " "), st)
		}
	}
	return ret
}

func exec(id uint32, c command) (uint32, string) {
	a := func(i int) string { return arg(c, i) }
	n := func(i int) uint32 { return uint32(atoi(a(i))) }
	switch c[0] {
	case "log":
		msg := strings.Join(c[2:], " ")
		return proxyLog(n(1), ptr(msg), int32(len(msg))), ""
	case "print": // to stderr through WASI fd_write
		println(strings.Join(c[1:], " "))
		return 0, ""
	case "get_pairs":
		var raw *byte
		var size int32
		st := proxyGetHeaderMapPairs(n(1), unsafe.Pointer(&raw), &size)
		return st, formatPairs(bytesOf(raw, size))
	case "set_pairs":
		b := pairs(a(2))
		return proxySetHeaderMapPairs(n(1), bptr(b), int32(len(b))), ""
	case "get":
		var raw *byte
		var size int32
		st := proxyGetHeaderMapValue(n(1), ptr(a(2)), int32(len(a(2))), unsafe.Pointer(&raw), &size)
		return st, string(bytesOf(raw, size))
	case "add":
		return proxyAddHeaderMapValue(n(1), ptr(a(2)), int32(len(a(2))), ptr(a(3)), int32(len(a(3)))), ""
	case "replace":
		return proxyReplaceHeaderMapValue(n(1), ptr(a(2)), int32(len(a(2))), ptr(a(3)), int32(len(a(3)))), ""
	case "remove":
		return proxyRemoveHeaderMapValue(n(1), ptr(a(2)), int32(len(a(2)))), ""
	case "map_size":
		var v uint32
		st := proxyGetHeaderMapSize(n(1), &v)
		return st, strconv.Itoa(int(v))
	case "get_body":
		var raw *byte
		var size int32
		max := int32(atoi(a(3)))
		if a(3) == "all" {
			max = bodySize
		}
		st := proxyGetBufferBytes(n(1), int32(atoi(a(2))), max, unsafe.Pointer(&raw), &size)
		return st, string(bytesOf(raw, size))
	case "set_body":
		data := unescape(a(4))
		return proxySetBufferBytes(n(1), int32(atoi(a(2))), int32(atoi(a(3))), ptr(data), int32(len(data))), ""
	case "upper_body":
		var raw *byte
		var size int32
		if st := proxyGetBufferBytes(n(1), 0, bodySize, unsafe.Pointer(&raw), &size); st != 0 {
			return st, ""
		}
		up := strings.ToUpper(string(bytesOf(raw, size)))
		return proxySetBufferBytes(n(1), 0, size, ptr(up), int32(len(up))), up
	case "buffer_status":
		var l, flags uint32
		st := proxyGetBufferStatus(n(1), &l, &flags)
		return st, strconv.Itoa(int(l))
	case "local":
		body := unescape(a(2))
		if body == "-" { // no body, headers to follow
			body = ""
		}
		h := pairs(a(3))
		details := "via_abiecho"
		return proxySendLocalResponse(n(1), ptr(details), int32(len(details)), ptr(body), int32(len(body)), bptr(h), int32(len(h)), -1), ""
	case "call":
		// call <target> <method> <path> <timeout_ms> [body]
		h := pairs(":method=" + a(2) + ",:path=" + a(3) + ",:authority=" + a(1) + ",x-from=abiecho")
		return dispatch(id, a(1), h, unescape(a(5)), n(4))
	case "call_noauthority":
		h := pairs(":method=GET,:path=/")
		return dispatch(id, a(1), h, "", 0)
	case "effective":
		target := curCall
		if a(1) != "" {
			target = n(1)
		}
		return proxySetEffectiveContext(target), ""
	case "continue":
		return proxyContinueStream(n(1)), ""
	case "close":
		return proxyCloseStream(n(1)), ""
	case "status":
		var code uint32
		var raw *byte
		var size int32
		st := proxyGetStatus(&code, unsafe.Pointer(&raw), &size)
		return st, strconv.Itoa(int(code)) + " " + string(bytesOf(raw, size))
	case "prop":
		p := strings.ReplaceAll(a(1), "/", "\x00")
		var raw *byte
		var size int32
		st := proxyGetProperty(ptr(p), int32(len(p)), unsafe.Pointer(&raw), &size)
		return st, printable(bytesOf(raw, size))
	case "setprop":
		v := unescape(a(2))
		return proxySetProperty(ptr(a(1)), int32(len(a(1))), ptr(v), int32(len(v))), ""
	case "shared_get":
		var raw *byte
		var size int32
		var cas uint32
		st := proxyGetSharedData(ptr(a(1)), int32(len(a(1))), unsafe.Pointer(&raw), &size, &cas)
		return st, string(bytesOf(raw, size)) + " cas=" + strconv.Itoa(int(cas))
	case "shared_set":
		return proxySetSharedData(ptr(a(1)), int32(len(a(1))), ptr(a(2)), int32(len(a(2))), n(3)), ""
	case "shared_inc":
		return sharedInc(a(1))
	case "metric_define":
		var mid uint32
		st := proxyDefineMetric(n(1), ptr(a(2)), int32(len(a(2))), &mid)
		metricIDs[a(2)] = mid
		return st, strconv.Itoa(int(mid))
	case "metric_inc":
		return proxyIncrementMetric(metricIDs[a(1)], int64(atoi(a(2)))), ""
	case "metric_record":
		return proxyRecordMetric(metricIDs[a(1)], uint64(atoi(a(2)))), ""
	case "metric_get":
		var v uint64
		st := proxyGetMetric(metricIDs[a(1)], &v)
		return st, strconv.FormatUint(v, 10)
	case "tick_period":
		return proxySetTickPeriod(n(1)), ""
	case "log_level":
		var l uint32
		st := proxyGetLogLevel(&l)
		return st, strconv.Itoa(int(l))
	case "time":
		var t uint64
		st := proxyGetCurrentTime(&t)
		return st, strconv.FormatBool(t > 0)
	case "queue_register":
		var tok uint32
		st := proxyRegisterSharedQueue(ptr(a(1)), int32(len(a(1))), &tok)
		queues[a(1)] = tok
		return st, strconv.Itoa(int(tok))
	case "queue_resolve":
		var tok uint32
		st := proxyResolveSharedQueue(ptr(a(1)), int32(len(a(1))), ptr(a(2)), int32(len(a(2))), &tok)
		queues[a(2)] = tok
		return st, strconv.Itoa(int(tok))
	case "queue_enqueue":
		return proxyEnqueueSharedQueue(queues[a(1)], ptr(a(2)), int32(len(a(2)))), ""
	case "queue_dequeue":
		var raw *byte
		var size int32
		st := proxyDequeueSharedQueue(queues[a(1)], unsafe.Pointer(&raw), &size)
		return st, string(bytesOf(raw, size))
	case "done":
		return proxyDone(), ""
	case "foreign":
		var raw *byte
		var size int32
		return proxyCallForeignFunction(ptr(a(1)), int32(len(a(1))), nil, 0, unsafe.Pointer(&raw), &size), ""
	case "args":
		return 0, "n=" + strconv.Itoa(int(nHeaders)) + " size=" + strconv.Itoa(int(bodySize)) + " eos=" + strconv.FormatBool(endStream)
	case "env":
		v, found := syscall.Getenv(a(1))
		return 0, strconv.FormatBool(found) + " " + v
	case "context":
		return 0, strconv.Itoa(int(id)) + " root=" + strconv.Itoa(int(parents[id]))
	case "trap":
		var m map[string]int
		m["boom"] = 1 // nil map write: a Go panic, i.e. a trap
	}
	return 255, "unknown command"
}

func dispatch(id uint32, target string, h []byte, body string, timeout uint32) (uint32, string) {
	trailers := []byte{0, 0, 0, 0}
	var cid uint32
	st := proxyHTTPCall(ptr(target), int32(len(target)), bptr(h), int32(len(h)), ptr(body), int32(len(body)), &trailers[0], 4, timeout, &cid)
	if st == 0 {
		callOwner[cid] = id
	}
	return st, "id=" + strconv.Itoa(int(cid))
}

func sharedInc(key string) (uint32, string) {
	for try := 0; try < 100; try++ {
		var raw *byte
		var size int32
		var cas uint32
		st := proxyGetSharedData(ptr(key), int32(len(key)), unsafe.Pointer(&raw), &size, &cas)
		v := 0
		if st == 0 {
			v = atoi(string(bytesOf(raw, size)))
		} else {
			// Absent: create it with a cas no value has. A cas of 0 would
			// set unconditionally and overwrite another VM's creation.
			cas = ^uint32(0)
		}
		next := strconv.Itoa(v + 1)
		switch proxySetSharedData(ptr(key), int32(len(key)), ptr(next), int32(len(next)), cas) {
		case 0:
			return 0, next
		case 8: // CAS_MISMATCH: retry
			continue
		default:
			return 1, ""
		}
	}
	return 8, ""
}

func arg(c command, i int) string {
	if i < len(c) {
		return c[i]
	}
	return ""
}

func atoi(s string) int {
	v, _ := strconv.Atoi(s)
	return v
}

// unescape turns "~" into spaces and "\n" into newlines in script
// arguments.
func unescape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", " "), `\n`, "\n")
}

// pairs serializes "k=v,k=v" (values unescaped) as proxy-wasm pairs.
func pairs(s string) []byte {
	var kv [][2]string
	for _, p := range strings.Split(s, ",") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		kv = append(kv, [2]string{k, unescape(v)})
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(kv)))
	for _, p := range kv {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[1])))
	}
	for _, p := range kv {
		b = append(append(append(append(b, p[0]...), 0), p[1]...), 0)
	}
	return b
}

// formatPairs renders serialized pairs as "k=v;k=v".
func formatPairs(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	n := int(binary.LittleEndian.Uint32(b))
	var out []string
	p := 4 + 8*n
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		k := string(b[p : p+kl])
		p += kl + 1
		v := string(b[p : p+vl])
		p += vl + 1
		out = append(out, k+"="+v)
	}
	return strings.Join(out, ";")
}

// printable shows binary property values (integers) as hex.
func printable(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			const hex = "0123456789abcdef"
			out := make([]byte, 0, 2*len(b)+2)
			out = append(out, "0x"...)
			for _, c := range b {
				out = append(out, hex[c>>4], hex[c&15])
			}
			return string(out)
		}
	}
	return string(b)
}

func logf(format string, args ...any) {
	var b strings.Builder
	ai := 0
	for i := 0; i < len(format); i++ {
		if format[i] == '%' && i+1 < len(format) {
			i++
			if ai < len(args) {
				switch v := args[ai].(type) {
				case string:
					b.WriteString(v)
				case uint32:
					b.WriteString(strconv.FormatUint(uint64(v), 10))
				case int32:
					b.WriteString(strconv.Itoa(int(v)))
				}
				ai++
			}
			continue
		}
		b.WriteByte(format[i])
	}
	msg := b.String()
	proxyLog(2, ptr(msg), int32(len(msg)))
}
