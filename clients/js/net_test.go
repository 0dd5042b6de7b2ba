package js_test

import "net"

type netTCPAddr = net.TCPAddr

func resolve(s string) (*net.TCPAddr, error) { return net.ResolveTCPAddr("tcp", s) }
