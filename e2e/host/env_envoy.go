package host

import (
	"bytes"
	"strings"
	"time"
)

// envoyEnv is the "env" module of proxy-wasm-cpp-host as Envoy registers it
// for a 0.2.x module (HOST src/wasm.cc registerCallbacks, src/exports.cc;
// ENVOY source/extensions/common/wasm/context.cc). Status codes follow
// docs/proxy-wasm-abi.md#host-functions and docs/host-behaviours.md.
func envoyEnv(abi int) []hostFunc {
	fs := []hostFunc{
		{"proxy_log", i32s(3), ret32, func(vm *VM, s []uint64) uint32 {
			// Levels above critical are BAD_ARGUMENT (A.2); NGX logs them.
			level := uint32(s[0])
			if level > uint32(LogCritical) {
				return stBadArgument
			}
			msg, ok := vm.readString(uint32(s[1]), uint32(s[2]))
			if !ok {
				return stInvalidMemoryAccess
			}
			vm.logf(LogLevel(level), msg)
			return stOK
		}},
		{"proxy_get_current_time_nanoseconds", i32s(1), ret32, func(vm *VM, s []uint64) uint32 {
			return okOrMem(vm.putU64(uint32(s[0]), uint64(time.Now().UnixNano())))
		}},
		{"proxy_set_tick_period_milliseconds", i32s(1), ret32, func(vm *VM, s []uint64) uint32 {
			// The timer belongs to the calling context's root.
			c := vm.effective()
			if c == nil {
				return stBadArgument
			}
			c.p.tick = time.Duration(uint32(s[0])) * time.Millisecond
			c.p.nextTick = time.Now().Add(c.p.tick)
			return stOK
		}},
		{"proxy_done", nil, ret32, func(vm *VM, s []uint64) uint32 {
			// WasmBase::done: only a root waiting after proxy_on_done
			// returned false may call it.
			if c := vm.effective(); c == nil || c.s != nil || !c.p.closed {
				return stNotFound
			}
			return stOK
		}},
		{"proxy_set_effective_context", i32s(1), ret32, func(vm *VM, s []uint64) uint32 {
			c, ok := vm.ctxs[uint32(s[0])]
			if !ok {
				return stBadArgument
			}
			vm.eff = c
			return stOK
		}},
		{"proxy_get_buffer_bytes", i32s(5), ret32, envoyGetBufferBytes},
		{"proxy_set_buffer_bytes", i32s(5), ret32, envoySetBufferBytes},
		{"proxy_get_buffer_status", i32s(3), ret32, func(vm *VM, s []uint64) uint32 {
			b, _, st := vm.envoyBuffer(uint32(s[0]))
			if st != stOK {
				return st
			}
			return okOrMem(vm.putU32(uint32(s[1]), uint32(len(b))) && vm.putU32(uint32(s[2]), 0))
		}},
		{"proxy_get_header_map_size", i32s(2), ret32, func(vm *VM, s []uint64) uint32 {
			if uint32(s[0]) > mapMax {
				return stBadArgument
			}
			m := vm.envoyMap(uint32(s[0]), true)
			if m == nil {
				return stBadArgument
			}
			return okOrMem(vm.putU32(uint32(s[1]), m.byteSize()))
		}},
		{"proxy_get_header_map_pairs", i32s(3), ret32, func(vm *VM, s []uint64) uint32 {
			if uint32(s[0]) > mapMax {
				return stBadArgument
			}
			var h [][2]string
			if m := vm.envoyMap(uint32(s[0]), false); m != nil {
				h = *m
			}
			return vm.copyOutPairs(h, uint32(s[1]), uint32(s[2]))
		}},
		{"proxy_set_header_map_pairs", i32s(3), ret32, envoyEditMap(false, func(m *headerMap, pairs, _ []byte) {
			// Context::setHeaderMapPairs: remove every key, add the pairs.
			*m = (*m)[:0]
			m.addAll(parsePairs(pairs))
		})},
		{"proxy_get_header_map_value", i32s(5), ret32, func(vm *VM, s []uint64) uint32 {
			if uint32(s[0]) > mapMax {
				return stBadArgument
			}
			key, ok := vm.readString(uint32(s[1]), uint32(s[2]))
			if !ok {
				return stInvalidMemoryAccess
			}
			m := vm.envoyMap(uint32(s[0]), false)
			if m == nil {
				// Maps may be absent in the access-log phase: NOT_FOUND
				// there, BAD_ARGUMENT otherwise (Context::getHeaderMapValue).
				if c := vm.effective(); c != nil && c.s != nil && c.s.accessLog {
					return stNotFound
				}
				return stBadArgument
			}
			v, found := m.get(key)
			if !found {
				return stNotFound
			}
			return vm.copyOut([]byte(v), uint32(s[3]), uint32(s[4]))
		}},
		{"proxy_add_header_map_value", i32s(5), ret32, envoyEditMap(true, func(m *headerMap, k, v []byte) { m.add(string(k), string(v)) })},
		{"proxy_replace_header_map_value", i32s(5), ret32, envoyEditMap(true, func(m *headerMap, k, v []byte) { m.set(string(k), string(v)) })},
		{"proxy_remove_header_map_value", i32s(3), ret32, envoyEditMap(false, func(m *headerMap, k, _ []byte) { m.remove(string(k)) })},
		{"proxy_get_status", i32s(3), ret32, func(vm *VM, s []uint64) uint32 {
			// Context::getStatus of the effective context: only roots
			// receive callout failures (status 11 "reset").
			var code uint32
			var msg string
			if c := vm.effective(); c != nil && c.s == nil {
				code, msg = c.p.statusCode, c.p.statusMsg
			}
			if !vm.putU32(uint32(s[0]), code) {
				return stInvalidMemoryAccess
			}
			return vm.copyOut([]byte(msg), uint32(s[1]), uint32(s[2]))
		}},
		{"proxy_send_local_response", i32s(8), ret32, envoySendLocalResponse},
		{"proxy_http_call", i32s(10), ret32, envoyHTTPCall},
		// gRPC is not emulated: every service looks unknown, which Envoy
		// answers with PARSE_FAILURE (docs/proxy-wasm-abi.md#host-functions).
		{"proxy_grpc_call", i32s(12), ret32, answer(stParseFailure)},
		{"proxy_grpc_stream", i32s(9), ret32, answer(stParseFailure)},
		{"proxy_grpc_send", i32s(4), ret32, answer(stBadArgument)},
		{"proxy_grpc_cancel", i32s(1), ret32, answer(stBadArgument)},
		{"proxy_grpc_close", i32s(1), ret32, answer(stBadArgument)},
		{"proxy_set_shared_data", i32s(5), ret32, func(vm *VM, s []uint64) uint32 {
			key, ok1 := vm.readString(uint32(s[0]), uint32(s[1]))
			val, ok2 := vm.read(uint32(s[2]), uint32(s[3]))
			if !ok1 || !ok2 {
				return stInvalidMemoryAccess
			}
			return vm.shared.setData(vm.cfg.VMID, key, bytes.Clone(val), uint32(s[4]))
		}},
		{"proxy_get_shared_data", i32s(5), ret32, func(vm *VM, s []uint64) uint32 {
			key, ok := vm.readString(uint32(s[0]), uint32(s[1]))
			if !ok {
				return stInvalidMemoryAccess
			}
			val, cas, found := vm.shared.getData(vm.cfg.VMID, key)
			if !found {
				return stNotFound
			}
			if st := vm.copyOut(val, uint32(s[2]), uint32(s[3])); st != stOK {
				return st
			}
			return okOrMem(vm.putU32(uint32(s[4]), cas))
		}},
		{"proxy_register_shared_queue", i32s(3), ret32, func(vm *VM, s []uint64) uint32 {
			name, ok := vm.readString(uint32(s[0]), uint32(s[1]))
			c := vm.effective()
			if !ok {
				return stInvalidMemoryAccess
			}
			if c == nil {
				return stBadArgument
			}
			if _, known := vm.shared.resolveQueue(vm.cfg.VMID, name); !known {
				vm.queues++
			}
			return okOrMem(vm.putU32(uint32(s[2]), vm.shared.registerQueue(vm.cfg.VMID, name, vm, c.p.id)))
		}},
		{"proxy_resolve_shared_queue", i32s(5), ret32, func(vm *VM, s []uint64) uint32 {
			vmID, ok1 := vm.readString(uint32(s[0]), uint32(s[1]))
			name, ok2 := vm.readString(uint32(s[2]), uint32(s[3]))
			if !ok1 || !ok2 {
				return stInvalidMemoryAccess
			}
			t, found := vm.shared.resolveQueue(vmID, name)
			if !found {
				return stNotFound
			}
			return okOrMem(vm.putU32(uint32(s[4]), t))
		}},
		{"proxy_enqueue_shared_queue", i32s(3), ret32, func(vm *VM, s []uint64) uint32 {
			val, ok := vm.read(uint32(s[1]), uint32(s[2]))
			if !ok {
				return stInvalidMemoryAccess
			}
			token := uint32(s[0])
			owner, root, st := vm.shared.enqueue(token, bytes.Clone(val))
			if st == stOK {
				// The registering root hears about it on its own thread,
				// after this call (HOST SharedQueue::enqueue posts it).
				go owner.queueReady(root, token)
			}
			return st
		}},
		{"proxy_dequeue_shared_queue", i32s(3), ret32, func(vm *VM, s []uint64) uint32 {
			val, st := vm.shared.dequeue(uint32(s[0]))
			if st != stOK {
				return st
			}
			return vm.copyOut(val, uint32(s[1]), uint32(s[2]))
		}},
		{"proxy_define_metric", i32s(4), ret32, envoyDefineMetric},
		{"proxy_increment_metric", sig("i32,i64"), ret32, envoyIncrementMetric},
		{"proxy_record_metric", sig("i32,i64"), ret32, envoyRecordMetric},
		{"proxy_get_metric", i32s(2), ret32, envoyGetMetric},
		{"proxy_get_property", i32s(4), ret32, getProperty((*VM).envoyProperty)},
		{"proxy_set_property", i32s(4), ret32, func(vm *VM, s []uint64) uint32 {
			path, ok1 := vm.readString(uint32(s[0]), uint32(s[1]))
			val, ok2 := vm.readString(uint32(s[2]), uint32(s[3]))
			if !ok1 || !ok2 {
				return stInvalidMemoryAccess
			}
			// Context::setProperty: request filter state "wasm."+path; no
			// stream (root context) → NOT_FOUND
			// (docs/host-behaviours.md#properties-and-filter-state).
			c := vm.effective()
			if c == nil || c.s == nil {
				return stNotFound
			}
			c.s.setFilterState("wasm."+path, val)
			return stOK
		}},
		{"proxy_call_foreign_function", i32s(6), ret32, func(vm *VM, s []uint64) uint32 {
			name, ok := vm.readString(uint32(s[0]), uint32(s[1]))
			if _, ok2 := vm.read(uint32(s[2]), uint32(s[3])); !ok || !ok2 {
				return stInvalidMemoryAccess
			}
			switch name {
			case "clear_route_cache":
				// Envoy foreign.cc: no arguments, no result, OK. The
				// route cache is not modelled.
				return okOrMem((s[4] == 0 || vm.putU32(uint32(s[4]), 0)) && (s[5] == 0 || vm.putU32(uint32(s[5]), 0)))
			case "declare_property", "set_envoy_filter_state", "compress", "uncompress", "verify_signature":
				vm.logf(LogWarn, "host: foreign function "+name+" exists in Envoy but is not emulated")
				return stUnimplemented
			}
			return stNotFound
		}},
		// Registered for every module (HOST registerCallbacks).
		{"pthread_equal", i32s(2), ret32, func(vm *VM, s []uint64) uint32 {
			return uint32(b2u(uint32(s[0]) == uint32(s[1])))
		}},
		{"emscripten_notify_memory_growth", i32s(1), nil, answer(0)},
		{"proxy_continue_stream", i32s(1), ret32, envoyContinueStream},
		{"proxy_close_stream", i32s(1), ret32, envoyCloseStream},
	}
	if abi == abi021 {
		// Registered only for proxy_abi_version_0_2_1 modules.
		fs = append(fs, hostFunc{"proxy_get_log_level", i32s(1), ret32, func(vm *VM, s []uint64) uint32 {
			return okOrMem(vm.putU32(uint32(s[0]), uint32(vm.cfg.LogLevel)))
		}})
	}
	return fs
}

