package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/godbus/dbus/v5"
)

// kwalletd's D-Bus API, org.kde.KWallet (kwallet's src/runtime/kwalletd).
const (
	kwName  = "org.kde.kwalletd5"
	kwPath  = dbus.ObjectPath("/modules/kwalletd5")
	kwIface = "org.kde.KWallet"

	// kwPrefix marks our encoding of data. KWallet passwords are QStrings,
	// which cannot hold arbitrary bytes; base64 makes any data round-trip
	// exactly, and the prefix leaves room for another encoding later.
	kwPrefix = "base64:"
)

func init() { backends["kwallet"] = openKWallet }

// kwallet keeps each item as a password entry in one folder of one wallet.
type kwallet struct {
	conn   *dbus.Conn
	obj    dbus.BusObject
	wallet string
	folder string
	handle int32
}

func openKWallet(ctx context.Context, o Options) (Backend, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	conn, err := dialSessionBus(ctx, o)
	if err != nil {
		return nil, err
	}
	k, err := newKWallet(ctx, conn, o)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return k, nil
}

// newKWallet checks that kwalletd runs and opens the wallet, so that a
// backend that opens is one that works.
func newKWallet(ctx context.Context, conn *dbus.Conn, o Options) (*kwallet, error) {
	// Every call carries NoAutoStart (D-Bus activation of kwalletd5 aborts
	// without a display), so a kwalletd that is not running fails the first
	// call: no separate NameHasOwner round trip.
	k := &kwallet{conn: conn, obj: conn.Object(kwName, kwPath), wallet: o.KWalletWallet, folder: o.KWalletFolder}
	if k.folder == "" {
		k.folder = Namespace
	}
	// Opening a missing wallet shows a wizard to create it, which cannot be
	// finished before any deadline, so it is never opened. Which wallet, and
	// whether it exists, found as KDE's client library finds them, or else
	// asked of kwalletd together: one round trip.
	if name, ok := localWallet(k.wallet); ok {
		k.wallet = name
	} else if err := k.findWallet(ctx); err != nil {
		return nil, err
	}
	if o.Probe {
		// Opening may show kwalletd's dialogs (the wallet's password, or
		// whether to let this helper in): a probe asks nobody.
		return k, nil
	}
	handle, err := k.open(ctx)
	if err != nil {
		return nil, err
	}
	k.handle = handle
	return k, nil
}

// findWallet asks kwalletd for the network wallet, unless one is configured,
// and checks that it exists.
func (k *kwallet) findWallet(ctx context.Context) error {
	var network *dbus.Call
	if k.wallet == "" {
		network = k.obj.GoWithContext(ctx, kwIface+".networkWallet", dbus.FlagNoAutoStart, nil)
	}
	var wallets []string
	if err := call(ctx, k.obj, kwIface+".wallets").Store(&wallets); err != nil {
		return kwalletdError(ctx, "listing kwallet wallets", err)
	}
	if network != nil {
		<-network.Done
		if err := network.Store(&k.wallet); err != nil {
			return kwalletdError(ctx, "asking kwalletd for the network wallet", err)
		}
	}
	if !slices.Contains(wallets, k.wallet) {
		return fmt.Errorf("%w: kwallet has no wallet named %q; create it with kwalletmanager5, or name another in the config file", ErrUnavailable, k.wallet)
	}
	return nil
}

// kwalletdError is busError, saying plainly when kwalletd is not running.
func kwalletdError(ctx context.Context, what string, err error) error {
	return notRunningError(ctx, what, err, "kwalletd5 is not running on the session bus; log in to a Plasma session, or choose another backend")
}

// open opens the wallet through openAsync with handleSession set, unlike the
// plain open: kwalletd then ties our handle to this connection and releases
// it when the process exits, instead of keeping one more session for every
// run of the helper.
func (k *kwallet) open(ctx context.Context) (int32, error) {
	// Only kwalletd's signals: the bus resolves the name, so that a
	// signal forged by another client never reaches us.
	// Sent without waiting for the bus's reply, to save two round trips:
	// the bus handles one connection's messages in order, so the rule is in
	// place before openAsync reaches kwalletd.
	const rule = "type='signal',sender='" + kwName + "',path='" + string(kwPath) + "',interface='" + kwIface + "',member='walletAsyncOpened'"
	k.conn.BusObject().Go("org.freedesktop.DBus.AddMatch", dbus.FlagNoReplyExpected, nil, rule)
	defer k.conn.BusObject().Go("org.freedesktop.DBus.RemoveMatch", dbus.FlagNoReplyExpected, nil, rule)
	ch := make(chan *dbus.Signal, 4)
	k.conn.Signal(ch)
	defer k.conn.RemoveSignal(ch)

	var tid int32
	if err := call(ctx, k.obj, kwIface+".openAsync", k.wallet, int64(0), Namespace, true).Store(&tid); err != nil {
		return 0, kwalletdError(ctx, "opening wallet "+k.wallet, err)
	}
	if tid < 0 {
		return 0, fmt.Errorf("%w: kwalletd refused to open wallet %q: kwallet is disabled in the system settings", ErrUnavailable, k.wallet)
	}
	wait, cancel := beforeDeadline(ctx)
	defer cancel()
	for {
		select {
		case sig, ok := <-ch:
			if !ok {
				return 0, fmt.Errorf("%w: the session bus connection closed while opening wallet %q", ErrUnavailable, k.wallet)
			}
			var t, handle int32
			if sig.Path != kwPath || sig.Name != kwIface+".walletAsyncOpened" || dbus.Store(sig.Body, &t, &handle) != nil || t != tid {
				continue
			}
			if handle < 0 {
				return 0, fmt.Errorf("%w: kwalletd did not open wallet %q: access was denied or its password prompt was cancelled", ErrUnavailable, k.wallet)
			}
			return handle, nil
		case <-wait.Done():
			// What kwalletd waits for depends on whether the wallet is open:
			// asked now, in the time left before the deadline.
			var wasOpen bool
			if call(ctx, k.obj, kwIface+".isOpen", k.wallet).Store(&wasOpen) == nil && wasOpen {
				return 0, fmt.Errorf("%w: kwalletd did not let this helper into wallet %q in time; allow %s in kwalletmanager5, then retry", ErrUnavailable, k.wallet, Namespace)
			}
			return 0, fmt.Errorf("%w: kwallet wallet %q is closed and kwalletd is asking for its password; open it (e.g. in kwalletmanager5), then retry", ErrUnavailable, k.wallet)
		}
	}
}

