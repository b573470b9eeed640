package store

import "context"

// Probe checks that the named backend works here, as Open does, but creates
// nothing and prompts for nothing: for reports such as doctor.
func Probe(ctx context.Context, name string, o Options) error {
	o.Probe = true
	_, err := Open(ctx, name, o)
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
	return b.Name(), reason, nil
}
