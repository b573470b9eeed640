//go:build !linux

package busguard

const guarded = false
