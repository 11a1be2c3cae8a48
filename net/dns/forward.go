package dns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// defaultForwardTimeout bounds one exchange with one upstream.
const defaultForwardTimeout = 2 * time.Second

// forward relays req to the upstreams in order and returns the first
// answer. An upstream whose UDP answer is truncated is asked again over
// TCP. Without upstreams the answer is REFUSED; when none answers, it is
// the last truncated answer if any, else SERVFAIL.
func (s *Server) forward(ctx context.Context, req *dns.Msg) *dns.Msg {
	if len(s.upstreams) == 0 {
		return new(dns.Msg).SetRcode(req, dns.RcodeRefused)
	}
	q := req.Question[0]
	var truncated *dns.Msg
	for _, up := range s.upstreams {
		resp, err := s.exchange(ctx, s.udpClient, req, up)
		if err == nil && resp.Truncated {
			truncated = resp
			resp, err = s.exchange(ctx, s.tcpClient, req, up)
		}
		if err == nil {
			resp.Compress = true
			return resp
		}
		s.log.Debug("upstream failed", "name", q.Name, "type", dns.TypeToString[q.Qtype], "err", err)
		if ctx.Err() != nil {
			break
		}
	}
	if truncated != nil {
		return truncated
	}
	s.log.Warn("no upstream answered", "name", q.Name, "type", dns.TypeToString[q.Qtype], "upstreams", s.upstreams)
	resp := new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(advertisedUDPSize, opt.Do())
	}
	return resp
}

// exchange sends req to one upstream with c and waits at most the forward
// timeout for its answer.
func (s *Server) exchange(ctx context.Context, c *dns.Client, req *dns.Msg, upstream string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, s.fwdTimeout)
	defer cancel()
	resp, _, err := c.ExchangeContext(ctx, req, upstream)
	if err != nil {
		return nil, fmt.Errorf("dns: forward to %s over %s: %w", upstream, c.Net, err)
	}
	return resp, nil
}

// upstreamAddr normalises an upstream given as IP:port or as a bare IP
// (port 53) into IP:port.
func upstreamAddr(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("dns: upstream %q is neither IP:port nor IP: %w", s, err)
	}
	return netip.AddrPortFrom(ip, 53).String(), nil
}

// upstreamsFromResolvConf reads the nameservers of the resolv.conf at path
// (DefaultResolvConf when empty) and keeps those that are neither loopback
// nor self, as IP:53.
func upstreamsFromResolvConf(path string, self net.IP, log *slog.Logger) ([]string, error) {
	explicit := path != ""
	if !explicit {
		path = DefaultResolvConf
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		log.Warn("no resolv.conf, names outside the cluster domain will be refused", "path", path)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dns: read upstreams: %w", err)
	}
	defer f.Close()
	servers, err := parseResolvConf(f)
	if err != nil {
		return nil, fmt.Errorf("dns: read upstreams from %s: %w", path, err)
	}
	selfAddr, _ := netip.AddrFromSlice(self)
	selfAddr = selfAddr.Unmap()
	var ups []string
	for _, ip := range servers {
		if ip.Unmap().IsLoopback() || ip.IsUnspecified() || ip.WithZone("") == selfAddr {
			log.Debug("skipping nameserver that would loop back", "nameserver", ip, "path", path)
			continue
		}
		ups = append(ups, netip.AddrPortFrom(ip, 53).String())
	}
	if len(ups) == 0 {
		log.Warn("no usable nameserver, names outside the cluster domain will be refused", "path", path, "nameservers", servers)
	}
	return ups, nil
}

// parseResolvConf returns the addresses of the "nameserver" lines of a
// resolv.conf, in order, ignoring comments and malformed entries as the C
// library does.
func parseResolvConf(r io.Reader) ([]netip.Addr, error) {
	var servers []netip.Addr
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if ip, err := netip.ParseAddr(f[1]); err == nil {
			servers = append(servers, ip.Unmap())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse resolv.conf: %w", err)
	}
	return servers, nil
}