// envoyMap returns the header map a hostcall addresses in the effective
// context, or nil where Envoy's getMap (mutable) / getConstMap return
// nullptr. Request headers are gone once proxy_on_request_headers returned
// Continue (docs/host-behaviours.md#request-headers-after-continue); response headers likewise.
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
		if s.reqHOpen || s.accessLog && !mutable {
			return &s.reqH
		}
	case mapResponseHeaders:
		if s.respHOpen || s.accessLog && !mutable {
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

// envoyEditMap is Context::addHeaderMapValue, replaceHeaderMapValue,
// removeHeaderMapValue and setHeaderMapPairs: edit gets the key (the
// serialized pairs for set_header_map_pairs) and, withValue, the value,
// both in guest memory.
func envoyEditMap(withValue bool, edit func(m *headerMap, key, value []byte)) func(*VM, []uint64) uint32 {
	return func(vm *VM, s []uint64) uint32 {
		if uint32(s[0]) > mapMax {
			return stBadArgument
		}
		key, ok1 := vm.read(uint32(s[1]), uint32(s[2]))
		val, ok2 := []byte(nil), true
		if withValue {
			val, ok2 = vm.read(uint32(s[3]), uint32(s[4]))
		}
		if !ok1 || !ok2 {
			return stInvalidMemoryAccess
		}
		m := vm.envoyMap(uint32(s[0]), true)
		if m == nil {
			return stBadArgument
		}
		edit(m, key, val)
		return stOK
	}
}

// envoyBuffer is Context::getBuffer: a type beyond the last is
// BAD_ARGUMENT, nullptr NOT_FOUND; body buffers always exist, empty
// outside their callbacks.
func (vm *VM) envoyBuffer(t uint32) (b []byte, mutable *[]byte, st uint32) {
	c := vm.effective()
	switch {
	case t > bufMax:
		return nil, nil, stBadArgument
	case c == nil && (t == bufCallResponseBody || t == bufPluginConfig):
		return nil, nil, stNotFound
	case c == nil:
		return nil, nil, stOK
	}
	switch t {
	case bufRequestBody, bufResponseBody:
		if s := c.s; s != nil {
			if d := &s.dir[t]; d.buffering != 0 || d.bodyOpen {
				return d.body, &d.body, stOK
			}
		}
	case bufCallResponseBody:
		if r := c.p.callResp; r != nil {
			return r.body, nil, stOK
		}
		return nil, nil, stNotFound
	case bufVMConfiguration:
		return vm.cfg.VMConfiguration, nil, stOK
	case bufPluginConfig:
		// Only while proxy_on_configure runs (temp_plugin_ set).
		if c.p.configuring {
			return c.p.config, nil, stOK
		}
		return nil, nil, stNotFound
	}
	return nil, nil, stOK
}

func envoyGetBufferBytes(vm *VM, s []uint64) uint32 {
	b, _, st := vm.envoyBuffer(uint32(s[0]))
	if st != stOK {
		return st
	}
	start, max := uint64(uint32(s[1])), uint64(uint32(s[2]))
	// Reads are clamped to the buffer; an empty result is OK with 0/0.
	start = min(start, uint64(len(b)))
	return vm.copyOut(b[start:min(start+max, uint64(len(b)))], uint32(s[3]), uint32(s[4]))
}

func envoySetBufferBytes(vm *VM, s []uint64) uint32 {
	_, buf, st := vm.envoyBuffer(uint32(s[0]))
	if st != stOK {
		return st
	}
	start, size := int(uint32(s[1])), int(uint32(s[2]))
	data, ok := vm.read(uint32(s[3]), uint32(s[4]))
	if !ok {
		return stInvalidMemoryAccess
	}
	if buf == nil {
		// Immutable (config, call response) or absent: BufferBase::copyFrom.
		return stBadArgument
	}
	// ENVOY Buffer::copyFrom: start 0 with size 0 prepends, with size >= len
	// replaces; start >= len appends; anything else is BAD_ARGUMENT.
	switch n := len(*buf); {
	case start == 0 && size == 0:
		*buf = append(bytes.Clone(data), *buf...)
	case start == 0 && size >= n:
		*buf = append((*buf)[:0], data...)
	case start != 0 && start >= n:
		*buf = append(*buf, data...)
	default:
		return stBadArgument
	}
	return stOK
}

func envoySendLocalResponse(vm *VM, s []uint64) uint32 {
	details, ok1 := vm.readString(uint32(s[1]), uint32(s[2]))
	body, ok2 := vm.read(uint32(s[3]), uint32(s[4]))
	hdrs, ok3 := vm.read(uint32(s[5]), uint32(s[6]))
	if !ok1 || !ok2 || !ok3 {
		return stInvalidMemoryAccess
	}
	if c := vm.effective(); c != nil && c.s != nil && c.s.local == nil {
		// Deferred until the VM call returns (addAfterVmCallAction); the
		// callback's result is then overridden (HOST stopNextIteration).
		c.s.local = &localReply{
			status:  int(uint32(s[0])),
			body:    bytes.Clone(body),
			headers: parsePairs(hdrs),
			details: strings.Join(strings.Fields(details), "_"),
		}
		c.s.ended()
	}
	return stOK
}

func envoyContinueStream(vm *VM, s []uint64) uint32 {
	switch t := uint32(s[0]); {
	case t > 3:
		return stBadArgument
	case t == 3:
		return stUnimplemented
	case t <= 1:
		if c := vm.effective(); c != nil && c.s != nil {
			// Deferred continueDecoding/continueEncoding. The request maps
			// are dropped at once, for either direction
			// (Context::continueStream).
			st := c.s
			st.cont[t] = true
			st.reqHOpen, st.dir[dirRequest].bodyOpen, st.reqTOpen = false, false, false
			st.signal()
		}
	}
	// Without decoder callbacks (root context) it is a silent no-op.
	return stOK
}

func envoyCloseStream(vm *VM, s []uint64) uint32 {
	t := uint32(s[0])
	if t > 3 {
		return stBadArgument
	}
	if c := vm.effective(); t <= 1 && c != nil && c.s != nil && c.s.reset == "" {
		c.s.reset = "wasm_close_stream"
		c.s.ended()
	}
	return stOK
}

// ---- metrics (Context::defineMetric & co., docs/host-behaviours.md#metrics) ----

func envoyDefineMetric(vm *VM, s []uint64) uint32 {
	t := uint32(s[0])
	name, ok := vm.readString(uint32(s[1]), uint32(s[2]))
	if !ok {
		return stInvalidMemoryAccess
	}
	if t > metricHistogram {
		return stBadArgument
	}
	if vm.metrics == nil {
		vm.metrics = map[uint32]*Metric{}
	}
	// Ids carry the type in the low two bits and advance by 4, per VM.
	vm.nextMet[t] += 4
	id := vm.nextMet[t] | t
	vm.metrics[id] = vm.shared.stat("wasmcustom."+name, MetricType(t))
	return okOrMem(vm.putU32(uint32(s[3]), id))
}

// envoyCounterOrGauge is the metric increment and get act on: a histogram
// id is BAD_ARGUMENT, an undefined one NOT_FOUND.
func (vm *VM) envoyCounterOrGauge(id uint32) (*Metric, uint32) {
	if id&3 != metricCounter && id&3 != metricGauge {
		return nil, stBadArgument
	}
	if m := vm.metrics[id]; m != nil {
		return m, stOK
	}
	return nil, stNotFound
}

func envoyIncrementMetric(vm *VM, s []uint64) uint32 {
	id, delta := uint32(s[0]), int64(s[1])
	m, st := vm.envoyCounterOrGauge(id)
	if st != stOK {
		return st
	}
	if id&3 == metricCounter && delta <= 0 {
		return stBadArgument
	}
	vm.shared.updateMetric(func() { m.Value += uint64(delta) })
	return stOK
}

func envoyRecordMetric(vm *VM, s []uint64) uint32 {
	id, v := uint32(s[0]), s[1]
	m := vm.metrics[id]
	if m == nil || id&3 > metricHistogram {
		return stNotFound
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
	return stOK
}

func envoyGetMetric(vm *VM, s []uint64) uint32 {
	m, st := vm.envoyCounterOrGauge(uint32(s[0]))
	if st != stOK {
		return st
	}
	var v uint64
	vm.shared.updateMetric(func() { v = m.Value })
	return okOrMem(vm.putU64(uint32(s[1]), v))
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
