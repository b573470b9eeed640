package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// The Secret Service API: https://specifications.freedesktop.org/secret-service/
const (
	ssName       = "org.freedesktop.secrets"
	ssPath       = dbus.ObjectPath("/org/freedesktop/secrets")
	ssService    = "org.freedesktop.Secret.Service"
	ssCollection = "org.freedesktop.Secret.Collection"
	ssItem       = "org.freedesktop.Secret.Item"
	ssPrompt     = "org.freedesktop.Secret.Prompt"
	ssIsLocked   = "org.freedesktop.Secret.Error.IsLocked"
	ssNone       = dbus.ObjectPath("/") // no prompt needed, no such collection

	// ssSchema names our items for tools that group them by schema, as
	// libsecret does.
	ssSchema = "ai.activeloop.CredentialHelper"
)

func init() { backends["secret-service"] = openSecretService }

// ssSecret is the API's Secret struct, (oayays).
type ssSecret struct {
	Session     dbus.ObjectPath
	Parameters  []byte
	Value       []byte
	ContentType string
}

// secretService keeps items in one collection of the Secret Service
// (gnome-keyring, KeePassXC, kwalletd), found by attributes
// {service: Namespace, key: key}.
type secretService struct {
	conn       *dbus.Conn
	collection dbus.ObjectPath
	name       string          // "the default collection" or `collection "label"`, for messages
	session    dbus.ObjectPath // "plain": the bus is local to the user's session
}

