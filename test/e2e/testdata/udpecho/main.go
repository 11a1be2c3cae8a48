// Command udpecho is a test workload: "udpecho serve PORT" answers every UDP
// datagram with the host's name; "udpecho ask HOST:PORT N" sends N datagrams
// and prints each answer (or "timeout") on its own line. Busybox's nc has no
// UDP on Debian, so the end-to-end suite builds this into an image.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: udpecho serve PORT | udpecho ask HOST:PORT N")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		pc, err := net.ListenPacket("udp", ":"+os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		host, _ := os.Hostname()
		buf := make([]byte, 1500)
		for {
			_, addr, err := pc.ReadFrom(buf)
			if err != nil {
				continue
			}
			pc.WriteTo([]byte(host+"\n"), addr)
		}
	case "ask":
		n := 1
		if len(os.Args) > 3 {
			n, _ = strconv.Atoi(os.Args[3])
		}
		for i := 0; i < n; i++ {
			conn, err := net.Dial("udp", os.Args[2])
			if err != nil {
				fmt.Println("error", err)
				continue
			}
			conn.SetDeadline(time.Now().Add(time.Second))
			conn.Write([]byte("hi"))
			buf := make([]byte, 1500)
			k, err := conn.Read(buf)
			if err != nil {
				fmt.Println("timeout")
			} else {
				fmt.Print(string(buf[:k]))
			}
			conn.Close()
		}
	}
}
