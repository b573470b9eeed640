package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// A helper process connects to the session bus once per request, so the
// handshake is on the hot path. godbus spends four round trips on it (it asks
// for the mechanisms, then EXTERNAL, answers a DATA challenge, negotiates file
// descriptors) and a fifth on Hello. Here the client's whole side of the
// handshake goes in one write, as sd-bus sends it (EXTERNAL with the identity
// left to the socket's credentials, which also holds in a user namespace),
// the server's OK is the one round trip, and Hello is sent without waiting
// for its reply: the bus handles a connection's messages in order, so it still
// comes first. godbus is then given the connection with its own handshake
// answered locally. Addresses other than a single unix socket, or a bus that
// does not answer OK at once, take godbus's ordinary path.

// errSlowPath says that the pipelined handshake does not apply.
var errSlowPath = errors.New("pipelined handshake not applicable")

// dialPipelined connects to a unix-socket bus address with the pipelined
// handshake. It returns errSlowPath when the address or the bus calls for
// godbus's own handshake instead.
func dialPipelined(ctx context.Context, addr string) (*dbus.Conn, error) {
	network, path, ok := unixBusSocket(addr)
	if !ok {
		return nil, errSlowPath
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, path)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, "\x00AUTH EXTERNAL\r\nDATA\r\nBEGIN\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	r := bufio.NewReader(c)
	guid, err := readAuthOK(r)
	if err != nil {
		c.Close()
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, context.DeadlineExceeded
		}
		return nil, err
	}
	c.SetDeadline(time.Time{})
	t := &preauthed{c: c, r: r, guid: guid}
	conn, err := dbus.NewConn(t)
	if err != nil {
		c.Close()
		return nil, err
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal("")}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("replaying the handshake: %w", err)
	}
	conn.BusObject().Go("org.freedesktop.DBus.Hello", 0, nil)
	return conn, nil
}

// readAuthOK reads the server's answers to the pipelined handshake: a DATA
// challenge to EXTERNAL, then OK and the bus's GUID. Anything else (REJECTED:
// the bus wants another mechanism, and drops the BEGIN sent too early) means
// starting again the slow way.
func readAuthOK(r *bufio.Reader) (guid string, err error) {
	for i := 0; i < 2; i++ {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimSuffix(line, "\r\n")
		if i == 0 && (line == "DATA" || strings.HasPrefix(line, "DATA ")) {
			continue
		}
		guid, ok := strings.CutPrefix(line, "OK ")
		if !ok || guid == "" || strings.ContainsRune(guid, ' ') {
			break
		}
		return guid, nil
	}
	return "", errSlowPath
}

// unixBusSocket parses a D-Bus address naming one unix socket
// (unix:path=… or unix:abstract=…, values %-escaped).
func unixBusSocket(addr string) (network, path string, ok bool) {
	rest, ok := strings.CutPrefix(addr, "unix:")
	if !ok || strings.Contains(rest, ";") {
		return "", "", false
	}
	for kv := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(kv, "=")
		val, err := unescapeBusValue(v)
		if err != nil {
			return "", "", false
		}
		switch k {
		case "path":
			path = val
		case "abstract":
			path = "@" + val
		case "guid":
		default:
			return "", "", false
		}
	}
	return "unix", path, path != "" && path != "@"
}

// unescapeBusValue undoes a D-Bus address value's %-escaping.
func unescapeBusValue(v string) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", errors.New("truncated escape")
		}
		n, err := strconv.ParseUint(v[i+1:i+3], 16, 8)
		if err != nil {
			return "", err
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// preauthed is a connection whose handshake already happened. It answers
// godbus's handshake from memory, swallowing what godbus writes until its
// BEGIN, then passes everything through.
type preauthed struct {
	c       net.Conn
	r       *bufio.Reader
	guid    string
	pending []byte // local answers to godbus's handshake
	open    bool   // past godbus's BEGIN
}

func (p *preauthed) Write(b []byte) (int, error) {
	if p.open {
		return p.c.Write(b)
	}
	for line := range bytes.Lines(b) {
		switch l := string(bytes.TrimRight(line, "\r\n")); {
		case l == "\x00", l == "":
		case l == "AUTH":
			p.pending = append(p.pending, "REJECTED EXTERNAL\r\n"...)
		case strings.HasPrefix(l, "AUTH EXTERNAL"):
			p.pending = append(p.pending, "OK "+p.guid+"\r\n"...)
		case l == "BEGIN":
			p.open = true
		default:
			return 0, fmt.Errorf("unexpected handshake line %q", l)
		}
	}
	return len(b), nil
}

func (p *preauthed) Read(b []byte) (int, error) {
	if len(p.pending) > 0 {
		n := copy(b, p.pending)
		p.pending = p.pending[n:]
		return n, nil
	}
	if !p.open {
		return 0, errors.New("handshake read with nothing to answer")
	}
	return p.r.Read(b)
}

func (p *preauthed) Close() error { return p.c.Close() }