func openSecretService(ctx context.Context, o Options) (Backend, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	conn, err := dialSessionBus(ctx, o)
	if err != nil {
		return nil, err
	}
	s, err := newSecretService(ctx, conn, o.SecretServiceCollection)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// newSecretService checks that the service runs and finds the collection,
// so that a backend that opens is one that works.
func newSecretService(ctx context.Context, conn *dbus.Conn, label string) (*secretService, error) {
	// Every call carries NoAutoStart: a service that is not running fails the
	// first call rather than being D-Bus-activated as a second daemon, one
	// that holds the login keyring locked. Calls go one at a time: under
	// load, gnome-keyring-daemon 42 aborts (SIGTRAP) when a new client's
	// first two calls reach it together, taking every client's keyring with
	// it.
	s := &secretService{conn: conn}
	var err error
	if s.collection, s.name, err = s.findCollection(ctx, label); err != nil {
		return nil, err
	}
	var output dbus.Variant
	if err := call(ctx, s.obj(ssPath), ssService+".OpenSession", "plain", dbus.MakeVariant("")).Store(&output, &s.session); err != nil {
		return nil, ssError(ctx, "opening a Secret Service session", err)
	}
	// A locked collection is unlocked when a call needs it to be (see
	// unlocked): searching and listing do not, and a probe never prompts.
	return s, nil
}

// findCollection returns the collection labelled label, or the one the
// "default" alias names (usually "login") when label is empty.
func (s *secretService) findCollection(ctx context.Context, label string) (dbus.ObjectPath, string, error) {
	if label == "" {
		var path dbus.ObjectPath
		// gnome-keyring answers "/" for a moment while it reloads a keyring
		// file that changed on disk, as it does when other processes write
		// items: ask again a few times before calling the alias missing.
		for try := 0; ; try++ {
			if err := call(ctx, s.obj(ssPath), ssService+".ReadAlias", "default").Store(&path); err != nil {
				return "", "", ssError(ctx, "looking up the default Secret Service collection", err)
			}
			if path != ssNone || try == 10 || ctx.Err() != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if path == ssNone {
			return "", "", fmt.Errorf("%w: the Secret Service has no default collection; create a login keyring (e.g. with Seahorse) or name a collection in the config file", ErrUnavailable)
		}
		return path, "the default collection", nil
	}
	var paths []dbus.ObjectPath
	if err := getProperty(ctx, s.obj(ssPath), ssService, "Collections", &paths); err != nil {
		return "", "", ssError(ctx, "listing Secret Service collections", err)
	}
	var labels []string
	for _, p := range paths {
		var l string
		if err := getProperty(ctx, s.obj(p), ssCollection, "Label", &l); err != nil {
			return "", "", busError(ctx, "reading the label of collection "+string(p), err)
		}
		if l == label {
			return p, fmt.Sprintf("collection %q", label), nil
		}
		if l != "" {
			labels = append(labels, fmt.Sprintf("%q", l))
		}
	}
	return "", "", fmt.Errorf("%w: the Secret Service has no collection labelled %q (it has %s); create it or fix the config file", ErrUnavailable, label, strings.Join(labels, ", "))
}

// ssError is busError, saying plainly when no Secret Service is running.
func ssError(ctx context.Context, what string, err error) error {
	return notRunningError(ctx, what, err, "no Secret Service ("+ssName+") is running on the session bus; start gnome-keyring-daemon, or choose another backend")
}

func (s *secretService) Name() string { return "secret-service" }

// Close ends the connection; the process's exit does the same.
func (s *secretService) Close() error { return s.conn.Close() }

func (s *secretService) obj(p dbus.ObjectPath) dbus.BusObject { return s.conn.Object(ssName, p) }

func itemAttrs(key string) map[string]string {
	return map[string]string{"service": Namespace, "key": key}
}

func (s *secretService) Get(ctx context.Context, key string) ([]byte, error) {
	items, err := s.search(ctx, itemAttrs(key))
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, ErrNotFound
	}
	var sec ssSecret
	err = s.unlocked(ctx, items[0], func() error {
		return call(ctx, s.obj(items[0]), ssItem+".GetSecret", s.session).Store(&sec)
	})
	if err != nil {
		return nil, busError(ctx, "reading item "+key, err)
	}
	return sec.Value, nil
}

func (s *secretService) Set(ctx context.Context, key string, data []byte, label string) error {
	attrs := itemAttrs(key)
	attrs["xdg:schema"] = ssSchema
	props := map[string]dbus.Variant{
		ssItem + ".Label":      dbus.MakeVariant(label),
		ssItem + ".Attributes": dbus.MakeVariant(attrs),
	}
	sec := ssSecret{Session: s.session, Parameters: []byte{}, Value: data, ContentType: "application/octet-stream"}
	var item, prompt dbus.ObjectPath
	err := s.unlocked(ctx, s.collection, func() error {
		return call(ctx, s.obj(s.collection), ssCollection+".CreateItem", props, sec, true).Store(&item, &prompt)
	})
	if err != nil {
		return busError(ctx, "writing item "+key, err)
	}
	if prompt != ssNone {
		// The API allows a prompt here too, when a collection is locked.
		result, err := s.prompt(ctx, prompt)
		if err != nil {
			return err
		}
		if err := result.Store(&item); err != nil {
			return fmt.Errorf("writing item %s: unexpected prompt result %s", key, result.Signature())
		}
	}
	// replace=true replaces only an item with exactly the same attributes;
	// remove any other item under this key, so that Get cannot read a stale one.
	items, err := s.search(ctx, itemAttrs(key))
	if err != nil {
		return err
	}
	for _, it := range items {
		if it != item {
			if err := s.deleteItem(ctx, it); err != nil {
				return fmt.Errorf("removing an older copy of item %s: %w", key, err)
			}
		}
	}
	return nil
}

func (s *secretService) Delete(ctx context.Context, key string) error {
	items, err := s.search(ctx, itemAttrs(key))
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := s.deleteItem(ctx, it); err != nil {
			return fmt.Errorf("deleting item %s: %w", key, err)
		}
	}
	return nil
}

func (s *secretService) deleteItem(ctx context.Context, item dbus.ObjectPath) error {
	var prompt dbus.ObjectPath
	err := s.unlocked(ctx, item, func() error {
		return call(ctx, s.obj(item), ssItem+".Delete").Store(&prompt)
	})
	if err != nil {
		return busError(ctx, "deleting "+string(item), err)
	}
	if prompt != ssNone {
		_, err := s.prompt(ctx, prompt)
		return err
	}
	return nil
}

