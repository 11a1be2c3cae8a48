package podnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ErrAddressesExhausted is returned (wrapped) by CreateSandbox when every
// assignable address of the pod CIDR is allocated.
var ErrAddressesExhausted = errors.New("no free address in pod CIDR")

// lastReservedFile names the file holding the most recently allocated
// address, the starting point of the next round-robin scan.
const lastReservedFile = "last_reserved_ip"

// ipam is a host-local address allocator persisted on disk, in the manner
// of the CNI host-local plugin: dir holds one file per allocated address,
// named after the address and containing the owner's pod UID, plus
// lastReservedFile. The files are the only state, so a new ipam on the same
// directory (an agent restart) never hands out an allocated address.
//
// An address is claimed by writing a temporary file and hard-linking it to
// its final name: link(2) fails with EEXIST if the address is taken, so a
// claim is atomic and a claimed file always holds its owner.
type ipam struct {
	dir string
	// first and last are the assignable range: the addresses after the
	// gateway up to the one before broadcast.
	first, last uint32
	gateway     net.IP
	prefixLen   int
	log         *slog.Logger

	mu sync.Mutex
}

// newIPAM returns an allocator for cidr storing its state in dir. It does
// not touch the disk.
func newIPAM(dir string, cidr *net.IPNet, log *slog.Logger) (*ipam, error) {
	ip4 := cidr.IP.To4()
	ones, bits := cidr.Mask.Size()
	if ip4 == nil || bits != 32 {
		return nil, fmt.Errorf("pod CIDR %s: only IPv4 is supported", cidr)
	}
	if ones > 30 {
		return nil, fmt.Errorf("pod CIDR %s: prefix must be /30 or shorter", cidr)
	}
	network := ipToU32(ip4.Mask(cidr.Mask))
	broadcast := network | ^uint32(0)>>ones
	return &ipam{
		dir:       dir,
		first:     network + 2,
		last:      broadcast - 1,
		gateway:   u32ToIP(network + 1),
		prefixLen: ones,
		log:       log,
	}, nil
}

// allocate returns the address held by uid, claiming the next free one
// after the last reserved address if uid holds none.
func (a *ipam) allocate(uid string) (net.IP, error) {
	a.mu.Lock()
	defer a.mu.Unlock()

	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return nil, fmt.Errorf("ipam: %w", err)
	}
	held, err := a.scan()
	if err != nil {
		return nil, err
	}
	for ip, owner := range held {
		if owner == uid {
			return u32ToIP(ip), nil
		}
	}

	start := a.first
	if last, ok := a.lastReserved(); ok && last >= a.first && last < a.last {
		start = last + 1
	}
	size := a.last - a.first + 1
	for i := range size {
		cand := a.first + (start-a.first+i)%size
		if _, taken := held[cand]; taken {
			continue
		}
		ok, err := a.claim(cand, uid)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // claimed by someone else since the scan
		}
		ip := u32ToIP(cand)
		if err := writeFileAtomic(filepath.Join(a.dir, lastReservedFile), []byte(ip.String())); err != nil {
			// The claim stands: the hint only delays reuse of freed addresses.
			a.log.Warn("ipam: cannot record last reserved address", "ip", ip, "err", err)
		}
		return ip, nil
	}
	return nil, fmt.Errorf("ipam: %s: %w", a.describe(), ErrAddressesExhausted)
}

// lookup returns the address held by uid.
func (a *ipam) lookup(uid string) (net.IP, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	held, err := a.scan()
	if err != nil {
		return nil, false, err
	}
	for ip, owner := range held {
		if owner == uid {
			return u32ToIP(ip), true, nil
		}
	}
	return nil, false, nil
}

// release frees every address held by uid. Releasing a uid that holds
// nothing is not an error.
func (a *ipam) release(uid string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	held, err := a.scan()
	if err != nil {
		return err
	}
	var errs []error
	for ip, owner := range held {
		if owner != uid {
			continue
		}
		err := os.Remove(filepath.Join(a.dir, u32ToIP(ip).String()))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("ipam: release %s: %w", u32ToIP(ip), err))
		}
	}
	return errors.Join(errs...)
}

// scan reads the allocation files in range. A missing directory holds
// nothing.
func (a *ipam) scan() (map[uint32]string, error) {
	entries, err := os.ReadDir(a.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[uint32]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ipam: %w", err)
	}
	held := make(map[uint32]string, len(entries))
	for _, e := range entries {
		ip := net.ParseIP(e.Name()).To4()
		if ip == nil || !e.Type().IsRegular() {
			continue // lastReservedFile, temporary files
		}
		b, err := os.ReadFile(filepath.Join(a.dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ipam: %w", err)
		}
		held[ipToU32(ip)] = strings.TrimSpace(string(b))
	}
	return held, nil
}

// claim atomically creates the allocation file for ip owned by uid. It
// reports false if the address is already taken.
func (a *ipam) claim(ip uint32, uid string) (bool, error) {
	tmp, err := os.CreateTemp(a.dir, ".claim-*")
	if err != nil {
		return false, fmt.Errorf("ipam: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(uid)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return false, fmt.Errorf("ipam: %w", werr)
	}
	err = os.Link(tmp.Name(), filepath.Join(a.dir, u32ToIP(ip).String()))
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ipam: claim %s: %w", u32ToIP(ip), err)
	}
	return true, nil
}

func (a *ipam) lastReserved() (uint32, bool) {
	b, err := os.ReadFile(filepath.Join(a.dir, lastReservedFile))
	if err != nil {
		return 0, false
	}
	ip := net.ParseIP(strings.TrimSpace(string(b))).To4()
	if ip == nil {
		return 0, false
	}
	return ipToU32(ip), true
}

func (a *ipam) describe() string {
	return fmt.Sprintf("range %s-%s", u32ToIP(a.first), u32ToIP(a.last))
}

// writeFileAtomic replaces path with data through a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return werr
	}
	return os.Rename(tmp.Name(), path)
}

func ipToU32(ip net.IP) uint32 { return binary.BigEndian.Uint32(ip.To4()) }

func u32ToIP(v uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, v)
	return ip
}
