package busguard

// keyring's D-Bus backends exist only on Linux.
const guarded = true