func (k *kwallet) Name() string { return "kwallet" }

// Close ends the connection, which releases the wallet; the process's exit
// does the same.
func (k *kwallet) Close() error { return k.conn.Close() }

func (k *kwallet) Get(ctx context.Context, key string) ([]byte, error) {
	var s string
	if err := call(ctx, k.obj, kwIface+".readPassword", k.handle, k.folder, key, Namespace).Store(&s); err != nil {
		return nil, busError(ctx, "reading item "+key, err)
	}
	if s == "" {
		// Our encoding is never empty: no such entry, or the handle is no
		// longer valid.
		if err := k.checkOpen(ctx); err != nil {
			return nil, err
		}
		return nil, ErrNotFound
	}
	enc, ok := strings.CutPrefix(s, kwPrefix)
	if !ok {
		return nil, fmt.Errorf("item %s in kwallet folder %q was not written by this helper; delete it with kwalletmanager5", key, k.folder)
	}
	data, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("item %s in kwallet folder %q is corrupt: its base64 does not decode", key, k.folder)
	}
	return data, nil
}

func (k *kwallet) Set(ctx context.Context, key string, data []byte, label string) error {
	// KWallet entries have no label: the key is all kwalletmanager5 shows.
	var has bool
	if err := call(ctx, k.obj, kwIface+".hasFolder", k.handle, k.folder, Namespace).Store(&has); err != nil {
		return busError(ctx, "looking for kwallet folder "+k.folder, err)
	}
	if !has {
		if err := call(ctx, k.obj, kwIface+".createFolder", k.handle, k.folder, Namespace).Store(&has); err != nil {
			return busError(ctx, "creating kwallet folder "+k.folder, err)
		}
	}
	var rc int32
	if err := call(ctx, k.obj, kwIface+".writePassword", k.handle, k.folder, key, kwPrefix+base64.StdEncoding.EncodeToString(data), Namespace).Store(&rc); err != nil {
		return busError(ctx, "writing item "+key, err)
	}
	if rc != 0 {
		return k.closedError()
	}
	k.sync()
	return nil
}

func (k *kwallet) Delete(ctx context.Context, key string) error {
	var rc int32
	if err := call(ctx, k.obj, kwIface+".removeEntry", k.handle, k.folder, key, Namespace).Store(&rc); err != nil {
		return busError(ctx, "deleting item "+key, err)
	}
	switch rc {
	case 0:
		k.sync()
		return nil
	case -3: // no such entry
		return nil
	}
	return k.closedError()
}

// Keys lists the entries of our folder: the folder is our namespace.
func (k *kwallet) Keys(ctx context.Context) ([]string, error) {
	var keys []string
	if err := call(ctx, k.obj, kwIface+".entryList", k.handle, k.folder, Namespace).Store(&keys); err != nil {
		return nil, busError(ctx, "listing kwallet folder "+k.folder, err)
	}
	if len(keys) == 0 {
		// An empty folder, or a handle that is no longer valid.
		if err := k.checkOpen(ctx); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// sync asks kwalletd to write the wallet to disk now rather than in a few
// seconds, after this short-lived process has gone. It has no reply.
func (k *kwallet) sync() {
	k.obj.Go(kwIface+".sync", dbus.FlagNoReplyExpected|dbus.FlagNoAutoStart, nil, k.handle, Namespace)
}

// checkOpen tells an empty answer from a wallet closed under us, which
// kwalletd answers the same way. It asks by name: a call with a stale handle
// counts towards kwalletd's "misbehaving application" warning dialog.
func (k *kwallet) checkOpen(ctx context.Context) error {
	var open bool
	if err := call(ctx, k.obj, kwIface+".isOpen", k.wallet).Store(&open); err != nil {
		return busError(ctx, "asking kwalletd about wallet "+k.wallet, err)
	}
	if !open {
		return k.closedError()
	}
	return nil
}

func (k *kwallet) closedError() error {
	return fmt.Errorf("%w: kwallet wallet %q was closed while in use; open it (e.g. in kwalletmanager5), then retry", ErrUnavailable, k.wallet)
}
