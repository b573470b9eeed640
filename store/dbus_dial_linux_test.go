package store_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/activeloopai/activeloop-credential-helper/internal/testenv"
	"github.com/activeloopai/activeloop-credential-helper/store"
	"github.com/godbus/dbus/v5"
)

// busID asks the bus for its ID: a bus answers nothing but Hello from a
// client that has not sent Hello first, so an answer shows the connection
// was set up whole.
func busID(t *testing.T, ctx context.Context, o store.Options) string {
	t.Helper()
	conn, err := store.DialSessionBus(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var id string
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetId", 0).Store(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestDialPipelined(t *testing.T) {
	bus := testenv.SessionBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	conn, err := store.DialPipelined(ctx, bus)
	if err != nil {
		t.Fatalf("the pipelined handshake was not used on %s: %v", bus, err)
	}
	var id string
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetId", 0).Store(&id); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	if got := busID(t, ctx, store.Options{SessionBus: bus}); got != id {
		t.Fatalf("bus ID %q through dialSessionBus, %q directly", got, id)
	}
}

// A bus that does not answer the pipelined handshake with OK is connected to
// again with godbus's own handshake.
func TestDialFallsBackToGodbusHandshake(t *testing.T) {
	sock := t.TempDir() + "/bus"
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A server that rejects every mechanism, and keeps what each
	// connection's first write began with.
	first := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				buf := make([]byte, 64)
				n, _ := r.Read(buf)
				first <- string(buf[:n])
				c.Write([]byte("REJECTED EXTERNAL\r\n"))
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					c.Write([]byte("REJECTED EXTERNAL\r\n"))
				}
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = store.DialSessionBus(ctx, store.Options{SessionBus: "unix:path=" + sock})
	if err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("err = %v, want godbus's authentication failure", err)
	}
	if got := <-first; !strings.HasPrefix(got, "\x00AUTH EXTERNAL\r\nDATA\r\nBEGIN\r\n") {
		t.Errorf("first connection began %q, want the pipelined handshake", got)
	}
	if got := <-first; !strings.HasPrefix(got, "\x00") || strings.Contains(got, "BEGIN") {
		t.Errorf("second connection began %q, want godbus's handshake", got)
	}
}

// A socket that accepts and never answers ends in an error at the deadline.
func TestDialPipelinedSilentBus(t *testing.T) {
	sock := t.TempDir() + "/bus"
	l := listenUnix(t, sock)
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := store.DialSessionBus(ctx, store.Options{SessionBus: "unix:path=" + sock})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

// listenUnix listens on a unix socket, accepting connections and keeping
// them open without a word.
func listenUnix(t *testing.T, path string) net.Listener {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l
}

// TestNoActivation checks that opening a D-Bus backend whose service is not
// running fails at once and never D-Bus-activates it: an activated
// gnome-keyring would be a second daemon with the login keyring locked, and
// kwalletd5 aborts without a display.
func TestNoActivation(t *testing.T) {
	for _, tc := range []struct{ backend, service, says string }{
		{"secret-service", "org.freedesktop.secrets", "no Secret Service"},
		{"kwallet", "org.kde.kwalletd5", "kwalletd5 is not running"},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			bus, activated := testenv.ActivatingSessionBus(t, tc.service)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := store.Open(ctx, tc.backend, store.Options{SessionBus: bus})
			if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Open: %v; want %q", err, tc.says)
			}
			// An activation would have been asked for by now; give the bus
			// a moment to run the service's command anyway.
			time.Sleep(100 * time.Millisecond)
			if a := activated(); len(a) != 0 {
				t.Fatalf("activated %q", a)
			}

			// The positive control: a call without NoAutoStart activates.
			conn, err := dbus.Connect(bus)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			conn.BusObject().CallWithContext(short, "org.freedesktop.DBus.StartServiceByName", 0, tc.service, uint32(0))
			deadline := time.Now().Add(2 * time.Second)
			for len(activated()) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if a := activated(); len(a) != 1 || a[0] != tc.service {
				t.Fatalf("the control activation recorded %q", a)
			}
		})
	}
}
