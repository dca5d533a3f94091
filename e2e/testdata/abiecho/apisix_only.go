//go:build apisix

package main

// noImport answers for host functions this build does not import.
const noImport = 99

func proxyGetLogLevel(ret *uint32) uint32                         { return noImport }
func proxyGetHeaderMapSize(t uint32, ret *uint32) uint32          { return noImport }
func proxyGetBufferStatus(t uint32, length, flags *uint32) uint32 { return noImport }
func proxyGetMetric(id uint32, ret *uint64) uint32                { return noImport }