// Keys lists the keys of the items with our service attribute; the search
// never returns other applications' items, so their attributes are not read.
func (s *secretService) Keys(ctx context.Context) ([]string, error) {
	items, err := s.search(ctx, map[string]string{"service": Namespace})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, it := range items {
		var attrs map[string]string
		if err := getProperty(ctx, s.obj(it), ssItem, "Attributes", &attrs); err != nil {
			return nil, busError(ctx, "reading the attributes of "+string(it), err)
		}
		if k := attrs["key"]; k != "" && attrs["service"] == Namespace && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// search returns the items of our collection that have attrs.
func (s *secretService) search(ctx context.Context, attrs map[string]string) ([]dbus.ObjectPath, error) {
	var items []dbus.ObjectPath
	if err := call(ctx, s.obj(s.collection), ssCollection+".SearchItems", attrs).Store(&items); err != nil {
		return nil, busError(ctx, "searching "+s.name, err)
	}
	return items, nil
}

// unlocked runs fn, and runs it again after unlocking obj if the collection
// is locked: the keyring's password prompt comes only when a secret is read
// or written.
func (s *secretService) unlocked(ctx context.Context, obj dbus.ObjectPath, fn func() error) error {
	err := fn()
	if dbusErrorName(err) != ssIsLocked {
		return err
	}
	if err := s.unlock(ctx, obj); err != nil {
		return err
	}
	return fn()
}

// unlock unlocks obj, showing the keyring's password prompt if it needs one.
func (s *secretService) unlock(ctx context.Context, obj dbus.ObjectPath) error {
	var (
		unlocked []dbus.ObjectPath
		prompt   dbus.ObjectPath
	)
	if err := call(ctx, s.obj(ssPath), ssService+".Unlock", []dbus.ObjectPath{obj}).Store(&unlocked, &prompt); err != nil {
		return busError(ctx, "unlocking "+s.name, err)
	}
	if prompt == ssNone {
		return nil
	}
	_, err := s.prompt(ctx, prompt)
	return err
}

// prompt runs a Secret Service prompt and waits for it to complete. A
// session without a display has no prompter and a person may not be there
// to answer it, so the wait ends at ctx's deadline, as a locked-keyring error.
func (s *secretService) prompt(ctx context.Context, prompt dbus.ObjectPath) (dbus.Variant, error) {
	// Only the service's signals: the bus resolves the name, so that a
	// signal forged by another client never reaches us.
	match := []dbus.MatchOption{
		dbus.WithMatchSender(ssName),
		dbus.WithMatchObjectPath(prompt),
		dbus.WithMatchInterface(ssPrompt),
		dbus.WithMatchMember("Completed"),
	}
	if err := s.conn.AddMatchSignalContext(ctx, match...); err != nil {
		return dbus.Variant{}, busError(ctx, "waiting for the keyring's prompt", err)
	}
	// The rule and the channel go with the connection in any case; removing
	// them keeps a long-lived connection tidy.
	defer s.conn.RemoveMatchSignalContext(ctx, match...)
	ch := make(chan *dbus.Signal, 1)
	s.conn.Signal(ch)
	defer s.conn.RemoveSignal(ch)

	if err := call(ctx, s.obj(prompt), ssPrompt+".Prompt", "").Store(); err != nil {
		return dbus.Variant{}, busError(ctx, "showing the keyring's prompt", err)
	}
	wait, cancel := beforeDeadline(ctx)
	defer cancel()
	for {
		select {
		case sig, ok := <-ch:
			if !ok {
				return dbus.Variant{}, fmt.Errorf("%w: the session bus connection closed while the keyring's prompt was shown", ErrUnavailable)
			}
			if sig.Path != prompt || sig.Name != ssPrompt+".Completed" {
				continue
			}
			var (
				dismissed bool
				result    dbus.Variant
			)
			if err := dbus.Store(sig.Body, &dismissed, &result); err != nil {
				return dbus.Variant{}, fmt.Errorf("the keyring's prompt completed with an unexpected signal (%s): %w", dbus.SignatureOf(sig.Body...), err)
			}
			if dismissed {
				return dbus.Variant{}, s.lockedError(errors.New("the prompt was dismissed"))
			}
			return result, nil
		case <-wait.Done():
			return dbus.Variant{}, s.lockedError(errors.New("nobody answered its password prompt in time"))
		}
	}
}

func (s *secretService) lockedError(err error) error {
	return fmt.Errorf("%w: %s of the Secret Service is locked (%w); unlock it in the desktop's keyring manager (e.g. Seahorse), or without a display pipe its password to gnome-keyring-daemon --replace --unlock, then retry", ErrUnavailable, s.name, err)
}

// getProperty reads one D-Bus property into v.
func getProperty(ctx context.Context, obj dbus.BusObject, iface, name string, v any) error {
	return call(ctx, obj, "org.freedesktop.DBus.Properties.Get", iface, name).Store(v)
}

func dbusErrorName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	return ""
}
