package store

import (
	"context"
	"io"
)

// Probe checks that the named backend works here, as Open does, but creates
// nothing and prompts for nothing: for reports such as doctor.
func Probe(ctx context.Context, name string, o Options) error {
	o.Probe = true
	b, err := Open(ctx, name, o)
	closeBackend(b)
	return err
}

// ProbeAuto says which backend auto would choose here, and why, creating
// nothing and prompting for nothing.
func ProbeAuto(ctx context.Context, o Options) (name, reason string, err error) {
	o.Probe = true
	b, reason, err := Auto(ctx, o)
	if err != nil {
		return "", "", err
	}
	closeBackend(b)
	return b.Name(), reason, nil
}

// closeBackend releases what a probed backend holds, such as its session
// bus connection.
func closeBackend(b Backend) {
	if c, ok := b.(io.Closer); ok {
		c.Close()
	}
}
