package clustertest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports are picked below the kernel's ephemeral range: a port from that
// range that is free now may become the local port of some outgoing
// connection while a killed node is down, and the node could not bind it
// again when it restarts. Every node keeps its ports across restarts,
// because the other nodes' configuration names them.
const lowestPort = 12000

var (
	portsMu  sync.Mutex
	usedPort = map[int]bool{} // handed out by this process
)

// ephemeralLow is the first port of net.ipv4.ip_local_port_range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > lowestPort+1000 {
				return v
			}
		}
	}
	return 32768
}

// FreePort returns a loopback port that was free a moment ago and that
// this process has not handed out before.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	high := ephemeralLow()
	for i := 0; i < 1000; i++ {
		p := lowestPort + rand.IntN(high-lowestPort)
		if usedPort[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		usedPort[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port found in [%d, %d)", lowestPort, high)
}

// addr is 127.0.0.1:port.
func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
