package host

import "sync"

// Shared is the state one host process shares between its VMs: shared
// data and queues (scoped by vm_id, HOST src/shared_data.cc,
// shared_queue.cc) and the stats store (metric ids are per VM, stats are
// process-wide, docs/host-behaviours.md#metrics).
type Shared struct {
	mu     sync.Mutex
	data   map[[2]string]sharedValue // (vm_id, key) → value
	cas    uint32
	queues map[uint32]*queue
	qnames map[[2]string]uint32 // (vm_id, name) → token
	qtoken uint32

	metricsMu sync.Mutex
	metrics   map[string]*Metric
}

type sharedValue struct {
	value []byte
	cas   uint32
}

type queue struct {
	items [][]byte
	// owner receives proxy_on_queue_ready.
	vm   *VM
	root uint32
}

// NewShared returns an empty process state.
func NewShared() *Shared {
	return &Shared{
		data:    map[[2]string]sharedValue{},
		cas:     1,
		queues:  map[uint32]*queue{},
		qnames:  map[[2]string]uint32{},
		metrics: map[string]*Metric{},
	}
}

// nextCAS mirrors SharedData::nextCas: starts at 1 and skips 0 on wrap.
func (s *Shared) nextCAS() uint32 {
	c := s.cas
	s.cas++
	if s.cas == 0 {
		s.cas++
	}
	return c
}

func (s *Shared) getData(vmID, key string) ([]byte, uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[[2]string{vmID, key}]
	return v.value, v.cas, ok
}

// setData: cas 0 sets unconditionally; a non-zero cas must match the
// stored one (CAS_MISMATCH otherwise); an absent key is created whatever
// the cas; every set assigns a new cas (docs/proxy-wasm-abi.md#host-functions).
func (s *Shared) setData(vmID, key string, value []byte, cas uint32) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{vmID, key}
	if v, ok := s.data[k]; ok && cas != 0 && cas != v.cas {
		return stCASMismatch
	}
	s.data[k] = sharedValue{value: value, cas: s.nextCAS()}
	return stOK
}

// registerQueue returns the token of (vmID, name), creating the queue; the
// registering root receives proxy_on_queue_ready.
func (s *Shared) registerQueue(vmID, name string, vm *VM, root uint32) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{vmID, name}
	if t, ok := s.qnames[k]; ok {
		s.queues[t].vm, s.queues[t].root = vm, root
		return t
	}
	s.qtoken++
	s.qnames[k] = s.qtoken
	s.queues[s.qtoken] = &queue{vm: vm, root: root}
	return s.qtoken
}

func (s *Shared) resolveQueue(vmID, name string) (uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.qnames[[2]string{vmID, name}]
	return t, ok
}

func (s *Shared) enqueue(token uint32, v []byte) (owner *VM, root uint32, status uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[token]
	if q == nil {
		return nil, 0, stNotFound
	}
	q.items = append(q.items, v)
	return q.vm, q.root, stOK
}

func (s *Shared) dequeue(token uint32) ([]byte, uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[token]
	if q == nil {
		return nil, stNotFound
	}
	if len(q.items) == 0 {
		return nil, stEmpty
	}
	v := q.items[0]
	q.items = q.items[1:]
	return v, stOK
}

// MetricType is proxy_metric_type_t.
type MetricType uint32

const (
	Counter   MetricType = metricCounter
	Gauge     MetricType = metricGauge
	Histogram MetricType = metricHistogram
)

// Metric is a snapshot of one stat.
type Metric struct {
	Type MetricType
	// Value of a counter or gauge (Envoy gauges are uint64 and wrap on sub).
	Value uint64
	// Samples recorded into a histogram, in order.
	Samples []uint64
}

// stat returns the process-wide stat called name, creating it; defining a
// name again returns the same stat (docs/host-behaviours.md#metrics).
func (s *Shared) stat(name string, t MetricType) *Metric {
	s.metricsMu.Lock()
	defer s.metricsMu.Unlock()
	m := s.metrics[name]
	if m == nil {
		m = &Metric{Type: t}
		s.metrics[name] = m
	}
	return m
}

func (s *Shared) updateMetric(f func()) {
	s.metricsMu.Lock()
	f()
	s.metricsMu.Unlock()
}

// Metric returns the stat with its full name as Envoy's stats store holds
// it, e.g. "wasmcustom.llm_requests_total".
func (s *Shared) Metric(name string) (Metric, bool) {
	s.metricsMu.Lock()
	defer s.metricsMu.Unlock()
	m, ok := s.metrics[name]
	if !ok {
		return Metric{}, false
	}
	return m.snapshot(), true
}

// Metrics returns a snapshot of every stat by full name.
func (s *Shared) Metrics() map[string]Metric {
	s.metricsMu.Lock()
	defer s.metricsMu.Unlock()
	out := make(map[string]Metric, len(s.metrics))
	for k, m := range s.metrics {
		out[k] = m.snapshot()
	}
	return out
}

func (m *Metric) snapshot() Metric {
	c := *m
	c.Samples = append([]uint64(nil), m.Samples...)
	return c
}
