package store

// Hooks of the D-Bus connection for the tests of package store_test.

var (
	DialSessionBus = dialSessionBus
	DialPipelined  = dialPipelined
	ErrSlowPath    = errSlowPath
)
