package host

import (
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// envoyEnv is the "env" module of proxy-wasm-cpp-host as Envoy registers it
// for a 0.2.x module (HOST src/wasm.cc registerCallbacks, src/exports.cc;
// ENVOY source/extensions/common/wasm/context.cc). Status codes follow
// proxy-wasm-abi.md A.2 and envoy-apisix-integration.md.
func envoyEnv(abi int) []hostFunc {
	fs := []hostFunc{
		{"proxy_log", i32s(3), ret32, func(vm *VM, s []uint64) {
			// Levels above critical are BAD_ARGUMENT (A.2); NGX logs them.
			level := uint32(s[0])
			if level > uint32(LogCritical) {
				s[0] = stBadArgument
				return
			}
			msg, ok := vm.readString(uint32(s[1]), uint32(s[2]))
			if !ok {
				s[0] = stInvalidMemoryAccess
				return
			}
			vm.logf(LogLevel(level), msg)
			s[0] = stOK
		}},
		{"proxy_get_current_time_nanoseconds", i32s(1), ret32, func(vm *VM, s []uint64) {
			s[0] = okOrMem(vm.putU64(uint32(s[0]), uint64(time.Now().UnixNano())))
		}},
		{"proxy_set_tick_period_milliseconds", i32s(1), ret32, func(vm *VM, s []uint64) {
			// The timer belongs to the calling context's root.
			c := vm.effective()
			if c == nil {
				s[0] = stBadArgument
				return
			}
			c.p.tick = time.Duration(uint32(s[0])) * time.Millisecond
			c.p.nextTick = time.Now().Add(c.p.tick)
			s[0] = stOK
		}},
		{"proxy_done", nil, ret32, func(vm *VM, s []uint64) {
			// WasmBase::done: only a root waiting after proxy_on_done
			// returned false may call it.
			c := vm.effective()
			if c == nil || c.s != nil || !c.p.closed {
				s[0] = stNotFound
				return
			}
			s[0] = stOK
		}},
		{"proxy_set_effective_context", i32s(1), ret32, func(vm *VM, s []uint64) {
			c, ok := vm.ctxs[uint32(s[0])]
			if !ok {
				s[0] = stBadArgument
				return
			}
			vm.eff = c
			s[0] = stOK
		}},
		{"proxy_get_buffer_bytes", i32s(5), ret32, envoyGetBufferBytes},
		{"proxy_set_buffer_bytes", i32s(5), ret32, envoySetBufferBytes},
		{"proxy_get_buffer_status", i32s(3), ret32, func(vm *VM, s []uint64) {
			if uint32(s[0]) > bufMax {
				s[0] = stBadArgument
				return
			}
			b, _, found := vm.envoyBuffer(uint32(s[0]))
			if !found {
				s[0] = stNotFound
				return
			}
			s[0] = okOrMem(vm.putU32(uint32(s[1]), uint32(len(b))) && vm.putU32(uint32(s[2]), 0))
		}},
		{"proxy_get_header_map_size", i32s(2), ret32, func(vm *VM, s []uint64) {
			if uint32(s[0]) > mapMax {
				s[0] = stBadArgument
				return
			}
			m := vm.envoyMap(uint32(s[0]), true)
			if m == nil {
				s[0] = stBadArgument
				return
			}
			s[0] = okOrMem(vm.putU32(uint32(s[1]), m.byteSize()))
		}},
		{"proxy_get_header_map_pairs", i32s(3), ret32, func(vm *VM, s []uint64) {
			if uint32(s[0]) > mapMax {
				s[0] = stBadArgument
				return
			}
			var h [][2]string
			if m := vm.envoyMap(uint32(s[0]), false); m != nil {
				h = *m
			}
			s[0] = uint64(vm.copyOutPairs(h, uint32(s[1]), uint32(s[2])))
		}},
		{"proxy_set_header_map_pairs", i32s(3), ret32, func(vm *VM, s []uint64) {
			if uint32(s[0]) > mapMax {
				s[0] = stBadArgument
				return
			}
			b, ok := vm.read(uint32(s[1]), uint32(s[2]))
			if !ok {
				s[0] = stInvalidMemoryAccess
				return
			}
			m := vm.envoyMap(uint32(s[0]), true)
			if m == nil {
				s[0] = stBadArgument
				return
			}
			// Context::setHeaderMapPairs: remove every key, add the pairs.
			*m = (*m)[:0]
			for _, kv := range parsePairs(b) {
				m.add(kv[0], kv[1])
			}
			s[0] = stOK
		}},
		{"proxy_get_header_map_value", i32s(5), ret32, func(vm *VM, s []uint64) {
			if uint32(s[0]) > mapMax {
				s[0] = stBadArgument
				return
			}
			key, ok := vm.readString(uint32(s[1]), uint32(s[2]))
			if !ok {
				s[0] = stInvalidMemoryAccess
				return
			}
			m := vm.envoyMap(uint32(s[0]), false)
			if m == nil {
				// Maps may be absent in the access-log phase: NOT_FOUND
				// there, BAD_ARGUMENT otherwise (Context::getHeaderMapValue).
				if c := vm.effective(); c != nil && c.s != nil && c.s.accessLog {
					s[0] = stNotFound
				} else {
					s[0] = stBadArgument
				}
				return
			}
			v, found := m.get(key)
			if !found {
				s[0] = stNotFound
				return
			}
			s[0] = uint64(vm.copyOutString(v, uint32(s[3]), uint32(s[4])))
		}},
		{"proxy_add_header_map_value", i32s(5), ret32, envoyEditHeader(func(m *headerMap, k, v string) { m.add(k, v) })},
		{"proxy_replace_header_map_value", i32s(5), ret32, envoyEditHeader(func(m *headerMap, k, v string) { m.set(k, v) })},
		{"proxy_remove_header_map_value", i32s(3), ret32, func(vm *VM, s []uint64) {
			if uint32(s[0]) > mapMax {
				s[0] = stBadArgument
				return
			}
			key, ok := vm.readString(uint32(s[1]), uint32(s[2]))
			if !ok {
				s[0] = stInvalidMemoryAccess
				return
			}
			m := vm.envoyMap(uint32(s[0]), true)
			if m == nil {
				s[0] = stBadArgument
				return
			}
			m.remove(key)
			s[0] = stOK
		}},
		{"proxy_get_status", i32s(3), ret32, func(vm *VM, s []uint64) {
			// Context::getStatus of the effective context: only roots
			// receive callout failures (status 11 "reset").
			var code uint32
			var msg string
			if c := vm.effective(); c != nil && c.s == nil {
				code, msg = c.p.statusCode, c.p.statusMsg
			}
			if !vm.putU32(uint32(s[0]), code) {
				s[0] = stInvalidMemoryAccess
				return
			}
			s[0] = uint64(vm.copyOutString(msg, uint32(s[1]), uint32(s[2])))
		}},
		{"proxy_send_local_response", i32s(8), ret32, envoySendLocalResponse},
		{"proxy_http_call", i32s(10), ret32, envoyHTTPCall},
		{"proxy_grpc_call", i32s(12), ret32, func(vm *VM, s []uint64) {
			// gRPC is not emulated: every service looks unknown, which
			// Envoy answers with PARSE_FAILURE (proxy-wasm-abi.md A.2).
			s[0] = stParseFailure
		}},
		{"proxy_grpc_stream", i32s(9), ret32, func(vm *VM, s []uint64) { s[0] = stParseFailure }},
		{"proxy_grpc_send", i32s(4), ret32, func(vm *VM, s []uint64) { s[0] = stBadArgument }},
		{"proxy_grpc_cancel", i32s(1), ret32, func(vm *VM, s []uint64) { s[0] = stBadArgument }},
		{"proxy_grpc_close", i32s(1), ret32, func(vm *VM, s []uint64) { s[0] = stBadArgument }},
		{"proxy_set_shared_data", i32s(5), ret32, func(vm *VM, s []uint64) {
			key, ok1 := vm.readString(uint32(s[0]), uint32(s[1]))
			val, ok2 := vm.read(uint32(s[2]), uint32(s[3]))
			if !ok1 || !ok2 {
				s[0] = stInvalidMemoryAccess
				return
			}
			s[0] = uint64(vm.shared.setData(vm.cfg.VMID, key, append([]byte(nil), val...), uint32(s[4])))
		}},
		{"proxy_get_shared_data", i32s(5), ret32, func(vm *VM, s []uint64) {
			key, ok := vm.readString(uint32(s[0]), uint32(s[1]))
			if !ok {
				s[0] = stInvalidMemoryAccess
				return
			}
			val, cas, found := vm.shared.getData(vm.cfg.VMID, key)
			if !found {
				s[0] = stNotFound
				return
			}
			if st := vm.copyOut(val, uint32(s[2]), uint32(s[3])); st != stOK {
				s[0] = uint64(st)
				return
			}
			s[0] = okOrMem(vm.putU32(uint32(s[4]), cas))
		}},
		{"proxy_register_shared_queue", i32s(3), ret32, func(vm *VM, s []uint64) {
			name, ok := vm.readString(uint32(s[0]), uint32(s[1]))
			c := vm.effective()
			if !ok {
				s[0] = stInvalidMemoryAccess
				return
			}
			if c == nil {
				s[0] = stBadArgument
				return
			}
			if _, known := vm.shared.resolveQueue(vm.cfg.VMID, name); !known {
				vm.queues++
			}
			s[0] = okOrMem(vm.putU32(uint32(s[2]), vm.shared.registerQueue(vm.cfg.VMID, name, vm, c.p.id)))
		}},
		{"proxy_resolve_shared_queue", i32s(5), ret32, func(vm *VM, s []uint64) {
			vmID, ok1 := vm.readString(uint32(s[0]), uint32(s[1]))
			name, ok2 := vm.readString(uint32(s[2]), uint32(s[3]))
			if !ok1 || !ok2 {
				s[0] = stInvalidMemoryAccess
				return
			}
			t, found := vm.shared.resolveQueue(vmID, name)
			if !found {
				s[0] = stNotFound
				return
			}
			s[0] = okOrMem(vm.putU32(uint32(s[4]), t))
		}},
		{"proxy_enqueue_shared_queue", i32s(3), ret32, func(vm *VM, s []uint64) {
			val, ok := vm.read(uint32(s[1]), uint32(s[2]))
			if !ok {
				s[0] = stInvalidMemoryAccess
				return
			}
			token := uint32(s[0])
			owner, root, st := vm.shared.enqueue(token, append([]byte(nil), val...))
			if st == stOK {
				// The registering root hears about it on its own thread,
				// after this call (HOST SharedQueue::enqueue posts it).
				go owner.queueReady(root, token)
			}
			s[0] = uint64(st)
		}},
		{"proxy_dequeue_shared_queue", i32s(3), ret32, func(vm *VM, s []uint64) {
			val, st := vm.shared.dequeue(uint32(s[0]))
			if st != stOK {
				s[0] = uint64(st)
				return
			}
			s[0] = uint64(vm.copyOut(val, uint32(s[1]), uint32(s[2])))
		}},
		{"proxy_define_metric", i32s(4), ret32, envoyDefineMetric},
		{"proxy_increment_metric", []api.ValueType{i32, i64}, ret32, envoyIncrementMetric},
		{"proxy_record_metric", []api.ValueType{i32, i64}, ret32, envoyRecordMetric},
		{"proxy_get_metric", i32s(2), ret32, envoyGetMetric},
		{"proxy_get_property", i32s(4), ret32, func(vm *VM, s []uint64) {
			path, ok := vm.readString(uint32(s[0]), uint32(s[1]))
			if !ok {
				s[0] = stInvalidMemoryAccess
				return
			}
			v, st := vm.envoyProperty(path)
			if st != stOK {
				s[0] = uint64(st)
				return
			}
			s[0] = uint64(vm.copyOut(v, uint32(s[2]), uint32(s[3])))
		}},
		{"proxy_set_property", i32s(4), ret32, func(vm *VM, s []uint64) {
			path, ok1 := vm.readString(uint32(s[0]), uint32(s[1]))
			val, ok2 := vm.readString(uint32(s[2]), uint32(s[3]))
			if !ok1 || !ok2 {
				s[0] = stInvalidMemoryAccess
				return
			}
			// Context::setProperty: request filter state "wasm."+path; no
			// stream (root context) → NOT_FOUND
			// (envoy-apisix-integration.md §5.1).
			c := vm.effective()
			if c == nil || c.s == nil {
				s[0] = stNotFound
				return
			}
			c.s.setFilterState("wasm."+path, val)
			s[0] = stOK
		}},
		{"proxy_call_foreign_function", i32s(6), ret32, func(vm *VM, s []uint64) {
			name, ok := vm.readString(uint32(s[0]), uint32(s[1]))
			if _, ok2 := vm.read(uint32(s[2]), uint32(s[3])); !ok || !ok2 {
				s[0] = stInvalidMemoryAccess
				return
			}
			switch name {
			case "clear_route_cache":
				// Envoy foreign.cc: no arguments, no result, OK. The
				// route cache is not modelled.
				if (s[4] != 0 && !vm.putU32(uint32(s[4]), 0)) || (s[5] != 0 && !vm.putU32(uint32(s[5]), 0)) {
					s[0] = stInvalidMemoryAccess
					return
				}
				s[0] = stOK
			case "declare_property", "set_envoy_filter_state", "compress", "uncompress", "verify_signature":
				vm.logf(LogWarn, "host: foreign function "+name+" exists in Envoy but is not emulated")
				s[0] = stUnimplemented
			default:
				s[0] = stNotFound
			}
		}},
		// Registered for every module (HOST registerCallbacks).
		{"pthread_equal", i32s(2), ret32, func(vm *VM, s []uint64) {
			if uint32(s[0]) == uint32(s[1]) {
				s[0] = 1
			} else {
				s[0] = 0
			}
		}},
		{"emscripten_notify_memory_growth", i32s(1), nil, func(vm *VM, s []uint64) {}},
		{"proxy_continue_stream", i32s(1), ret32, envoyContinueStream},
		{"proxy_close_stream", i32s(1), ret32, envoyCloseStream},
	}
	if abi == abi021 {
		// Registered only for proxy_abi_version_0_2_1 modules.
		fs = append(fs, hostFunc{"proxy_get_log_level", i32s(1), ret32, func(vm *VM, s []uint64) {
			s[0] = okOrMem(vm.putU32(uint32(s[0]), uint32(vm.cfg.LogLevel)))
		}})
	}
	return fs
}

func okOrMem(ok bool) uint64 {
	if ok {
		return stOK
	}
	return stInvalidMemoryAccess
}

// envoyMap returns the header map a hostcall addresses in the effective
// context, or nil where Envoy's getMap (mutable) / getConstMap return
// nullptr. Request headers are gone once proxy_on_request_headers returned
// Continue (envoy-apisix-integration.md §0.1); response headers likewise.
func (vm *VM) envoyMap(t uint32, mutable bool) *headerMap {
	c := vm.effective()
	if c == nil {
		return nil
	}
	switch t {
	case mapCallResponseHeaders, mapCallResponseTrailer:
		r := c.p.callResp
		if mutable || r == nil {
			return nil
		}
		if t == mapCallResponseHeaders {
			return &r.headers
		}
		return &r.trailers
	}
	s := c.s
	if s == nil {
		return nil
	}
	switch t {
	case mapRequestHeaders:
		if s.reqHOpen {
			return &s.reqH
		}
		if s.accessLog && !mutable {
			return &s.reqH
		}
	case mapResponseHeaders:
		if s.respHOpen {
			return &s.respH
		}
		if s.accessLog && !mutable {
			return &s.respH
		}
	case mapRequestTrailers:
		if s.accessLog {
			return nil
		}
		// getMap adds trailers when called from the last body callback.
		if mutable && !s.reqTOpen && s.inBody == dirRequest && s.eos {
			s.reqTOpen = true
		}
		if s.reqTOpen {
			return &s.reqT
		}
	case mapResponseTrailers:
		if mutable && !s.respTOpen && s.inBody == dirResponse && s.eos && !s.accessLog {
			s.respTOpen = true
		}
		if s.respTOpen {
			return &s.respT
		}
	}
	return nil
}

func envoyEditHeader(edit func(m *headerMap, k, v string)) func(vm *VM, s []uint64) {
	return func(vm *VM, s []uint64) {
		if uint32(s[0]) > mapMax {
			s[0] = stBadArgument
			return
		}
		key, ok1 := vm.readString(uint32(s[1]), uint32(s[2]))
		val, ok2 := vm.readString(uint32(s[3]), uint32(s[4]))
		if !ok1 || !ok2 {
			s[0] = stInvalidMemoryAccess
			return
		}
		m := vm.envoyMap(uint32(s[0]), true)
		if m == nil {
			s[0] = stBadArgument
			return
		}
		edit(m, key, val)
		s[0] = stOK
	}
}

// envoyBuffer is Context::getBuffer. found=false is nullptr (NOT_FOUND);
// body buffers always exist, empty outside their callbacks.
func (vm *VM) envoyBuffer(t uint32) (b []byte, mutable *[]byte, found bool) {
	c := vm.effective()
	if c == nil {
		return nil, nil, t != bufCallResponseBody && t != bufPluginConfig
	}
	switch t {
	case bufRequestBody, bufResponseBody:
		if s := c.s; s != nil {
			d := &s.dir[t]
			if d.buffering != 0 || d.bodyOpen {
				return d.body, &d.body, true
			}
		}
		return nil, nil, true
	case bufCallResponseBody:
		if r := c.p.callResp; r != nil {
			return r.body, nil, true
		}
		return nil, nil, false
	case bufVMConfiguration:
		return vm.cfg.VMConfiguration, nil, true
	case bufPluginConfig:
		// Only while proxy_on_configure runs (temp_plugin_ set).
		if c.p.configuring {
			return c.p.config, nil, true
		}
		return nil, nil, false
	}
	return nil, nil, true
}

func envoyGetBufferBytes(vm *VM, s []uint64) {
	t, start, max := uint32(s[0]), uint64(uint32(s[1])), uint64(uint32(s[2]))
	if t > bufMax {
		s[0] = stBadArgument
		return
	}
	b, _, found := vm.envoyBuffer(t)
	if !found {
		s[0] = stNotFound
		return
	}
	// Reads are clamped to the buffer; an empty result is OK with 0/0.
	if start >= uint64(len(b)) {
		b = nil
	} else {
		end := min(start+max, uint64(len(b)))
		b = b[start:end]
	}
	s[0] = uint64(vm.copyOut(b, uint32(s[3]), uint32(s[4])))
}

func envoySetBufferBytes(vm *VM, s []uint64) {
	t, start, size := uint32(s[0]), int(uint32(s[1])), int(uint32(s[2]))
	if t > bufMax {
		s[0] = stBadArgument
		return
	}
	_, buf, found := vm.envoyBuffer(t)
	if !found {
		s[0] = stNotFound
		return
	}
	data, ok := vm.read(uint32(s[3]), uint32(s[4]))
	if !ok {
		s[0] = stInvalidMemoryAccess
		return
	}
	if buf == nil {
		// Immutable (config, call response) or absent: BufferBase::copyFrom.
		s[0] = stBadArgument
		return
	}
	// ENVOY Buffer::copyFrom: start 0 with size 0 prepends, with size >= len
	// replaces; start >= len appends; anything else is BAD_ARGUMENT.
	switch n := len(*buf); {
	case start == 0 && size == 0:
		*buf = append(append([]byte(nil), data...), *buf...)
	case start == 0 && size >= n:
		*buf = append((*buf)[:0], data...)
	case start != 0 && start >= n:
		*buf = append(*buf, data...)
	default:
		s[0] = stBadArgument
		return
	}
	s[0] = stOK
}

func envoySendLocalResponse(vm *VM, s []uint64) {
	details, ok1 := vm.readString(uint32(s[1]), uint32(s[2]))
	body, ok2 := vm.read(uint32(s[3]), uint32(s[4]))
	hdrs, ok3 := vm.read(uint32(s[5]), uint32(s[6]))
	if !ok1 || !ok2 || !ok3 {
		s[0] = stInvalidMemoryAccess
		return
	}
	c := vm.effective()
	if c != nil && c.s != nil && c.s.local == nil {
		// Deferred until the VM call returns (addAfterVmCallAction); the
		// callback's result is then overridden (HOST stopNextIteration).
		c.s.local = &localReply{
			status:  int(uint32(s[0])),
			body:    append([]byte(nil), body...),
			headers: parsePairs(hdrs),
			details: strings.Join(strings.Fields(details), "_"),
		}
		c.s.signal()
	}
	s[0] = stOK
}

func envoyContinueStream(vm *VM, s []uint64) {
	t := uint32(s[0])
	switch {
	case t > 3:
		s[0] = stBadArgument
		return
	case t == 3:
		s[0] = stUnimplemented
		return
	}
	c := vm.effective()
	if t <= 1 && c != nil && c.s != nil {
		// Deferred continueDecoding/continueEncoding. The request maps are
		// dropped at once, for either direction (Context::continueStream).
		st := c.s
		st.cont[t] = true
		st.reqHOpen = false
		st.dir[dirRequest].bodyOpen = false
		st.reqTOpen = false
		st.signal()
	}
	// Without decoder callbacks (root context) it is a silent no-op.
	s[0] = stOK
}

func envoyCloseStream(vm *VM, s []uint64) {
	t := uint32(s[0])
	if t > 3 {
		s[0] = stBadArgument
		return
	}
	if c := vm.effective(); t <= 1 && c != nil && c.s != nil && c.s.reset == "" {
		c.s.reset = "wasm_close_stream"
		c.s.signal()
	}
	s[0] = stOK
}

// ---- metrics (Context::defineMetric & co., envoy-apisix-integration.md §6) ----

func envoyDefineMetric(vm *VM, s []uint64) {
	t := uint32(s[0])
	name, ok := vm.readString(uint32(s[1]), uint32(s[2]))
	if !ok {
		s[0] = stInvalidMemoryAccess
		return
	}
	if t > metricHistogram {
		s[0] = stBadArgument
		return
	}
	if vm.metrics == nil {
		vm.metrics = map[uint32]*metric{}
	}
	// Ids carry the type in the low two bits and advance by 4, per VM.
	vm.nextMet[t] += 4
	id := vm.nextMet[t] | t
	vm.metrics[id] = vm.shared.stat("wasmcustom."+name, MetricType(t))
	s[0] = okOrMem(vm.putU32(uint32(s[3]), id))
}

func envoyIncrementMetric(vm *VM, s []uint64) {
	id, delta := uint32(s[0]), int64(s[1])
	switch id & 3 {
	case metricCounter, metricGauge:
	default:
		s[0] = stBadArgument
		return
	}
	m := vm.metrics[id]
	if m == nil {
		s[0] = stNotFound
		return
	}
	if id&3 == metricCounter && delta <= 0 {
		s[0] = stBadArgument
		return
	}
	vm.shared.updateMetric(func() { m.Value += uint64(delta) })
	s[0] = stOK
}

func envoyRecordMetric(vm *VM, s []uint64) {
	id, v := uint32(s[0]), s[1]
	m := vm.metrics[id]
	if m == nil || id&3 > metricHistogram {
		s[0] = stNotFound
		return
	}
	vm.shared.updateMetric(func() {
		switch id & 3 {
		case metricCounter:
			m.Value += v
		case metricGauge:
			m.Value = v
		default:
			m.Samples = append(m.Samples, v)
		}
	})
	s[0] = stOK
}

func envoyGetMetric(vm *VM, s []uint64) {
	id := uint32(s[0])
	if id&3 != metricCounter && id&3 != metricGauge {
		s[0] = stBadArgument
		return
	}
	m := vm.metrics[id]
	if m == nil {
		s[0] = stNotFound
		return
	}
	var v uint64
	vm.shared.updateMetric(func() { v = m.Value })
	s[0] = okOrMem(vm.putU64(uint32(s[1]), v))
}

// queueReady delivers proxy_on_queue_ready to root on this VM.
func (vm *VM) queueReady(root, token uint32) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	c, ok := vm.ctxs[root]
	if !ok || vm.dead != nil {
		return
	}
	_, _ = vm.invoke(c, vm.fn.queueReady, uint64(root), uint64(token))
}
