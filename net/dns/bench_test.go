package dns

import (
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	v1 "orch.io/orch/api/v1"
)

// BenchmarkServeA measures A queries per second answered through the real
// UDP listener, with one connected client socket per parallel goroutine.
func BenchmarkServeA(b *testing.B) {
	s := startServer(b, Config{})
	var services []*v1.Service
	for i := range 1000 {
		services = append(services, service("default", "svc"+strconv.Itoa(i), []string{"10.96.3." + strconv.Itoa(i%250)}))
	}
	s.Update(services, nil)
	req, err := question("svc500.default.svc.cluster.local.", dns.TypeA).Pack()
	if err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := dns.Dial("udp", s.Addr())
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		buf := make([]byte, dns.MinMsgSize)
		for pb.Next() {
			if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
				b.Error(err)
				return
			}
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			n, err := conn.Read(buf)
			if err != nil {
				b.Error(err)
				return
			}
			if n < 12 || buf[3]&0x0f != dns.RcodeSuccess {
				b.Errorf("bad response of %d bytes", n)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}
